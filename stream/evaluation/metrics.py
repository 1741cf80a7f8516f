"""Illness and normal-day metrics, as pure functions of replay results and labels.

* stanford: per symptom onset inside the data, detected when an illness alert starts in
  [onset − 7 d, onset + 3 d]; lead = onset − first such alert (days); false alert-days = days with
  an alert outside every labelled illness window (14 days before an onset, diagnosis or episode
  start to 7 days after its recovery/end, or 21 days after it when no end is given), per 30
  monitored days outside those windows.
* covid-daily: per person whose data covers day 0 (symptom onset), detected when an alert falls
  on days −7…+3; lead = days before onset of the first; false alert-days on days ≤ −14 or ≥ +28,
  per 30 monitored days there.
* ``chance_sensitivity``: the sensitivity expected if the same rate of alert-days fell at random:
  for each event, 1 − (1 − p)^n with p the false alert-days per monitored day and n the
  monitored days of its detection window, averaged over events.
* normal: alerts per monitored patient-day.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from wearmon.stream.evaluation.runs.patient_run import Alert, PatientRun

DAY_MS = 86_400_000
ILLNESS_DETECTORS = ("slow_deviation",)


@dataclass(frozen=True, slots=True)
class Onset:
    patient: str
    t_ms: int


@dataclass(frozen=True, slots=True)
class Window:
    patient: str
    start_ms: int
    end_ms: int


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _rate(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


DETECT_BEFORE_DAYS = 7
DETECT_AFTER_DAYS = 3
HEALTHY_BEFORE_DAY = -14  # covid-daily: days ≤ this and ≥ HEALTHY_FROM_DAY are assumed healthy
HEALTHY_FROM_DAY = 28


def chance_sensitivity(false_days: float, monitored_days: float, window_days: Sequence[int]
                       ) -> float | None:
    """Expected sensitivity of alert-days placed at random at the observed false-alert rate.

    >>> chance_sensitivity(1, 60, [11, 11])  # 0.5 per 30 days, 11-day windows
    0.1688
    """
    if not window_days or monitored_days <= 0:
        return None
    p = min(1.0, false_days / monitored_days)
    return _round(sum(1 - (1 - p) ** n for n in window_days) / len(window_days))


def stanford_user(
    run: PatientRun,
    alerts: Sequence[Alert],
    onsets: Sequence[Onset],
    windows: Sequence[Window],
) -> dict[str, Any]:
    """One user's row: events, detections, lead days, false alert-days.

    >>> from wearmon.stream.evaluation.runs.patient_run import Alert, PatientRun
    >>> run = PatientRun("u")
    >>> run.worn_days.update(range(0, 60))
    >>> alerts = [Alert("slow_deviation", "k", "warning", d * DAY_MS, d * DAY_MS, 1, "")
    ...           for d in (27, 50)]
    >>> row = stanford_user(run, alerts, [Onset("u", 30 * DAY_MS)],
    ...                     [Window("u", 16 * DAY_MS, 51 * DAY_MS)])
    >>> row["detected"], row["lead_days"], row["false_alert_days"], row["monitored_days_outside"]
    (1, [3.0], 0, 25)
    """
    detected = 0
    leads: list[float] = []
    window_days = []
    for onset in onsets:
        lo = onset.t_ms - DETECT_BEFORE_DAYS * DAY_MS
        hi = onset.t_ms + DETECT_AFTER_DAYS * DAY_MS
        hits = [a.start_ms for a in alerts if lo <= a.start_ms <= hi]
        window_days.append(sum(1 for d in run.worn_days if lo <= d * DAY_MS <= hi))
        if hits:
            detected += 1
            leads.append(round((onset.t_ms - min(hits)) / DAY_MS, 2))

    alert_days = {a.start_ms // DAY_MS for a in alerts}
    false_days = sorted(d for d in alert_days if outside_windows(d, windows))
    monitored_outside = sum(1 for d in run.worn_days if outside_windows(d, windows))
    return {
        "user": run.patient,
        "events": len(onsets),
        "detected": detected,
        "lead_days": leads,
        "window_days": window_days,
        "false_alert_days": len(false_days),
        "monitored_days": len(run.worn_days),
        "monitored_days_outside": monitored_outside,
        "false_alert_days_per_30d": _round(_rate(30 * len(false_days), monitored_outside)),
    }


def outside_windows(day: int, windows: Sequence[Window]) -> bool:
    """Whether calendar day ``day`` (days since the epoch) overlaps no labelled window."""
    start, end = day * DAY_MS, (day + 1) * DAY_MS
    return all(end <= w.start_ms or start >= w.end_ms for w in windows)


def kind_of(alert: Alert) -> str:
    """An alert's detector and kind, as the JSON names them (``detector:kind``)."""
    return f"{alert.detector}:{alert.kind}"


def false_days_by_kind(alerts: Sequence[Alert], windows: Sequence[Window]) -> dict[str, int]:
    """Days outside every labelled window on which an alert of each kind starts.

    >>> a = [Alert("bands", "tachy", "warning", d * DAY_MS, d * DAY_MS, 1, "") for d in (3, 3, 9)]
    >>> false_days_by_kind(a, [Window("u", 8 * DAY_MS, 10 * DAY_MS)])
    {'bands:tachy': 1}
    """
    days: dict[str, set[int]] = {}
    for a in alerts:
        day = a.start_ms // DAY_MS
        if outside_windows(day, windows):
            days.setdefault(kind_of(a), set()).add(day)
    return {k: len(v) for k, v in sorted(days.items())}


def per_30d_by_kind(rows: Sequence[dict[str, Any]], key: str, monitored: float
                    ) -> dict[str, float | None]:
    """Pooled false alert-days of each kind (``rows[i][key]``) per 30 monitored days."""
    total: dict[str, int] = {}
    for r in rows:
        for k, v in r[key].items():
            total[k] = total.get(k, 0) + v
    return {k: _round(_rate(30 * v, monitored)) for k, v in sorted(total.items())}


def stanford_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pooled events, detections, lead, false alert-days per 30 days and chance sensitivity."""
    events = sum(r["events"] for r in rows)
    detected = sum(r["detected"] for r in rows)
    leads = [lead for r in rows for lead in r["lead_days"]]
    false_days = sum(r["false_alert_days"] for r in rows)
    monitored = sum(r["monitored_days_outside"] for r in rows)
    return {
        "events": events,
        "detected": detected,
        "sensitivity": _round(_rate(detected, events)),
        "median_lead_days": _round(_median(leads)),
        "false_alert_days_per_30d": _round(_rate(30 * false_days, monitored)),
        "chance_sensitivity": chance_sensitivity(
            false_days, monitored, [n for r in rows for n in r["window_days"]]),
        "monitored_days_outside_illness": monitored,
    }


def daily_person(person: str, days: Sequence[int], alert_days: Sequence[int],
                 covers_onset: bool,
                 window: tuple[int, int] = (-DETECT_BEFORE_DAYS, DETECT_AFTER_DAYS),
                 ) -> dict[str, Any]:
    """One covid-daily person's row (``days``: the days with data; day 0 = symptom onset;
    ``window``: the days, relative to onset, on which an alert counts as a detection).

    >>> row = daily_person("p", list(range(-40, 40)), [-30, -2, 35], True)
    >>> row["detected"], row["lead_days"], row["false_alert_days"], row["monitored_days_healthy"]
    (1, [2], 2, 39)
    """
    lo, hi = window
    hits = [d for d in alert_days if lo <= d <= hi]
    detected = covers_onset and bool(hits)
    healthy = [d for d in days if d <= HEALTHY_BEFORE_DAY or d >= HEALTHY_FROM_DAY]
    false_days = sorted({d for d in alert_days if d <= HEALTHY_BEFORE_DAY or d >= HEALTHY_FROM_DAY})
    window_days = sum(1 for d in days if lo <= d <= hi)
    return {
        "person": person,
        "events": int(covers_onset),
        "detected": int(detected),
        "lead_days": [-min(hits)] if detected else [],
        "window_days": [window_days] if covers_onset else [],
        "alert_days": list(alert_days),
        "false_alert_days": len(false_days),
        "monitored_days_healthy": len(healthy),
    }


def daily_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The covid-daily keys: events, detected, sensitivity, median lead, false alert-days per
    30 days, chance sensitivity."""
    events = sum(r["events"] for r in rows)
    detected = sum(r["detected"] for r in rows)
    false_days = sum(r["false_alert_days"] for r in rows)
    monitored = sum(r["monitored_days_healthy"] for r in rows)
    return {
        "events": events,
        "detected": detected,
        "sensitivity": _round(_rate(detected, events)),
        "median_lead_days": _round(_median([x for r in rows for x in r["lead_days"]])),
        "false_alert_days_per_30d": _round(_rate(30 * false_days, monitored)),
        "chance_sensitivity": chance_sensitivity(
            false_days, monitored, [n for r in rows for n in r["window_days"]]),
        "monitored_days_healthy": monitored,
    }


def normal_patient(run: PatientRun, alerts: Sequence[Alert]) -> dict[str, Any]:
    by_kind: dict[str, int] = {}
    for a in alerts:
        key = kind_of(a)
        by_kind[key] = by_kind.get(key, 0) + 1
    return {
        "patient": run.patient,
        "monitored_days": round(run.monitored_days, 2),
        "alerts": len(alerts),
        "alerts_per_patient_day": _round(_rate(len(alerts), run.monitored_days)),
        "by_kind": by_kind,
    }


def normal_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    alerts = sum(r["alerts"] for r in rows)
    days = sum(r["monitored_days"] for r in rows)
    by_kind: dict[str, int] = {}
    for r in rows:
        for k, v in r["by_kind"].items():
            by_kind[k] = by_kind.get(k, 0) + v
    return {
        "patients": len(rows),
        "patient_days": round(days, 2),
        "alerts": alerts,
        "alerts_per_patient_day": _round(_rate(alerts, days)),
        "alerts_by_kind": dict(sorted(by_kind.items())),
        "alerts_per_patient_day_by_kind": {k: _round(_rate(v, days))
                                           for k, v in sorted(by_kind.items())},
    }


def subgroups(rows: Iterable[dict[str, Any]], key: str, summary: Any) -> dict[str, dict[str, Any]]:
    """Apply ``summary`` to the rows of each value of ``rows[i][key]``."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(str(r.get(key, "unknown")), []).append(r)
    return {g: summary(rs) for g, rs in sorted(groups.items())}


def _round(x: float | None, nd: int = 4) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return round(x, nd)
