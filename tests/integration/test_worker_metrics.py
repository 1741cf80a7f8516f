"""``GET /metrics`` of a real worker after the shared pipeline run."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import PipelineRun

pytestmark = pytest.mark.integration


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_what_the_worker_did(pipeline_run: PipelineRun) -> None:
    values = scrape(pipeline_run.worker.web_port)
    health = pipeline_run.worker.health()
    assert health is not None
    assert values[("wearmon_uploads_total", ())] == health["uploads"]
    assert values[("wearmon_samples_total", ())] == health["samples"]
    assert health["samples"] >= sum(pipeline_run.expected_samples.values())
    rejected = {labels: v for (name, labels), v in values.items()
                if name == "wearmon_rejections_total"}
    assert rejected[(("reason", "not_json"), ("scope", "upload"))] == 1
    assert rejected[(("reason", "duplicate_upload"), ("scope", "upload"))] == 3
    assert values[("wearmon_anomalies_total", ())] == health["anomalies"] > 0
    assert values[("wearmon_batch_seconds_count", ())] >= 1
    assert values[("wearmon_influx_write_seconds_count", ())] >= 1
    assert values[("wearmon_influx_retries_total", ())] == 0
    assert values[("wearmon_consumer_lag_messages", ())] == 0  # the last batch caught up
    assert values[("wearmon_cached_patients", ())] >= len(pipeline_run.patients)
    assert values[("wearmon_enrolled_patients", ())] == len(pipeline_run.patients) + 1  # + episode
    assert ("process_resident_memory_bytes", ()) in values
