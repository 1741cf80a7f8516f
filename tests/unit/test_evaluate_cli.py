"""CI's short evaluation: every dataset's command runs end to end on a subset, with the anchors.

Each run must name its protocol and carry the issue's keys; with ``--baselines`` the published
rules are reported next to Wearmon with the same keys. Without the data folder these tests fail
in CI (``tests.unit.datadir.require``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.unit.datadir import DATA_DIR, require
from wearmon.stream.cli import main
from wearmon.stream.evaluation.report import HEADLINE

ILLNESS_KEYS = ("events", "detected", "sensitivity", "median_lead_days",
                "false_alert_days_per_30d", "chance_sensitivity")
KEYS = {
    "synthetic": ("recall", "false_alerts_per_patient_day", "median_latency_s", "per_event_type"),
    "normal": ("alerts_per_patient_day", "subgroups", "stream_policy"),
    "stanford": (*ILLNESS_KEYS, "subgroups", "operating_curve", "sensitivity_at", "area",
                 "false_alert_days_per_30d_by_kind", "river_candidates"),
    "covid-daily": (*ILLNESS_KEYS, "activity", "shipped_settings", "operating_curve",
                    "sensitivity_at", "area", "river_candidates"),
    "afdb": ("sensitivity", "specificity", "episode_sensitivity", "shipped_settings"),
    "nsr": ("records", "hours", "af_alerts", "af_alerts_per_24h", "time_specificity"),
}
ANCHORS = {
    "stanford": ("nightsignal", "rhr_cusum"),
    "covid-daily": ("nightsignal", "rhr_cusum"),
    "afdb": ("nrmssd_rule",),
    "nsr": ("nrmssd_rule",),
}
PROTOCOL = {  # with two patients: fitted settings are chosen on the other one
    "synthetic": "fixed-defaults",
    "normal": "fixed-defaults",
    "stanford": "fixed-defaults",
    "covid-daily": "leave-one-patient-out",
    "afdb": "leave-one-patient-out",
    "nsr": "fixed-defaults",
}


@pytest.mark.slow
@pytest.mark.parametrize("dataset", [
    "synthetic",
    *(pytest.param(d, marks=pytest.mark.data)
      for d in ("normal", "stanford", "covid-daily", "afdb", "nsr")),
])
def test_evaluate_subset_runs_and_reports(dataset: str, tmp_path: Path) -> None:
    if dataset != "synthetic":
        require(DATA_DIR)
    metrics = tmp_path / "m.json"
    result = CliRunner().invoke(main, [
        "evaluate", "--dataset", dataset, "--data-dir", str(DATA_DIR), "--out",
        str(tmp_path / "out"), "--json", str(metrics), "--max-patients", "2", "--baselines",
        "--no-progress"])
    assert result.exit_code == 0, result.output
    doc = json.loads(metrics.read_text())
    for key in KEYS[dataset]:
        assert key in doc, key
    assert doc["protocol"] == PROTOCOL[dataset]
    for name in ANCHORS.get(dataset, ()):
        for key in HEADLINE[dataset]:
            assert key in doc["baselines"][name], (name, key)
    assert doc["state_bytes_max"] <= 16 * 1024
    assert doc["verdict"] and all(set(r) >= {"figure", "wearmon", "target", "met"}
                                  for r in doc["verdict"])
    report = (tmp_path / "out" / "report.html").read_text()
    assert "<table id='verdict'>" in report and "protocol" in report.lower()
    if dataset in ("stanford", "covid-daily"):
        assert set(doc["sensitivity_at"]) == {"0.5", "1.0"}
        for name in ANCHORS[dataset]:
            assert {"operating_curve", "sensitivity_at", "area"} <= set(doc["baselines"][name])
        assert "NightSignal" in report and "CuSum" in report
        assert "plots/operating_curves.png" in report
    if dataset == "synthetic":
        assert doc["recall"] >= 0.9
