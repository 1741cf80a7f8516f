"""Make a ``BatchOutput`` durable, in the order that carries the at-least-once guarantee.

1. write every line to InfluxDB and wait until it is durable (the writer retries outages);
2. publish dead-letter records, anomalies and alert events, and wait for the broker's acks;
3. only then save the patients' state and alert state to their tables.

If step 1 or 2 fails, nothing is saved and the exception propagates: the worker stops without
committing offsets, and the messages are processed again (idempotent points, same state).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from wearmon.stream.sinks.influx import InfluxRejectedError
from wearmon.stream.worker.batch import BatchOutput

log = logging.getLogger(__name__)


class Writer(Protocol):
    async def write(self, lines: Iterable[str]) -> int: ...


class Topic(Protocol):
    async def send(self, *, key: bytes | None, value: bytes) -> Awaitable[Any]: ...


class Store(Protocol):
    def save(self, patient_ids: Iterable[str]) -> None: ...


@dataclass
class Sinks:
    """Where a batch's output goes (``influx`` None: results are not stored in InfluxDB)."""

    influx: Writer | None
    rejected: Topic
    anomalies: Topic
    alerts: Topic
    dead_letter_max_bytes: int

    async def publish(self, output: BatchOutput) -> None:
        """Send the records and wait until the broker acknowledged every one."""
        pending: list[Awaitable[Any]] = []
        for r in output.rejections:
            record = r.to_record(self.dead_letter_max_bytes)
            pending.append(await self.rejected.send(
                key=(r.patient_id or "").encode() or None, value=orjson.dumps(record)))
        for a in output.anomalies:
            pending.append(await self.anomalies.send(
                key=a["patient_id"].encode(), value=orjson.dumps(a)))
        for e in output.alert_events:
            pending.append(await self.alerts.send(
                key=e.patient.encode(), value=orjson.dumps(e.to_json())))
        for future in pending:
            await future


async def commit(output: BatchOutput, sinks: Sinks, patients: Store, alerts: Store,
                 extra_lines: Sequence[str] = ()) -> int:
    """Write, publish, then save (see the module docstring); returns the points written."""
    points = 0
    if sinks.influx is not None:
        try:
            points = await sinks.influx.write([*output.lines, *extra_lines])
        except InfluxRejectedError as exc:
            log.error("%s", exc)
    await sinks.publish(output)
    patients.save(output.patients)
    alerts.save(output.alert_patients)
    return points
