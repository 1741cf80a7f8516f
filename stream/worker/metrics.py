"""A worker's Prometheus metrics, served as ``GET /metrics`` on its web server.

Counters and histograms are prometheus-client's process-wide metrics (one worker per process),
updated by small helpers that the agents call once per batch, page or result; gauges of the
worker's state (partitions, cached and enrolled patients) are read when Prometheus scrapes.

============================================== ===================================================
``wearmon_uploads_total``                      uploads processed (valid, not duplicates)
``wearmon_samples_total``                      valid samples processed
``wearmon_rejections_total{reason,scope}``     dead-lettered uploads (``scope=upload``) or values
                                               (``scope=values``) by reason
``wearmon_anomalies_total``                    anomaly findings
``wearmon_alert_events_total{action,severity}`` alert lifecycle events of telemetry, care-team
                                               actions and the timer (opened, escalated,
                                               acknowledged, snoozed, resolved, …)
``wearmon_batch_seconds``                      histogram: one batch, from processing to durable
``wearmon_consumer_lag_messages{partition}``   telemetry records after the last one made durable
                                               (the partition's end minus the next durable offset)
``wearmon_partition_last_progress_timestamp_seconds{partition}`` when the partition last
                                               advanced (or began waiting), Unix time
``wearmon_partition_last_event_timestamp_seconds{partition}`` broker time of the last record
                                               handled, Unix time
``wearmon_worker_ready``                       1 when ``/ready`` answers 200, else 0
``wearmon_notifications_total{status}``        delivery results: sent, failed, duplicate, …
``wearmon_cached_patients``                    patients whose state this worker holds in memory
``wearmon_evicted_patients_total``             cached states evicted (memory bound)
``wearmon_enrolled_patients``                  patients in the patients topic
``wearmon_unprocessed_deleted_total``          telemetry records the topic's retention deleted
                                               before this worker processed them
============================================== ===================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wearmon.stream.alerts.lifecycle import AlertEvent
from wearmon.stream.core.validation import Rejection
from wearmon.stream.worker.status import WorkerStatus

if TYPE_CHECKING:
    import faust

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

UPLOADS = Counter("wearmon_uploads", "Uploads processed (valid, not duplicates)")
SAMPLES = Counter("wearmon_samples", "Valid samples processed")
REJECTIONS = Counter("wearmon_rejections", "Dead-lettered uploads or values by reason",
                     ["reason", "scope"])
UNREADABLE = Counter("wearmon_unreadable_records",
                     "Dead-lettered records of the care-team topics, by record and reason",
                     ["record", "reason"])
ANOMALIES = Counter("wearmon_anomalies", "Anomaly findings")
ALERT_EVENTS = Counter("wearmon_alert_events", "Alert lifecycle events", ["action", "severity"])
BATCH_SECONDS = Histogram("wearmon_batch_seconds", "One telemetry batch, processing to durable",
                          buckets=SECONDS_BUCKETS)
NOTIFICATIONS = Counter("wearmon_notifications", "Notification delivery results", ["status"])
UNPROCESSED_DELETED = Counter("wearmon_unprocessed_deleted",
                              "Telemetry records deleted by retention before they were processed")


def observe_batch(counts: Mapping[str, int], rejections: Iterable[Rejection],
                  seconds: float) -> None:
    """Count one durable telemetry batch."""
    UPLOADS.inc(counts.get("uploads", 0))
    SAMPLES.inc(counts.get("samples", 0))
    for rejection in rejections:
        REJECTIONS.labels(rejection.reason, "values" if rejection.partial else "upload").inc()
    ANOMALIES.inc(counts.get("anomalies", 0))
    BATCH_SECONDS.observe(seconds)


def count_alert_events(events: Iterable[AlertEvent]) -> None:
    """Count paged alert events (telemetry, care-team actions and the timer alike)."""
    for event in events:
        ALERT_EVENTS.labels(event.action.value, event.severity.value).inc()


def count_notification(status: str) -> None:
    NOTIFICATIONS.labels(status).inc()


@dataclass(frozen=True, slots=True)
class WorkerGauges:
    """One worker's state as the scrape sees it."""

    cached_patients: int
    evicted_patients: int
    enrolled_patients: int


class StateCollector(Collector):
    """Gauges read from one worker's state at scrape time."""

    def __init__(self, gauges: Callable[[], WorkerGauges], status: WorkerStatus,
                 ready: Callable[[], bool]) -> None:
        self.gauges = gauges
        self.status = status
        self.ready = ready

    def collect(self) -> Iterator[Metric]:
        yield from self.partitions()
        yield GaugeMetricFamily("wearmon_worker_ready", "1 when /ready answers 200, else 0",
                                value=1.0 if self.ready() else 0.0)
        now = self.gauges()
        yield GaugeMetricFamily("wearmon_cached_patients",
                                "Patients whose state this worker holds in memory",
                                value=now.cached_patients)
        evicted = CounterMetricFamily("wearmon_evicted_patients",
                                      "Patients whose cached state was evicted (memory bound)")
        evicted.add_metric([], now.evicted_patients)
        yield evicted
        yield GaugeMetricFamily("wearmon_enrolled_patients", "Patients in the patients topic",
                                value=now.enrolled_patients)


    def partitions(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily("wearmon_consumer_lag_messages",
                                "Telemetry records after the last one made durable",
                                labels=["partition"])
        progress = GaugeMetricFamily("wearmon_partition_last_progress_timestamp_seconds",
                                     "When the partition last advanced (or began waiting)",
                                     labels=["partition"])
        event = GaugeMetricFamily("wearmon_partition_last_event_timestamp_seconds",
                                  "Broker time of the last record handled", labels=["partition"])
        for partition, status in sorted(self.status.partitions.items()):
            label = [str(partition)]
            lag.add_metric(label, status.lag)
            progress.add_metric(label, status.since_s)
            if status.last_event_ms is not None:
                event.add_metric(label, status.last_event_ms / 1000)
        yield from (lag, progress, event)


def exposition(state: CollectorRegistry) -> bytes:
    """The process-wide metrics followed by one worker's state gauges (Prometheus text)."""
    return generate_latest(REGISTRY) + generate_latest(state)


def add_metrics_page(app: faust.App, gauges: Callable[[], WorkerGauges], status: WorkerStatus,
                     ready: Callable[[], bool]) -> None:
    """``GET /metrics`` on the worker's web server."""
    state = CollectorRegistry(auto_describe=True)
    state.register(StateCollector(gauges, status, ready))

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(exposition(state), headers={"Content-Type": CONTENT_TYPE_LATEST})
