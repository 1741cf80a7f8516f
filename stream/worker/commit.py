"""Make a ``BatchOutput`` durable, in the order that carries the at-least-once guarantee.

Paging first (``page``), under the worker's lock, for telemetry batches and care-team commands
alike; it never waits for InfluxDB:

1. publish the alert events and the anomaly records and wait for the broker's acks;
2. only then store the alert state, as it was right after the events were made
   (``StateCache.snapshot``), in its table.

Then the rest of a telemetry batch (``commit``), in the background while the next batch is
processed (``worker.in_flight``):

3. write every line to InfluxDB and wait until it is durable (the writer waits out outages);
   when InfluxDB refuses points (400/413/422), split the batch by message until the refused
   messages are found: those get a dead-letter record (``sink_refused``), the rest is written;
4. publish the dead-letter records, and wait for the broker's acks;
5. only then store the patients' state as it was right after the batch was processed.

Alert events have no lines here: their points are written from the alerts topic
(``worker.history``). An alert state stored before its batch's points is safe: if the batch is
processed again, the alerts it opened are open already (once the state's changelog record
reached the broker), and their events are not sent again.

If a step fails otherwise, nothing after it is stored and the exception propagates: the worker
stops without saving offsets, and the messages are processed again (idempotent points).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from wearmon.stream.core.issues import Issue
from wearmon.stream.core.validation import Rejection
from wearmon.stream.sinks.influx import InfluxRejectedError
from wearmon.stream.sinks.lines import rejection_line
from wearmon.stream.worker.batch import BatchOutput, Part

log = logging.getLogger(__name__)


class Writer(Protocol):
    async def write(self, lines: Iterable[str]) -> int: ...


class Topic(Protocol):
    async def send(self, *, key: bytes | None, value: bytes) -> Awaitable[Any]: ...


class Saved(Protocol):
    def store(self) -> None: ...


@dataclass
class Sinks:
    """Where a batch's output goes (``influx`` None: results are not stored in InfluxDB)."""

    influx: Writer | None
    rejected: Topic
    anomalies: Topic
    alerts: Topic
    dead_letter_max_bytes: int

    async def publish_dead_letters(self, output: BatchOutput) -> None:
        """Send the dead-letter records; wait until the broker acknowledged each."""
        await acknowledged([await self.rejected.send(
            key=(r.patient_id or "").encode() or None,
            value=orjson.dumps(r.to_record(self.dead_letter_max_bytes)))
            for r in output.rejections])

    async def publish_alerts_and_anomalies(self, output: BatchOutput) -> None:
        """Send the alert events and the anomaly records; wait until the broker acknowledged
        each."""
        pending = [await self.alerts.send(key=e.patient.encode(), value=orjson.dumps(e.to_json()))
                   for e in output.alert_events]
        pending += [await self.anomalies.send(key=a["patient_id"].encode(), value=orjson.dumps(a))
                    for a in output.anomalies]
        await acknowledged(pending)


async def acknowledged(pending: Iterable[Awaitable[Any]]) -> None:
    for future in pending:
        await future


async def write_parts(writer: Writer, parts: Sequence[Part]
                      ) -> tuple[int, list[tuple[Part, InfluxRejectedError]]]:
    """Write the parts' lines; when InfluxDB refuses, halve until the refused parts are found.

    Returns the points written and the refused parts. Points of a refused batch that InfluxDB
    did take (1.x writes the rest of a partial write) are written again: the same points.
    """
    lines = [line for part in parts for line in part.lines]
    if not lines:
        return 0, []
    try:
        return await writer.write(lines), []
    except InfluxRejectedError as refused:
        if len(parts) == 1:
            return 0, [(parts[0], refused)]
        middle = len(parts) // 2
        first = await write_parts(writer, parts[:middle])
        second = await write_parts(writer, parts[middle:])
        return first[0] + second[0], first[1] + second[1]


def refused_record(part: Part, refused: InfluxRejectedError) -> Rejection | None:
    """The dead-letter record of a message whose points InfluxDB refused."""
    if part.source is None:
        return None
    issue = Issue("$", "sink_refused",
                  f"InfluxDB refused this upload's points (HTTP {refused.status}, "
                  f"{refused.kind}); nothing of it is stored there")
    return Rejection((issue,), part.source.value, part.source.received_ms, part.patient_id,
                     part.upload_id)


async def write(output: BatchOutput, influx: Writer) -> int:
    """Step 1: the points, with the refused messages turned into dead-letter records."""
    points, refused = await write_parts(influx, output.parts)
    records = []
    for part, error in refused:
        record = refused_record(part, error)
        if record is None:
            log.error("InfluxDB refused %d points of the batch itself (HTTP %s, %s)",
                      len(part.lines), error.status, error.kind)
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


async def page(output: BatchOutput, sinks: Sinks, alert_state: Saved) -> None:
    """Steps 1–2: the alert events and anomalies on their topics, then the alert state (under
    the lock)."""
    await sinks.publish_alerts_and_anomalies(output)
    alert_state.store()


async def commit(output: BatchOutput, sinks: Sinks, patient_state: Saved,
                 extra_lines: Sequence[str] = ()) -> int:
    """Steps 3–5: write, publish, then store the patients' state; returns the points
    written."""
    if extra_lines:
        output.part().lines.extend(extra_lines)
    points = 0
    if sinks.influx is not None:
        points = await write(output, sinks.influx)
    await sinks.publish_dead_letters(output)
    patient_state.store()
    return points
