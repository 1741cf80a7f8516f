"""CI's short evaluation: every dataset's command runs end to end on a subset (issue 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.unit.test_evaluation import DATA_DIR
from wearmon.stream.cli import main

KEYS = {
    "synthetic": ("recall", "false_alerts_per_patient_day", "median_latency_s", "per_event_type"),
    "normal": ("alerts_per_patient_day", "subgroups", "stream_policy"),
    "stanford": ("events", "detected", "sensitivity", "median_lead_days",
                 "false_alert_days_per_30d", "subgroups"),
}


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["synthetic", pytest.param("normal", marks=pytest.mark.data),
                                     pytest.param("stanford", marks=pytest.mark.data)])
def test_evaluate_subset_runs_and_reports(dataset: str, tmp_path: Path) -> None:
    if dataset != "synthetic" and not DATA_DIR.exists():
        pytest.skip(f"datasets not found under {DATA_DIR}")
    metrics = tmp_path / "m.json"
    result = CliRunner().invoke(main, [
        "evaluate", "--dataset", dataset, "--data-dir", str(DATA_DIR), "--out",
        str(tmp_path / "out"), "--json", str(metrics), "--max-patients", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    doc = json.loads(metrics.read_text())
    for key in KEYS[dataset]:
        assert key in doc, key
    assert doc["state_bytes_max"] <= 16 * 1024
    assert (tmp_path / "out" / "report.html").exists()
    if dataset == "synthetic":
        assert doc["recall"] >= 0.9
