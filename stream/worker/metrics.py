"""A worker's Prometheus metrics, served as ``GET /metrics`` on its web server.

Counters and histograms are prometheus-client's process-wide metrics (one worker per process),
updated by small helpers that the agents call once per batch or result; gauges of the worker's
state (cached and enrolled patients, InfluxDB retries) are read when Prometheus scrapes.

======================================== =========================================================
``wearmon_uploads_total``                uploads processed (valid, not duplicates)
``wearmon_samples_total``                valid samples processed
``wearmon_rejections_total{reason,scope}`` dead-lettered uploads (``scope=upload``) or values
                                         (``scope=values``) by reason (``duplicate_upload``, …)
``wearmon_anomalies_total``              anomaly findings
``wearmon_alert_events_total``           alert lifecycle events
``wearmon_batch_seconds``                histogram: one batch, from processing to commit
``wearmon_consumer_lag_messages``        messages behind the end of the partitions of the last batch
``wearmon_influx_write_seconds``         histogram: one InfluxDB write until durable (retries in)
``wearmon_influx_retries_total``         InfluxDB write attempts that failed and were retried
``wearmon_notifications_total{status}``  delivery results: sent, failed, duplicate, …
``wearmon_cached_patients``              patients whose state this worker holds in memory
``wearmon_evicted_patients_total``       cached states evicted (``WEARMON_MAX_CACHED_PATIENTS``)
``wearmon_enrolled_patients``            patients in the patients topic
``wearmon_unprocessed_deleted_total``    telemetry records the topic's retention deleted before
                                         this worker processed them (data lost upstream of it)
======================================== =========================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wearmon.stream.sinks.influx import InfluxWriter
from wearmon.stream.worker.telemetry.batch import BatchOutput

if TYPE_CHECKING:
    import faust

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

UPLOADS = Counter("wearmon_uploads", "Uploads processed (valid, not duplicates)")
SAMPLES = Counter("wearmon_samples", "Valid samples processed")
REJECTIONS = Counter("wearmon_rejections", "Dead-lettered uploads or values by reason",
                     ["reason", "scope"])
ANOMALIES = Counter("wearmon_anomalies", "Anomaly findings")
ALERT_EVENTS = Counter("wearmon_alert_events", "Alert lifecycle events")
BATCH_SECONDS = Histogram("wearmon_batch_seconds", "One telemetry batch, processing to commit",
                          buckets=SECONDS_BUCKETS)
LAG = Gauge("wearmon_consumer_lag_messages",
            "Messages behind the end of the partitions of the last batch")
INFLUX_WRITE_SECONDS = Histogram("wearmon_influx_write_seconds",
                                 "One InfluxDB write until durable (retries included)",
                                 buckets=SECONDS_BUCKETS)
NOTIFICATIONS = Counter("wearmon_notifications", "Notification delivery results", ["status"])
UNPROCESSED_DELETED = Counter("wearmon_unprocessed_deleted",
                              "Telemetry records deleted by retention before they were processed")


def observe_batch(output: BatchOutput, seconds: float, lag_messages: int | None) -> None:
    """Count one committed telemetry batch."""
    UPLOADS.inc(output.counts["uploads"])
    SAMPLES.inc(output.counts["samples"])
    for rejection in output.rejections:
        REJECTIONS.labels(rejection.reason, "values" if rejection.partial else "upload").inc()
    ANOMALIES.inc(len(output.page.anomalies))
    ALERT_EVENTS.inc(len(output.page.alert_events))
    BATCH_SECONDS.observe(seconds)
    if lag_messages is not None:
        LAG.set(lag_messages)


def count_notification(status: str) -> None:
    NOTIFICATIONS.labels(status).inc()


class TimedWriter:
    """An InfluxDB writer whose every write is timed into ``wearmon_influx_write_seconds``."""

    def __init__(self, inner: InfluxWriter) -> None:
        self.inner = inner

    async def write(self, lines: Iterable[str]) -> int:
        started_s = time.perf_counter()
        try:
            return await self.inner.write(lines)
        finally:
            INFLUX_WRITE_SECONDS.observe(time.perf_counter() - started_s)


@dataclass(frozen=True, slots=True)
class WorkerGauges:
    """One worker's state as the scrape sees it."""

    influx_retries: int
    cached_patients: int
    evicted_patients: int
    enrolled_patients: int


class StateCollector(Collector):
    """Gauges read from one worker's state at scrape time."""

    def __init__(self, gauges: Callable[[], WorkerGauges]) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        now = self.gauges()
        retries = CounterMetricFamily("wearmon_influx_retries",
                                      "InfluxDB write attempts that failed and were retried")
        retries.add_metric([], now.influx_retries)
        yield retries
        yield GaugeMetricFamily("wearmon_cached_patients",
                                "Patients whose state this worker holds in memory",
                                value=now.cached_patients)
        evicted = CounterMetricFamily("wearmon_evicted_patients",
                                      "Patients whose cached state was evicted (memory bound)")
        evicted.add_metric([], now.evicted_patients)
        yield evicted
        yield GaugeMetricFamily("wearmon_enrolled_patients", "Patients in the patients topic",
                                value=now.enrolled_patients)


def exposition(state: CollectorRegistry) -> bytes:
    """The process-wide metrics followed by one worker's state gauges (Prometheus text)."""
    return generate_latest(REGISTRY) + generate_latest(state)


def add_metrics_page(app: faust.App, gauges: Callable[[], WorkerGauges]) -> None:
    """``GET /metrics`` on the worker's web server."""
    state = CollectorRegistry(auto_describe=True)
    state.register(StateCollector(gauges))

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(exposition(state), headers={"Content-Type": CONTENT_TYPE_LATEST})
