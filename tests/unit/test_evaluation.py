"""``wearmon evaluate``: metrics on constructed cases, and a short real run (data permitting)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from wearmon.models.base import Finding, Severity
from wearmon.stream.core.schema import Columns, Sample
from wearmon.stream.evaluation import metrics
from wearmon.stream.evaluation.cli import add_evaluate_command
from wearmon.stream.evaluation.patient_run import (
    DAY_MS,
    Alert,
    PatientRun,
    alerts_of,
    replay_patient,
)

DATA_DIR = Path(os.environ.get("WEARMON_DATA_DIR", Path(__file__).parents[3] / "shared" / "data"))


def _cli() -> click.Group:
    @click.group()
    def group() -> None:
        pass

    add_evaluate_command(group)
    return group


def test_alerts_group_per_detector_and_kind() -> None:
    f = [
        Finding("a", 0, Severity.WARNING, 1, 1, None, "x", kind="k"),
        Finding("b", 1_000, Severity.CRITICAL, 1, 1, None, "y", kind="k"),
        Finding("a", 2_000, Severity.INFO, 1, 1, None, "z", kind="k"),
        Finding("a", 3_000, Severity.CRITICAL, 1, 1, None, "x", kind="k"),
    ]
    alerts = alerts_of(f)
    assert [(a.detector, a.findings, a.severity) for a in alerts] == [
        ("a", 2, "critical"),
        ("b", 1, "critical"),
    ]


def test_stanford_false_alert_days_exclude_illness_windows() -> None:
    run = PatientRun("u")
    run.worn_days.update(range(100))
    alerts = [
        Alert("slow_deviation", "k", "warning", d * DAY_MS, d * DAY_MS, 1, "")
        for d in (10, 40, 45, 80)
    ]
    row = metrics.stanford_user(
        run,
        alerts,
        [metrics.Onset("u", 44 * DAY_MS)],
        [metrics.Window("u", 30 * DAY_MS, 65 * DAY_MS)],
    )
    assert row["detected"] == 1 and row["lead_days"] == [4.0]
    assert row["false_alert_days"] == 2
    assert row["monitored_days_outside"] == 65
    summary = metrics.stanford_summary([row])
    assert summary["sensitivity"] == 1.0
    assert summary["false_alert_days_per_30d"] == round(60 / 65, 4)


def test_afdb_episode_sensitivity_counts_only_long_episodes() -> None:
    run = PatientRun("r")
    run.rhythm.t_ms = list(range(0, 200_000, 5_000))
    run.rhythm.span_ms = [5_000] * 40
    run.rhythm.irregular = [100_000 <= t < 190_000 for t in run.rhythm.t_ms]
    row = metrics.afdb_record(run, [(10_000, 40_000), (90_000, 200_000)])
    assert row["af_episodes_1min"] == 1 and row["af_episodes_detected"] == 1
    assert row["delays_s"] == [10.0]
    s = metrics.afdb_summary([row])
    assert set(s) >= {
        "sensitivity",
        "specificity",
        "episode_sensitivity",
        "median_detection_delay_s",
    }


def test_replay_has_no_look_ahead() -> None:
    """Findings up to time t do not change when later samples are appended."""
    base = [Sample(t_ms=i * 5_000, hr_bpm=60 + (i % 5), steps=0) for i in range(2_000)]
    later = [Sample(t_ms=(2_000 + i) * 5_000, hr_bpm=150, steps=0) for i in range(200)]
    short = replay_patient("p-0001", Columns.from_samples(base))
    long = replay_patient("p-0001", Columns.from_samples(base + later))
    cut = base[-1].t_ms
    assert [f for f in long.findings if f.t_ms <= cut] == short.findings
    assert any(f.t_ms > cut for f in long.findings)


@pytest.mark.data
def test_evaluate_afdb_writes_metrics_and_report(tmp_path: Path) -> None:
    if not (DATA_DIR / "afdb-rr").exists():
        pytest.skip(f"AFDB data not found under {DATA_DIR}")
    out = tmp_path / "afdb"
    result = CliRunner().invoke(
        _cli(),
        [
            "evaluate",
            "--dataset",
            "afdb",
            "--data-dir",
            str(DATA_DIR),
            "--out",
            str(out),
            "--json",
            str(tmp_path / "m.json"),
            "--max-patients",
            "1",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "m.json").read_text())
    for key in (
        "sensitivity",
        "specificity",
        "episode_sensitivity",
        "median_detection_delay_s",
        "subgroups",
    ):
        assert key in doc
    assert doc["state_bytes_max"] <= 16 * 1024
    html = (out / "report.html").read_text()
    assert "<img src='plots/" in html
    assert any((out / "plots").glob("*.png"))
