"""Make a processed batch durable in Kafka, in the order that carries the at-least-once
guarantee. Nothing here waits for InfluxDB: ``wearmon sink`` writes the points from their topic.

After the batch has paged (``worker.paging``), in the background while the next batch is
processed (``in_flight``):

1. publish the batch's points (``sinks.records``: a few records per partition, on the points
   topic's partition of the same number) and its dead letters, and wait for the broker's acks;
2. only then store the patients' state as it was right after the batch was processed.

The agent then flushes the producer (the state is in its changelog) and saves the offsets. If a
step fails, nothing after it is stored and the exception propagates: the worker stops without
saving offsets, and the messages are processed again (the points are idempotent).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import orjson

from wearmon.stream.sinks.records import PipelineHealth, encode_upload, points_records
from wearmon.stream.worker.paging import Saved, Topic, acknowledged
from wearmon.stream.worker.telemetry.batch import BatchOutput


@dataclass(frozen=True, slots=True)
class DurableTopics:
    points: Topic
    rejected: Topic
    dead_letter_max_bytes: int


async def publish(output: BatchOutput, topics: DurableTopics, health: PipelineHealth | None
                  ) -> int:
    """Step 1; returns how many points records were sent."""
    by_partition: dict[int, list[bytes]] = defaultdict(list)
    for partition, upload in output.uploads:
        by_partition[partition].append(encode_upload(upload))
    if health is not None and not by_partition:
        by_partition[0] = []
    pending = []
    for index, (partition, uploads) in enumerate(sorted(by_partition.items())):
        for value in points_records(uploads, health if index == 0 else None):
            pending.append(await topics.points.send(key=None, value=value, partition=partition))
    records = len(pending)
    pending += [await topics.rejected.send(
        key=(r.patient_id or "").encode() or None,
        value=orjson.dumps(r.to_record(topics.dead_letter_max_bytes)))
        for r in output.rejections]
    await acknowledged(pending)
    return records


async def make_durable(output: BatchOutput, topics: DurableTopics, patient_state: Saved,
                       health: PipelineHealth | None = None) -> None:
    """Steps 1–2: points and dead letters acknowledged, then the patients' state stored."""
    await publish(output, topics, health)
    patient_state.store()
