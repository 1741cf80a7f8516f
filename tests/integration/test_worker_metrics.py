"""``GET /metrics`` of a real worker and of its sink after the shared pipeline run."""

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
    for partition in ("0", "1"):  # the partitions' ends, not the last batch: nothing waits
        assert values[("wearmon_consumer_lag_messages", (("partition", partition),))] == 0
        assert values[("wearmon_partition_last_progress_timestamp_seconds",
                       (("partition", partition),))] > 1.7e9
    assert values[("wearmon_worker_ready", ())] == 1
    opened = {labels: v for (name, labels), v in values.items()
              if name == "wearmon_alert_events_total"}
    assert opened[(("action", "opened"), ("severity", "critical"))] >= 1, opened
    assert not any(name.startswith("wearmon_influx") for name, _ in values)  # the sink's now
    assert values[("wearmon_cached_patients", ())] >= len(pipeline_run.patients)
    assert values[("wearmon_enrolled_patients", ())] == len(pipeline_run.patients) + 1  # + episode
    assert ("process_resident_memory_bytes", ()) in values


def test_the_sink_counts_what_it_wrote(pipeline_run: PipelineRun) -> None:
    values = scrape(int(pipeline_run.worker.env["WEARMON_SINK_PORT"]))
    assert values[("wearmon_sink_points_total", ())] > sum(pipeline_run.expected_samples.values())
    assert values[("wearmon_influx_write_seconds_count", ())] >= 1
    assert ("wearmon_influx_retries_total", ()) in values  # a busy machine may retry once
    assert {labels: v for (name, labels), v in values.items()  # but nothing fails now
            if name == "wearmon_influx_write_failing"} == {
        (("reason", reason),): 0.0 for reason in ("credentials", "database", "unreachable",
                                                  "server")}
    assert values[("wearmon_sink_ready", ())] == 1
    assert values[("wearmon_sink_lag_seconds", ())] == 0
    lag = [v for (name, _), v in values.items() if name == "wearmon_sink_lag_records"]
    assert len(lag) == 8 and sum(lag) == 0  # 4 topics × 2 partitions, all written
    kinds = {labels[0][1] for (name, labels), v in values.items()
             if name == "wearmon_sink_records_total" and v > 0}
    assert kinds == {"points", "rejected", "alerts", "deliveries"}
