"""Illness-style detection: Stanford minute data (replayed) and covid-daily (daily values).

* ``stanford``: each user is replayed through the stream's ``process()`` with the shipped
  settings (nothing is fitted on these users: protocol ``fixed-defaults``; the illness score's
  threshold comes from the default alarm budget through the population curve fitted on the
  covid-daily people, other people). Times in the files are local clock times read as UTC, so
  the replay's time zone is UTC and nights are the wearer's nights. Every detector's alerts
  outside the labelled illness windows are counted per kind and per person.
* ``covid-daily``: each person's days go to ``SlowDeviation.judge_day`` (the stream's daily
  decision logic) as ``Day`` values: the day's fitted baseline heart rate as the resting heart
  rate, its minutes of heart rate as resting and worn minutes, its steps. The alert threshold is
  the one the default alarm budget picks on the other people (leave-one-patient-out). The
  activity detector's step-decline rule is measured on the same days
  (``ActivityPattern.observe_day``).

Both report operating curves (``illness_curves``): Wearmon's illness score by alarm budget,
each published rule (``--baselines``) with its own threshold swept, on the same days.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.progress import Progress

from wearmon.models.activity import ActivityPattern
from wearmon.models.alarm_budget import DEFAULT_BUDGET, population_curve
from wearmon.models.base import Day, Finding, Severity
from wearmon.models.slow import ALERT_SCORE, SlowDeviation
from wearmon.stream import datasets
from wearmon.stream.evaluation import anchors, metrics, protocol
from wearmon.stream.evaluation.runs import illness_curves
from wearmon.stream.evaluation.runs.illness_curves import Person
from wearmon.stream.evaluation.runs.patient_run import DAY_MS, Alert, PatientRun, alerts_of
from wearmon.stream.evaluation.runs.results import PatientResult, limit, replay_with_progress

STANFORD_TIMEZONE = "UTC"  # the files' naive local times are read as UTC: UTC hours are local
COVID_ORIGIN_MS = datasets.AFDB_ORIGIN_MS  # day 0 (symptom onset) on the plots' time base
ACTIVITY_WINDOWS = {"days -7..+3": (-7, 3), "days 0..+7": (0, 7)}
SHIPPED_CURVE = "covid-daily (the population curve that ships)"


def _anchor_alerts(name: str, days: Sequence[Day]) -> list[Alert]:
    end_of = {d.day: d.end_ms for d in days}
    return [Alert(f"anchor:{name}", name, "warning", end_of[d], end_of[d], 1, name)
            for d in anchors.alert_days(anchors.illness_anchor(name), list(days))]


def shipped_pool() -> dict[str, dict[float, protocol.Counts]]:
    """The shipped population curve as the pooled counts of one (other) population."""
    return {SHIPPED_CURVE: {p.alert_score: {
        "events": p.events, "detected": p.detected, "false_days": p.false_days,
        "monitored_days": p.monitored_days} for p in population_curve()}}


def _with_curves(result: dict[str, Any], methods: dict[str, dict[str, Any]]) -> None:
    """Wearmon's curve at the top level, each anchor's inside its ``baselines`` entry."""
    wearmon = methods["wearmon"]
    for key in ("operating_curve", "sensitivity_at", "area", "cliffs"):
        result[key] = wearmon[key]
    result["curve_protocol"] = wearmon["protocol"]
    result["curve_threshold"] = wearmon["threshold_name"]
    result["in_sample_curve"] = wearmon["in_sample_curve"]
    for name, method in methods.items():
        if method.get("river_candidate"):
            result.setdefault("river_candidates", {})[name] = {
                k: v for k, v in method.items() if k != "river_candidate"}
        elif name != "wearmon":
            result.setdefault("baselines", {}).setdefault(name, {}).update(
                {k: method[k] for k in ("operating_curve", "sensitivity_at", "area", "cliffs",
                                        "threshold_name", "paper_threshold")})
    result["at_equal_alarm_rates"] = illness_curves.headline_table(methods)


# --- stanford ---------------------------------------------------------------------------------


def _stanford_scorer(run: PatientRun, onsets: list[metrics.Onset],
                     windows: list[metrics.Window]) -> illness_curves.Scorer:
    end_of = {d.day: d.end_ms for d in run.days}

    def score(days: list[int]) -> protocol.Counts:
        alerts = [Alert("x", "x", "warning", end_of[d], end_of[d], 1, "") for d in days]
        row = metrics.stanford_user(run, alerts, onsets, windows)
        return {"events": row["events"], "detected": row["detected"],
                "false_days": row["false_alert_days"],
                "monitored_days": row["monitored_days_outside"]}

    return score


def _stanford_user(root: Path, progress: Progress, patient: str,
                   events: list[datasets.StanfordEvent], baselines: bool,
                   anchor_rows: dict[str, list[dict[str, Any]]],
                   ) -> tuple[dict[str, Any], PatientResult, Person]:
    series = datasets.load_patient("stanford", root, patient, plausible_only=True)
    run = replay_with_progress(progress, patient, series.columns(), 3_600_000,
                               timezone=STANFORD_TIMEZONE)
    mine = [e for e in events if e.patient == patient]
    onsets = [metrics.Onset(patient, e.start_ms) for e in mine
              if e.event == "symptom_onset" and e.inside_data_span]
    windows = _illness_windows(patient, mine)
    all_alerts = alerts_of(run.findings)
    illness = [a for a in all_alerts if a.detector in metrics.ILLNESS_DETECTORS]
    row = metrics.stanford_user(run, illness, onsets, windows)
    any_row = metrics.stanford_user(run, all_alerts, onsets, windows)
    row["all_alerts_false_alert_days"] = any_row["false_alert_days"]
    row["all_alerts_false_alert_days_per_30d"] = any_row["false_alert_days_per_30d"]
    row["all_alerts_detected"] = any_row["detected"]
    row["false_alert_days_by_kind"] = metrics.false_days_by_kind(all_alerts, windows)
    row["sample_interval_s"] = round(run.sample_interval_s, 1)
    row["sampling"] = "intraday (~5 s)" if run.sample_interval_s < 30 else "per minute"
    row["state_bytes"] = run.state_bytes
    anchor_alerts: list[Alert] = []
    if baselines:
        row["baselines"] = {}
        for name in anchors.ILLNESS_ANCHORS:
            found = _anchor_alerts(name, run.days)
            anchor_alerts += found
            arow = metrics.stanford_user(run, found, onsets, windows)
            anchor_rows[name].append(arow)
            row["baselines"][name] = {k: arow[k] for k in ("detected", "lead_days",
                                                           "false_alert_days")}
    result = PatientResult(
        run, all_alerts, row, events=[(e.event, e.start_ms) for e in mine],
        windows=[(w.start_ms, w.end_ms, "illness window") for w in windows],
        anchor_alerts=anchor_alerts)
    person = Person(patient, run.days, _stanford_scorer(run, onsets, windows),
                    row["window_days"])
    return row, result, person


def stanford(root: Path, progress: Progress, max_patients: int | None, baselines: bool,
             mechanisms: bool = False) -> tuple[dict[str, Any], list[PatientResult]]:
    events = datasets.stanford_events(root)
    patients = limit(_stanford_hr_users(root), max_patients)
    overall = progress.add_task("stanford users", total=len(patients))
    rows, results, people = [], [], []
    anchor_rows: dict[str, list[dict[str, Any]]] = {n: [] for n in anchors.ILLNESS_ANCHORS}
    for patient in patients:
        row, patient_result, person = _stanford_user(root, progress, patient, events,
                                                     baselines, anchor_rows)
        rows.append(row)
        results.append(patient_result)
        people.append(person)
        progress.advance(overall)
    summary = metrics.stanford_summary(rows)
    monitored = summary["monitored_days_outside_illness"]
    all_false = sum(r["all_alerts_false_alert_days"] for r in rows)
    summary["all_detectors_false_alert_days"] = all_false
    summary["all_detectors_false_alert_days_per_30d"] = (
        round(30 * all_false / monitored, 4) if monitored else None)
    summary["false_alert_days_per_30d_by_kind"] = metrics.per_30d_by_kind(
        rows, "false_alert_days_by_kind", monitored)
    result: dict[str, Any] = {
        "protocol": protocol.FIXED,
        "protocol_note": (
            "Nothing is fitted on these users: the shipped settings. The illness score's "
            f"threshold ({ALERT_SCORE}) is what the default alarm budget ({DEFAULT_BUDGET} false "
            "alert-days per 30 days) picks on the population curve of the covid-daily people "
            "(other people); its operating curve maps every budget the same way. Anchors use "
            "their papers' settings, and their own threshold swept for their curves."),
        **summary,
        "alerts_counted": ("illness-style detector (slow_deviation); all_detectors_* counts "
                           "every warning/critical alert of every detector"),
        "time_base": "the files' local clock time (naive, read as UTC; replay time zone UTC)",
        "per_user": rows,
        "subgroups": {
            "sampling": metrics.subgroups(rows, "sampling", metrics.stanford_summary),
            "age_band": "not available in this dataset",
            "sex": "not available in this dataset",
        },
        "published": {
            "sensitivity": 0.80,
            "median_lead_days": 3.0,
            "false_alert_days_per_participant": 1.15,
            "source": "Alavi et al., Nature Medicine 2022 (real-time NightSignal study)",
        },
    }
    if baselines:
        result["baselines"] = {n: metrics.stanford_summary(r) for n, r in anchor_rows.items()}
    # a quick subset (--max-patients) chooses the candidates' thresholds on fewer other people
    covid = _covid_people(root, 8 * max_patients if max_patients else None) \
        if baselines or mechanisms else []
    methods = illness_curves.method_curves(people, baselines, pool=shipped_pool(),
                                           pool_people=covid)
    _with_curves(result, methods)
    if mechanisms:
        from wearmon.stream.evaluation.runs.mechanisms import table

        result["mechanisms"] = table(people, covid)
    return result, results


def _covid_people(root: Path, most: int | None = None) -> list[Person]:
    """The covid-daily people (other people: they choose the River candidates' thresholds)."""
    people = [datasets.load_covid_daily(root, p)
              for p in limit(datasets.covid_daily_people(root), most)]
    return [covid_person(s, daily_values(s)) for s in people]


def _stanford_hr_users(root: Path) -> list[str]:
    raw = root / datasets.STANFORD_RAW
    return sorted(f"stanford-{p.name.split('_', 1)[0]}" for p in raw.glob("*_hr.csv.zip"))


def _illness_windows(patient: str, events: list[datasets.StanfordEvent]) -> list[metrics.Window]:
    """Onset/diagnosis/episode start − 14 d to recovery/end + 7 d (or start + 21 d)."""
    recoveries = sorted(e.start_ms for e in events if e.event == "recovery")
    windows = []
    for e in events:
        if e.event not in ("symptom_onset", "covid_diagnosis", "self_reported_illness_episode"):
            continue
        start = e.start_ms
        if e.end_ms is not None:
            end = e.end_ms + DAY_MS + 7 * DAY_MS
        else:
            later = [r for r in recoveries if r >= start]
            end = later[0] + DAY_MS + 7 * DAY_MS if later else start + 21 * DAY_MS
        windows.append(metrics.Window(patient, start - 14 * DAY_MS, max(end, start + DAY_MS)))
    return windows


# --- covid-daily ------------------------------------------------------------------------------


def daily_values(series: datasets.DailySeries) -> list[Day]:
    """A covid-daily person's rows as the ``Day`` values the daily decision logic takes."""
    return [
        Day(day=d, end_ms=COVID_ORIGIN_MS + (d + 1) * DAY_MS, rest_hr_bpm=hr, rest_minutes=m,
            steps=steps, worn_minutes=m)
        for d, hr, steps, m in zip(series.day.tolist(), series.rest_hr_bpm.tolist(),
                                   series.steps.tolist(), series.hr_minutes.tolist(), strict=True)
    ]


def _judged(days: Sequence[Day], alert_score: float) -> list[Finding]:
    detector = SlowDeviation(alert_score=alert_score)
    return [f for d in days if (f := detector.judge_day(d)) is not None]


def _day_of(t_ms: int) -> int:
    return (t_ms - COVID_ORIGIN_MS) // DAY_MS - 1


def _person_row(series: datasets.DailySeries, alert_days: list[int],
                window: tuple[int, int] = (-7, 3)) -> dict[str, Any]:
    return metrics.daily_person(series.person, series.day.tolist(), alert_days,
                                series.covers_onset, window)


def _counts(row: dict[str, Any]) -> protocol.Counts:
    return {"events": row["events"], "detected": row["detected"],
            "false_days": row["false_alert_days"], "monitored_days": row["monitored_days_healthy"]}


def covid_person(series: datasets.DailySeries, days: Sequence[Day]) -> Person:
    """A covid-daily person for the curves: their days and the dataset's scoring."""
    window = _person_row(series, [])["window_days"]
    return Person(series.person, days, lambda alert_days: _counts(_person_row(series, alert_days)),
                  window)


def _covid_row(series: datasets.DailySeries, days: list[Day], alert_score: float,
               baselines: bool, anchor_rows: dict[str, list[dict[str, Any]]],
               activity_rows: dict[str, list[dict[str, Any]]]) -> PatientResult:
    findings = _judged(days, alert_score)
    row = _person_row(series, [_day_of(f.t_ms) for f in findings])
    row.update(source=series.source, alert_score=alert_score)
    activity = ActivityPattern()
    declines = [f for d in days if (f := activity.observe_day(d)) is not None]
    for name, window in ACTIVITY_WINDOWS.items():
        activity_rows[name].append(_person_row(series, [_day_of(f.t_ms) for f in declines],
                                               window))
    anchor_alerts: list[Alert] = []
    if baselines:
        row["baselines"] = {}
        for name in anchors.ILLNESS_ANCHORS:
            alerts = _anchor_alerts(name, days)
            anchor_alerts += alerts
            arow = _person_row(series, [_day_of(a.start_ms) for a in alerts])
            anchor_rows[name].append(arow)
            row["baselines"][name] = {k: arow[k] for k in ("detected", "lead_days",
                                                           "false_alert_days")}
    return _daily_result(series, days, findings + declines, row, anchor_alerts)


def covid_daily(root: Path, progress: Progress, max_patients: int | None, baselines: bool
                ) -> tuple[dict[str, Any], list[PatientResult]]:
    people = [datasets.load_covid_daily(root, p)
              for p in limit(datasets.covid_daily_people(root), max_patients)]
    task = progress.add_task("covid-daily people", total=len(people))
    days = {s.person: daily_values(s) for s in people}
    persons = [covid_person(s, days[s.person]) for s in people]
    per_person = illness_curves.wearmon_counts(persons)
    choose = protocol.most_sensitive_within(DEFAULT_BUDGET)
    shipped = choose(protocol.pooled(per_person, per_person))
    loo = len(people) > 1
    chosen = protocol.leave_one_out(per_person, choose) if loo else {
        s.person: ALERT_SCORE for s in people}
    results = []
    anchor_rows: dict[str, list[dict[str, Any]]] = {n: [] for n in anchors.ILLNESS_ANCHORS}
    activity_rows: dict[str, list[dict[str, Any]]] = {w: [] for w in ACTIVITY_WINDOWS}
    for s in people:
        results.append(_covid_row(s, days[s.person], chosen[s.person], baselines, anchor_rows,
                                  activity_rows))
        progress.advance(task)
    rows = [r.row for r in results]
    result: dict[str, Any] = {
        "protocol": protocol.LEAVE_ONE_OUT if loo else protocol.FIXED,
        "protocol_note": (
            "Each person is scored with the illness-score threshold that the default alarm "
            f"budget ({DEFAULT_BUDGET} false alert-days per 30 days) picks on the other people "
            "(the most sensitive threshold within the budget); every other setting is a fixed "
            "default. The operating curve does the same for every budget. Anchors use their "
            "papers' settings, and their own threshold swept for their curves."),
        **metrics.daily_summary(rows),
        "shipped_settings": {"alert_score": shipped, "in_code": ALERT_SCORE,
                             "alarm_budget": DEFAULT_BUDGET},
        "chosen_alert_scores": sorted(set(chosen.values())),
        "scoring": ("detected: an alert on days -7..+3 of symptom onset (people whose data covers "
                    "day 0); false alert-days: days <= -14 or >= +28, per 30 monitored days"),
        "activity": {
            "detector": "activity (steps_decline)",
            "protocol": protocol.FIXED,
            **{name: metrics.daily_summary(r) for name, r in activity_rows.items()},
        },
        "per_person": rows,
        "subgroups": {"source": metrics.subgroups(rows, "source", metrics.daily_summary)},
    }
    if baselines:
        result["baselines"] = {n: metrics.daily_summary(r) for n, r in anchor_rows.items()}
    methods = illness_curves.method_curves(persons, baselines, wearmon=per_person,
                                           pool=None if loo else shipped_pool())
    _with_curves(result, methods)
    return result, results


def _daily_result(series: datasets.DailySeries, days: list[Day], findings: list[Finding],
                  row: dict[str, Any], anchor_alerts: list[Alert]) -> PatientResult:
    run = PatientRun(series.person, samples=len(days), findings=findings, days=days)
    run.trace.daily_t_ms = [d.end_ms for d in days]
    run.trace.daily_rest_bpm = [d.rest_hr_bpm for d in days if d.rest_hr_bpm is not None]
    if days:
        run.first_t_ms, run.last_t_ms = days[0].end_ms - DAY_MS, days[-1].end_ms
    onset = COVID_ORIGIN_MS + DAY_MS  # a day's decision (at its end_ms) plots at its day number
    events = [("symptom_onset", onset)] if series.covers_onset else []
    half = DAY_MS // 2
    windows = [(onset - 7 * DAY_MS - half, onset + 3 * DAY_MS + half,
                "detection window (days -7..+3)")]
    alerts = alerts_of(findings, gap_ms=0, min_severity=Severity.INFO)
    return PatientResult(run, alerts, row, events=events, windows=windows,
                         anchor_alerts=anchor_alerts, x_origin_ms=onset)
