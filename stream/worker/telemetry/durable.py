"""Make a processed batch durable, in the order that carries the at-least-once guarantee.

After the batch has paged (``worker.paging``), in the background while the next batch is
processed (``in_flight``):

1. format the points (here, where they are written) and write them to InfluxDB, waiting until
   they are durable (the writer waits out outages); when InfluxDB refuses points (400/413/422),
   the messages are halved until the refused ones are found (``sinks.traced``): those get a
   dead-letter record (``sink_refused``), the rest is written;
2. publish the dead-letter records and wait for the broker's acks;
3. only then store the patients' state as it was right after the batch was processed.

The agent then flushes the producer (the state is in its changelog) and saves the offsets. If a
step fails otherwise, nothing after it is stored and the exception propagates: the worker stops
without saving offsets, and the messages are processed again (idempotent points).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from wearmon.stream.core.issues import Issue
from wearmon.stream.core.validation import Rejection
from wearmon.stream.sinks.influx import InfluxRejectedError
from wearmon.stream.sinks.lines import message_lines, pipeline_line, rejection_line
from wearmon.stream.sinks.records import MessagePoints, PipelineHealth
from wearmon.stream.sinks.traced import Writer, write_traced
from wearmon.stream.worker.paging import Saved, Topic, acknowledged
from wearmon.stream.worker.telemetry.batch import BatchOutput

log = logging.getLogger(__name__)


@dataclass
class DurableSinks:
    """Where the rest of a batch goes (``influx`` None: results are not stored in InfluxDB)."""

    influx: Writer | None
    rejected: Topic
    dead_letter_max_bytes: int

    async def publish_dead_letters(self, rejections: Sequence[Rejection]) -> None:
        """Send the dead-letter records; wait until the broker acknowledged each."""
        await acknowledged([await self.rejected.send(
            key=(r.patient_id or "").encode() or None,
            value=orjson.dumps(r.to_record(self.dead_letter_max_bytes)))
            for r in rejections])


def failed_formatting(points: MessagePoints) -> Rejection | None:
    """The dead letter of a message whose points could not be formatted (a bug of ours)."""
    if points.source is None:
        return None
    issue = Issue("$", "internal_error", "its points could not be formatted for InfluxDB; "
                                         "the rest of the batch went on")
    return Rejection((issue,), points.source.value, points.source.received_ms,
                     points.patient_id, points.upload_id)


def formatted(output: BatchOutput) -> list[tuple[MessagePoints, list[str]]]:
    """Each message's lines, formatted for the whole batch at once; should that fail, message
    by message, and a message that cannot be formatted is dead-lettered instead."""
    try:
        return list(zip(output.points, message_lines(output.points), strict=True))
    except Exception:
        log.warning("formatting a batch's points failed; formatting them one by one",
                    exc_info=True)
    groups = []
    for points in output.points:
        try:
            lines = message_lines([points])[0]
            "\n".join(lines).encode()  # text that cannot be encoded fails here, for this one
        except Exception:
            rejection = failed_formatting(points)
            if rejection is not None:
                output.rejections.append(rejection)
                output.counts["rejected"] += 1
                lines = [rejection_line(rejection)]
        groups.append((points, lines))
    return groups


def refused_record(points: MessagePoints, refused: InfluxRejectedError) -> Rejection | None:
    """The dead-letter record of a message whose points InfluxDB refused."""
    if points.source is None:
        return None
    issue = Issue("$", "sink_refused",
                  f"InfluxDB refused this upload's points (HTTP {refused.status}, "
                  f"{refused.kind}); nothing of it is stored there")
    return Rejection((issue,), points.source.value, points.source.received_ms,
                     points.patient_id, points.upload_id)


async def write(output: BatchOutput, influx: Writer, health: PipelineHealth | None = None
                ) -> int:
    """Step 1: the points, with the refused messages turned into dead-letter records."""
    groups = formatted(output)
    if health is not None:
        groups.append((MessagePoints(None), [pipeline_line(health)]))
    points, refused = await write_traced(influx, groups)
    records = []
    for message, error in refused:
        record = refused_record(message, error)
        if record is None:
            log.error("InfluxDB refused the batch's own points (HTTP %s, %s)", error.status,
                      error.kind)
            continue
        records.append(record)
    if records:
        output.rejections.extend(records)
        output.counts["sink_refused"] += len(records)
        try:
            points += await influx.write([rejection_line(r) for r in records])
        except InfluxRejectedError as error:  # the dead letters themselves are on their topic
            log.error("InfluxDB refused the rejected points of %d refused uploads (HTTP %s, %s)",
                      len(records), error.status, error.kind)
    return points


async def make_durable(output: BatchOutput, sinks: DurableSinks, patient_state: Saved,
                       health: PipelineHealth | None = None) -> int:
    """Steps 1–3: write, publish, then store the patients' state; returns the points written."""
    points = 0
    if sinks.influx is not None:
        points = await write(output, sinks.influx, health)
    await sinks.publish_dead_letters(output.rejections)
    patient_state.store()
    return points
