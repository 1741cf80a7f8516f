"""``wearmon evaluate``: metrics, protocol and anchors on constructed cases; short real runs."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from tests.unit.datadir import DATA_DIR, require
from wearmon.models.base import Day, Finding, Severity
from wearmon.stream import datasets
from wearmon.stream.core.features import PatientFeatures
from wearmon.stream.core.pipeline import utc_offset_ms
from wearmon.stream.core.schema import Columns, Sample
from wearmon.stream.evaluation import anchors, metrics, protocol, rhythm_metrics
from wearmon.stream.evaluation.cli import add_evaluate_command
from wearmon.stream.evaluation.runs.illness_run import STANFORD_TIMEZONE, daily_values
from wearmon.stream.evaluation.runs.patient_run import (
    DAY_MS,
    Alert,
    PatientRun,
    alerts_of,
    replay_patient,
)
from wearmon.stream.evaluation.runs.rhythm_run import decision_alerts


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
    t = np.arange(0, 200_000, 5_000)
    irregular = (t >= 100_000) & (t < 190_000)
    counts = rhythm_metrics.rhythm_counts(t, np.full(40, 5_000), irregular,
                                          [(10_000, 40_000), (90_000, 200_000)])
    row = rhythm_metrics.afdb_record("r", counts)
    assert row["af_episodes_1min"] == 1 and row["af_episodes_detected"] == 1
    assert row["delays_s"] == [10.0]
    assert row["tp_s"] == 90.0 and row["fn_s"] == 30.0 + 20.0 and row["fp_s"] == 0.0
    s = rhythm_metrics.afdb_summary([row])
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


def test_chance_sensitivity_grows_with_the_alert_rate() -> None:
    low = metrics.chance_sensitivity(1, 300, [11] * 10)
    high = metrics.chance_sensitivity(10, 300, [11] * 10)
    assert low is not None and high is not None and 0 < low < high < 1
    assert metrics.chance_sensitivity(0, 300, [11]) == 0.0
    assert metrics.chance_sensitivity(3, 0, [11]) is None


def test_covid_daily_scoring_windows() -> None:
    days = list(range(-60, 60))
    onset = metrics.daily_person("a", days, [-20, -10, 3, 4, 30], covers_onset=True)
    assert onset["detected"] == 1 and onset["lead_days"] == [-3]  # day +3 counts, +4 does not
    assert onset["false_alert_days"] == 2  # day -20 and day +30; -10 is neither
    assert onset["monitored_days_healthy"] == len([d for d in days if d <= -14 or d >= 28])
    no_onset = metrics.daily_person("b", list(range(40, 100)), [50], covers_onset=False)
    assert no_onset["events"] == 0 and no_onset["false_alert_days"] == 1
    summary = metrics.daily_summary([onset, no_onset])
    assert (summary["events"], summary["detected"], summary["sensitivity"]) == (1, 1, 1.0)
    assert summary["false_alert_days_per_30d"] == round(30 * 3 / (47 + 32 + 60), 4)
    assert 0 < summary["chance_sensitivity"] < 1


def test_leave_one_out_never_uses_the_held_out_patient() -> None:
    # patient "c" alone prefers setting 2 strongly; the others prefer setting 1
    per = {
        "a": {1: {"tp": 9.0, "fn": 1.0, "tn": 9.0, "fp": 1.0},
              2: {"tp": 5.0, "fn": 5.0, "tn": 9.0, "fp": 1.0}},
        "b": {1: {"tp": 9.0, "fn": 1.0, "tn": 9.0, "fp": 1.0},
              2: {"tp": 5.0, "fn": 5.0, "tn": 9.0, "fp": 1.0}},
        "c": {1: {"tp": 0.0, "fn": 100.0, "tn": 100.0, "fp": 0.0},
              2: {"tp": 100.0, "fn": 0.0, "tn": 100.0, "fp": 0.0}},
    }
    chosen = protocol.leave_one_out(per, protocol.best_balanced_accuracy)
    assert chosen["c"] == 1  # chosen without c, although c alone would pick 2
    assert chosen["a"] == 2 and chosen["b"] == 2  # c's counts dominate when a or b is held out
    assert protocol.best_balanced_accuracy(protocol.pooled(per, per)) == 2


def test_most_sensitive_within_the_false_alert_budget() -> None:
    choose = protocol.most_sensitive_within(0.5)
    counts = {
        2.0: {"detected": 8.0, "events": 10.0, "false_days": 6.0, "monitored_days": 300.0},
        3.0: {"detected": 5.0, "events": 10.0, "false_days": 4.0, "monitored_days": 300.0},
        4.0: {"detected": 5.0, "events": 10.0, "false_days": 2.0, "monitored_days": 300.0},
    }
    assert choose(counts) == 4.0  # 2.0 is over budget; 3.0 and 4.0 tie, 4.0 has fewer false


def test_nightsignal_needs_two_high_nights_in_a_row() -> None:
    ns = anchors.NightSignal()
    nights = [60.0] * 12 + [65, 60, 65, 66, 67, 60]
    days = [Day(d, d, hr, 300, None, 900) for d, hr in enumerate(nights)]
    assert anchors.alert_days(ns, days) == [15]  # nights 14 and 15; one alert for the run


def test_cusum_anchor_alarms_on_a_sustained_rise_and_restarts() -> None:
    rise = [60.0 + (d % 3) for d in range(20)] + [64.0] * 10
    days = [Day(d, d, hr, 300, None, 900) for d, hr in enumerate(rise)]
    alarms = anchors.alert_days(anchors.RestingHrCusum(), days)
    assert alarms and alarms[0] >= 20
    assert anchors.alert_days(anchors.RestingHrCusum(), days[:20]) == []


def test_nrmssd_rule_and_its_alerts() -> None:
    rng = np.random.default_rng(0)
    rr = np.concatenate([800 + rng.integers(-10, 11, 600), rng.integers(400, 1100, 600)])
    decided = anchors.nrmssd_rule(rr)
    assert not decided[:600].any() and decided[-400:].all()
    t = np.cumsum(rr)
    alerts = decision_alerts(t, decided, "nrmssd_rule")
    assert len(alerts) == 1 and alerts[0].start_ms >= t[600]


def test_nsr_every_af_decision_is_false() -> None:
    row = rhythm_metrics.nsr_record("n", np.full(17_280, 5_000), np.arange(17_280) < 864, 2)
    assert row["hours"] == 24.0 and row["af_alerts_per_24h"] == 2.0
    assert row["time_specificity"] == 0.95
    summary = rhythm_metrics.nsr_summary([row, row])
    assert summary["records"] == 2 and summary["af_alerts_per_24h"] == 2.0


def test_covid_daily_rows_become_the_days_of_the_daily_decision() -> None:
    series = datasets.DailySeries(
        "covid-X", "IHS", day=np.array([-3, 0]), rest_hr_bpm=np.array([61.5, 66.0]),
        steps=np.array([9000, 2000]), hr_minutes=np.array([1200, 400]))
    days = daily_values(series)
    assert [(d.day, d.rest_hr_bpm, d.steps, d.rest_minutes, d.worn_minutes) for d in days] == [
        (-3, 61.5, 9000, 1200, 1200), (0, 66.0, 2000, 400, 400)]
    assert days[1].end_ms - days[0].end_ms == 3 * DAY_MS


@pytest.mark.data
def test_stanford_replay_hours_are_the_files_local_clock() -> None:
    """The files hold local naive times; the replay's hour of day must be that clock's hour."""
    root = require(DATA_DIR)
    series = datasets.load_patient("stanford", root, "stanford-AV2GF3B", limit=2_000,
                                   plausible_only=True)
    columns = series.columns()
    block = PatientFeatures().update(
        columns, utc_offset_ms(STANFORD_TIMEZONE, int(columns.t_ms[-1]))).block
    raw = datasets.STANFORD_RAW / "AV2GF3B_hr.csv.zip"
    with zipfile.ZipFile(root / raw) as archive, archive.open(archive.namelist()[0]) as fh:
        next(fh)
        first_time = fh.readline().decode().split(",")[2]  # ",user,datetime,heartrate"
    first_hour = int(first_time.split(" ")[1].split(":")[0])
    t_first = int(np.datetime64(first_time.strip(), "ms").astype(np.int64))
    index = int(np.searchsorted(columns.t_ms, t_first))
    assert int(block.hour_of_day[index]) == first_hour


@pytest.mark.data
def test_evaluate_afdb_writes_metrics_and_report(tmp_path: Path) -> None:
    require(DATA_DIR / "afdb-rr")
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
        "protocol",
        "sensitivity",
        "specificity",
        "episode_sensitivity",
        "median_detection_delay_s",
        "subgroups",
    ):
        assert key in doc
    assert doc["protocol"] == "fixed-defaults"  # one record: nothing else to choose on
    assert doc["state_bytes_max"] <= 16 * 1024
    html = (out / "report.html").read_text()
    assert "<img src='plots/" in html
    assert any((out / "plots").glob("*.png"))
