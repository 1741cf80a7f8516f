"""The sink's Prometheus metrics and readiness (``/metrics``, ``/ready`` on its web server).

======================================== =========================================================
``wearmon_sink_records_total{topic}``     records written (or skipped as unreadable), by kind
``wearmon_sink_points_total``             points InfluxDB took
``wearmon_sink_refused_total``            uploads whose points InfluxDB refused (dead-lettered)
``wearmon_sink_unreadable_total{topic}``  records that could not be read (logged, counted)
``wearmon_sink_lag_records{topic,partition}`` records after the last one committed
``wearmon_sink_lag_seconds``              age of the oldest record being written (0 when idle)
``wearmon_influx_write_seconds``          histogram: one batch's write until durable (retries in)
``wearmon_influx_retries_total``          InfluxDB write attempts that failed and were retried
``wearmon_influx_write_failing{reason}``  1 while writes fail: ``credentials``, ``database``,
                                         ``unreachable`` or ``server``
``wearmon_sink_ready``                    1 when ``/ready`` answers 200, else 0
======================================== =========================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiokafka import TopicPartition
from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wearmon.stream.sinks.decode import Decoded
from wearmon.stream.sinks.influx import CREDENTIALS, InfluxWriter

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RECORDS = Counter("wearmon_sink_records", "Records handled by the sink", ["topic"])
POINTS = Counter("wearmon_sink_points", "Points InfluxDB took")
REFUSED = Counter("wearmon_sink_refused", "Uploads whose points InfluxDB refused")
UNREADABLE = Counter("wearmon_sink_unreadable", "Records the sink could not read", ["topic"])
WRITE_SECONDS = Histogram("wearmon_influx_write_seconds",
                          "One batch's InfluxDB write until durable (retries included)",
                          buckets=SECONDS_BUCKETS)


@dataclass
class SinkState:
    """What ``/ready`` and ``/metrics`` tell about this sink."""

    committed: dict[TopicPartition, int] = field(default_factory=dict)
    lag_checked_s: float = 0.0  # wall clock of the last look at the partitions' ends
    ends: dict[TopicPartition, int] = field(default_factory=dict)
    oldest_pending_ms: int | None = None  # broker time of the oldest record being written
    broker_down_since_s: float | None = None

    def lag(self) -> dict[TopicPartition, int]:
        return {tp: max(0, end - self.committed.get(tp, 0)) for tp, end in self.ends.items()}

    def lag_s(self, now_ms: int) -> float:
        if self.oldest_pending_ms is None:
            return 0.0
        return max(0.0, (now_ms - self.oldest_pending_ms) / 1000)


def handled(records: Sequence[ConsumerRecord[bytes, bytes]], kinds: dict[str, str],
            written: int, decoded: Decoded) -> None:
    for record in records:
        RECORDS.labels(kinds[record.topic]).inc()
    POINTS.inc(written)
    for kind, count in decoded.unreadable.items():
        UNREADABLE.labels(kind).inc(count)


def failing_reason(writer: InfluxWriter) -> str | None:
    """Why writes fail now (None: they do not)."""
    if writer.outage_since is None:
        return None
    status = writer.outage.status if writer.outage is not None else None
    if status in (401, 403):
        return "credentials"
    if status == 404:
        return "database"
    return "server" if status is not None else "unreachable"


def reasons(writer: InfluxWriter, state: SinkState, max_lag_s: float,
            now_s: float | None = None) -> list[str]:
    """Why this sink is not keeping up (empty: ready)."""
    out = []
    if writer.outage_since is not None:
        since_s = time.monotonic() - writer.outage_since
        what = (f"InfluxDB {CREDENTIALS}" if failing_reason(writer) == "credentials"
                else str(writer.outage or "InfluxDB unreachable"))
        out.append(f"{what}; writes failing for {since_s:.0f} s")
    return out + lag_reasons(state, max_lag_s, "WEARMON_SINK_MAX_LAG_S", now_s)


def lag_reasons(state: SinkState, max_lag_s: float, variable: str,
                now_s: float | None = None) -> list[str]:
    """Why a member of a sink's group is behind: its oldest pending record is older than
    ``max_lag_s`` (set by ``variable``), or the broker does not answer.

    >>> lag_reasons(SinkState(oldest_pending_ms=0), 60.0, "WEARMON_SINK_MAX_LAG_S", now_s=90.0)
    ['behind by 90 s (more than WEARMON_SINK_MAX_LAG_S=60)']
    """
    at = time.time() if now_s is None else now_s
    out = []
    lag_s = state.lag_s(int(at * 1000))
    if lag_s > max_lag_s:
        out.append(f"behind by {lag_s:.0f} s (more than {variable}={max_lag_s:g})")
    if state.broker_down_since_s is not None:
        out.append(f"broker unreachable for {at - state.broker_down_since_s:.0f} s")
    return out


def lag_gauges(prefix: str, state: SinkState, ready: bool) -> Iterator[Metric]:
    """``<prefix>_lag_records{topic,partition}``, ``<prefix>_lag_seconds`` and
    ``<prefix>_ready`` of a member of a sink's group."""
    lag = GaugeMetricFamily(f"{prefix}_lag_records", "Records after the last one committed",
                            labels=["topic", "partition"])
    for tp, records in sorted(state.lag().items()):
        lag.add_metric([tp.topic, str(tp.partition)], records)
    yield lag
    yield GaugeMetricFamily(f"{prefix}_lag_seconds", "Age of the oldest record being written "
                            "(0 when idle)", value=state.lag_s(int(time.time() * 1000)))
    yield GaugeMetricFamily(f"{prefix}_ready", "1 when /ready answers 200, else 0",
                            value=1.0 if ready else 0.0)


class SinkCollector(Collector):
    """Gauges read from the sink's state at scrape time."""

    def __init__(self, writer: InfluxWriter, state: SinkState, ready: Callable[[], bool]) -> None:
        self.writer = writer
        self.state = state
        self.ready = ready

    def collect(self) -> Iterator[Metric]:
        yield from lag_gauges("wearmon_sink", self.state, self.ready())
        retries = CounterMetricFamily("wearmon_influx_retries",
                                      "InfluxDB write attempts that failed and were retried")
        retries.add_metric([], self.writer.retries)
        yield retries
        failing = GaugeMetricFamily("wearmon_influx_write_failing", "1 while InfluxDB writes "
                                    "fail, by reason", labels=["reason"])
        reason = failing_reason(self.writer)
        for name in ("credentials", "database", "unreachable", "server"):
            failing.add_metric([name], 1.0 if name == reason else 0.0)
        yield failing
