"""The worker's metric helpers (pure updates of prometheus-client metrics)."""

from __future__ import annotations

from collections import Counter

from prometheus_client import REGISTRY

from wearmon.stream.core.validation import Issue, Rejection
from wearmon.stream.worker.metrics import count_notification, observe_batch
from wearmon.stream.worker.telemetry.batch import BatchOutput


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_observe_batch_counts_uploads_samples_rejections_and_lag() -> None:
    before = {name: value(name) for name in ("wearmon_uploads_total", "wearmon_samples_total",
                                             "wearmon_batch_seconds_count")}
    bad = value("wearmon_rejections_total", reason="out_of_range", scope="values")
    output = BatchOutput(counts=Counter(uploads=3, samples=180))
    output.rejections.append(Rejection((Issue("samples[0].hr_bpm", "out_of_range", "x"),),
                                       b"{}", 0, partial=True))
    observe_batch(output, 0.2, lag_messages=17)
    assert value("wearmon_uploads_total") == before["wearmon_uploads_total"] + 3
    assert value("wearmon_samples_total") == before["wearmon_samples_total"] + 180
    assert value("wearmon_batch_seconds_count") == before["wearmon_batch_seconds_count"] + 1
    assert value("wearmon_rejections_total", reason="out_of_range", scope="values") == bad + 1
    assert value("wearmon_consumer_lag_messages") == 17


def test_notification_results_by_status() -> None:
    before = value("wearmon_notifications_total", status="failed")
    count_notification("failed")
    assert value("wearmon_notifications_total", status="failed") == before + 1
