"""Simulator -> real Kafka-protocol broker -> real worker -> real InfluxDB."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import influx_query
from tests.integration.conftest import PipelineRun

pytestmark = pytest.mark.integration
MINUTE_MS = 60_000
DETECTED_KINDS = {
    "tachycardia_at_rest": {"tachycardia_at_rest", "high_hr_for_patient"},
    "bradycardia": {"bradycardia", "low_hr_for_patient"},
    "desaturation": {"desaturation"},
}


def _counts(run: PipelineRun, query: str) -> dict[str, int]:
    series = influx_query(run.influx_url, run.influx_db, query)
    return {s["tags"]["patient"]: int(s["values"][0][1]) for s in series}  # type: ignore[index]


def test_every_valid_sample_is_stored_exactly_once(pipeline_run: PipelineRun) -> None:
    stored = _counts(pipeline_run, "SELECT count(steps) FROM vitals GROUP BY patient")
    for patient, expected in pipeline_run.expected_samples.items():
        assert stored.get(patient) == expected, patient


def test_quality_point_per_upload_and_rollups(pipeline_run: PipelineRun) -> None:
    quality = _counts(pipeline_run, "SELECT count(samples) FROM quality GROUP BY patient")
    for patient, uploads in pipeline_run.expected_uploads.items():
        assert quality.get(patient) == uploads, patient
    rollups = _counts(pipeline_run, "SELECT count(hr_mean_bpm) FROM rollup_1m GROUP BY patient")
    for patient in pipeline_run.patients:
        assert rollups.get(patient, 0) > 100  # 3 h of data, minus off-wrist and offline time


def test_injected_clinical_events_produce_anomalies(pipeline_run: PipelineRun) -> None:
    labels = pipeline_run.clinical_labels
    assert labels, "the simulation must inject clinical events"
    series = influx_query(
        pipeline_run.influx_url,
        pipeline_run.influx_db,
        "SELECT score, kind FROM anomaly GROUP BY patient",
    )
    found = {
        (s["tags"]["patient"], row[2], row[0])  # type: ignore[index]
        for s in series
        for row in s["values"]
    }  # type: ignore[union-attr]
    missed = [
        lab
        for lab in labels
        if not any(
            p == lab.patient_id
            and kind in DETECTED_KINDS[lab.kind]
            and lab.start_ms <= t <= lab.end_ms + 2 * MINUTE_MS
            for p, kind, t in found
        )
    ]
    assert not missed


def test_bad_input_goes_to_dead_letter_with_reasons(pipeline_run: PipelineRun) -> None:
    by_reason = {}
    for record in pipeline_run.rejections:
        reasons = {issue["reason"] for issue in record["issues"]}  # type: ignore[attr-defined]
        for reason in reasons:
            by_reason.setdefault(reason, record)
    for reason, original in pipeline_run.bad_messages.items():
        assert reason in by_reason, f"no dead-letter record for {reason}"
        record = by_reason[reason]
        assert record["field"], record
        kept = base64.b64decode(record["original_b64"])  # type: ignore[arg-type]
        assert original.startswith(kept) and kept
    assert sum("duplicate_upload" in str(r["reason"]) for r in pipeline_run.rejections) == 3


def test_partially_bad_uploads_keep_their_good_values(pipeline_run: PipelineRun) -> None:
    stored = _counts(pipeline_run, "SELECT count(steps) FROM vitals GROUP BY patient")
    assert stored.get("test-nan-01") == 1  # the sample is kept, without the NaN heart rate
    hr = _counts(pipeline_run, "SELECT count(hr_bpm) FROM vitals GROUP BY patient")
    assert "test-nan-01" not in hr and "test-range-01" not in hr
    future = _counts(pipeline_run, "SELECT count(hr_bpm) FROM vitals GROUP BY patient")
    assert future.get("test-future-01") == 1


def test_pipeline_health_and_anomalies_topic(pipeline_run: PipelineRun) -> None:
    assert pipeline_run.anomalies and pipeline_run.anomalies[0]["explanation"]
    series = influx_query(
        pipeline_run.influx_url,
        pipeline_run.influx_db,
        "SELECT sum(uploads), sum(samples) FROM pipeline",
    )
    uploads = int(series[0]["values"][0][1])  # type: ignore[index]
    assert uploads == pipeline_run.health["uploads"]


def test_patients_with_open_clinical_alerts_have_alert_status(pipeline_run: PipelineRun) -> None:
    with_events = {lab.patient_id for lab in pipeline_run.clinical_labels}
    shown = _counts(pipeline_run, "SELECT count(status_code) FROM quality "
                                  "WHERE status_code = 2 GROUP BY patient")
    assert with_events and with_events <= set(shown)
