"""The worker's metric helpers (pure updates of prometheus-client metrics)."""

from __future__ import annotations

from collections import Counter

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from wearmon.models.base import Severity
from wearmon.stream.alerts.lifecycle import Action, AlertEvent, AlertState, Category
from wearmon.stream.core.validation import Issue, Rejection
from wearmon.stream.worker.metrics import (
    StateCollector,
    WorkerGauges,
    count_alert_events,
    count_notification,
    observe_batch,
)
from wearmon.stream.worker.status import WorkerStatus


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_observe_batch_counts_uploads_samples_and_rejections() -> None:
    before = {name: value(name) for name in ("wearmon_uploads_total", "wearmon_samples_total",
                                             "wearmon_batch_seconds_count")}
    bad = value("wearmon_rejections_total", reason="out_of_range", scope="values")
    rejection = Rejection((Issue("samples[0].hr_bpm", "out_of_range", "x"),), b"{}", 0,
                          partial=True)
    observe_batch(Counter(uploads=3, samples=180), [rejection], 0.2)
    assert value("wearmon_uploads_total") == before["wearmon_uploads_total"] + 3
    assert value("wearmon_samples_total") == before["wearmon_samples_total"] + 180
    assert value("wearmon_batch_seconds_count") == before["wearmon_batch_seconds_count"] + 1
    assert value("wearmon_rejections_total", reason="out_of_range", scope="values") == bad + 1


def test_alert_events_are_counted_by_action_and_severity() -> None:
    labels = {"action": "snoozed", "severity": "critical"}
    before = value("wearmon_alert_events_total", **labels)
    event = AlertEvent("p-1:bradycardia:0", "p-1", "bradycardia", Severity.CRITICAL,
                       AlertState.SNOOZED, 1_000, "nurse.jo", "", 1, Action.SNOOZED,
                       Category.CLINICAL)
    count_alert_events([event, event])
    assert value("wearmon_alert_events_total", **labels) == before + 2


def test_lag_and_progress_per_partition_come_from_the_partitions_end() -> None:
    status = WorkerStatus(directory_ready=True)
    status.assigned({0: 100, 1: 7}, now_s=10.0)
    status.ends({0: 130, 1: 7}, now_s=11.0)
    status.handled(Counter(uploads=5), {0: 110}, {0: 1_750_000_000_000}, now_s=12.0)
    registry = CollectorRegistry()
    registry.register(StateCollector(lambda: WorkerGauges(0, 0, 0), status, lambda: True))
    text = generate_latest(registry).decode()
    assert 'wearmon_consumer_lag_messages{partition="0"} 20.0' in text
    assert 'wearmon_consumer_lag_messages{partition="1"} 0.0' in text
    assert 'wearmon_partition_last_progress_timestamp_seconds{partition="0"} 12.0' in text
    assert 'wearmon_partition_last_event_timestamp_seconds{partition="0"} 1.75e+09' in text
    assert "wearmon_worker_ready 1.0" in text


def test_notification_results_by_status() -> None:
    before = value("wearmon_notifications_total", status="failed")
    count_notification("failed")
    assert value("wearmon_notifications_total", status="failed") == before + 1
