"""The alert history in InfluxDB, written from the topics: paging never waits for InfluxDB.

Alert events (``WEARMON_TOPIC_ALERTS``) become ``alert`` points, and ``alert_audit`` points for
what a person did; delivery results (``WEARMON_TOPIC_DELIVERIES``) become ``notification``
points. The agents that open, escalate and acknowledge alerts and deliver messages only publish
to Kafka, so an InfluxDB outage does not hold up a page or an escalation: these two agents wait
it out instead (retrying), and Faust commits their offsets after the write, so nothing is lost.
The points are idempotent (time from the event, step in the nanoseconds): a record read again
writes the same point.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import faust
import orjson

from wearmon.stream.alerts.lifecycle import AlertEvent
from wearmon.stream.notify.deliver import DeliveryResult
from wearmon.stream.sinks.influx import InfluxRejectedError
from wearmon.stream.sinks.lines import alert_event_lines, notification_line
from wearmon.stream.worker.connections import Connections
from wearmon.stream.worker.faust_io import fail_stop

log = logging.getLogger(__name__)

BATCH_RECORDS = 500
BATCH_WITHIN_S = 0.5


def alert_lines(raw: bytes) -> list[str]:
    """The ``alert`` point of one alert event, and its ``alert_audit`` point if a person acted."""
    return alert_event_lines(AlertEvent.from_json(orjson.loads(raw)))


def delivery_lines(raw: bytes) -> list[str]:
    """The ``notification`` point of one delivery result."""
    return [notification_line(DeliveryResult.from_json(orjson.loads(raw)))]


def lines_of(records: Sequence[bytes], to_lines: Callable[[bytes], list[str]], what: str
             ) -> list[str]:
    """Every record's points; a record that cannot be read is logged (content-free), not kept.

    >>> lines_of([b"{}", b"not json"], delivery_lines, "delivery result")
    []
    """
    lines: list[str] = []
    for raw in records:
        try:
            lines += to_lines(raw)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("%s not written to InfluxDB: unreadable (%s)", what, type(exc).__name__)
    return lines


@dataclass
class History:
    connections: Connections

    async def write(self, records: Sequence[bytes], to_lines: Callable[[bytes], list[str]],
                    what: str) -> None:
        """Write a batch of records' points (waiting out outages); refused points are logged."""
        await self.connections.ready()
        influx = self.connections.influx
        lines = lines_of(records, to_lines, what)
        if influx is None or not lines:
            return
        try:
            await influx.write(lines)
        except InfluxRejectedError as exc:
            log.error("InfluxDB refused %d %s points (HTTP %s, %s)", len(lines), what,
                      exc.status, exc.kind)


def add_history_agents(app: faust.App, alerts: Any, deliveries: Any, history: History) -> None:
    """Alert events and delivery results → InfluxDB."""

    async def record(stream: faust.StreamT[bytes], to_lines: Callable[[bytes], list[str]],
                     what: str) -> None:
        async for values in stream.take(BATCH_RECORDS, within=BATCH_WITHIN_S):
            try:
                await history.write(values, to_lines, what)
            except Exception:
                fail_stop(f"writing {what} points")

    @app.agent(alerts, name="alert-history")
    async def alert_history(stream: faust.StreamT[bytes]) -> None:
        await record(stream, alert_lines, "alert event")

    @app.agent(deliveries, name="delivery-history")
    async def delivery_history(stream: faust.StreamT[bytes]) -> None:
        await record(stream, delivery_lines, "delivery result")
