"""The issue's metrics, as pure functions of replay results and labels.

* stanford: per symptom onset inside the data, detected when an illness alert starts in
  [onset − 7 d, onset + 3 d]; lead = onset − first such alert (days); false alert-days = days with
  an alert outside every labelled illness window (14 days before an onset, diagnosis or episode
  start to 7 days after its recovery/end, or 21 days after it when no end is given), per 30
  monitored days outside those windows.
* afdb: time-weighted sensitivity / specificity of the rhythm decision (AF vs everything else),
  episode sensitivity for AF episodes ≥ 1 minute, median delay from episode start to detection.
* normal: alerts per monitored patient-day.
* synthetic: recall, false alerts per patient-day and median latency, per event type.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from wearmon.stream.evaluation.patient_run import Alert, PatientRun

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


def stanford_user(
    run: PatientRun,
    alerts: Sequence[Alert],
    onsets: Sequence[Onset],
    windows: Sequence[Window],
) -> dict[str, Any]:
    """One user's row: events, detections, lead days, false alert-days.

    >>> from wearmon.stream.evaluation.patient_run import Alert, PatientRun
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
    for onset in onsets:
        lo, hi = onset.t_ms - 7 * DAY_MS, onset.t_ms + 3 * DAY_MS
        hits = [a.start_ms for a in alerts if lo <= a.start_ms <= hi]
        if hits:
            detected += 1
            leads.append(round((onset.t_ms - min(hits)) / DAY_MS, 2))

    def outside(day: int) -> bool:
        start, end = day * DAY_MS, (day + 1) * DAY_MS
        return all(end <= w.start_ms or start >= w.end_ms for w in windows)

    alert_days = {a.start_ms // DAY_MS for a in alerts}
    false_days = sorted(d for d in alert_days if outside(d))
    monitored_outside = sum(1 for d in run.worn_days if outside(d))
    return {
        "user": run.patient,
        "events": len(onsets),
        "detected": detected,
        "lead_days": leads,
        "false_alert_days": len(false_days),
        "monitored_days": len(run.worn_days),
        "monitored_days_outside": monitored_outside,
        "false_alert_days_per_30d": _round(_rate(30 * len(false_days), monitored_outside)),
    }


def stanford_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
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
        "monitored_days_outside_illness": monitored,
    }


def afdb_record(run: PatientRun, af_episodes: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """Time in AF vs not (seconds) against the detector's decision, per sample with beats.

    >>> from wearmon.stream.evaluation.patient_run import PatientRun
    >>> run = PatientRun("r")
    >>> run.rhythm.t_ms = [0, 5_000, 10_000, 15_000]
    >>> run.rhythm.span_ms = [5_000] * 4
    >>> run.rhythm.irregular = [False, False, True, True]
    >>> r = afdb_record(run, [(5_000, 65_000)])
    >>> r["tp_s"], r["fn_s"], r["tn_s"], r["fp_s"], r["delays_s"]
    (10.0, 5.0, 5.0, 0.0, [5.0])
    """
    tp = fp = tn = fn = 0.0
    rt = run.rhythm
    ep_index = 0
    eps = sorted(af_episodes)
    first_hit: dict[int, int] = {}
    for i, t in enumerate(rt.t_ms):
        while ep_index < len(eps) and eps[ep_index][1] <= t:
            ep_index += 1
        in_af = ep_index < len(eps) and eps[ep_index][0] <= t < eps[ep_index][1]
        span = rt.span_ms[i] / 1000
        pred = rt.irregular[i]
        if in_af and pred:
            tp += span
            first_hit.setdefault(ep_index, t)
        elif in_af:
            fn += span
        elif pred:
            fp += span
        else:
            tn += span
    long_eps = [i for i, (s, e) in enumerate(eps) if e - s >= 60_000]
    delays = [max(0.0, (first_hit[i] - eps[i][0]) / 1000) for i in long_eps if i in first_hit]
    return {
        "record": run.patient,
        "tp_s": round(tp, 1),
        "fp_s": round(fp, 1),
        "tn_s": round(tn, 1),
        "fn_s": round(fn, 1),
        "sensitivity": _round(_rate(tp, tp + fn)),
        "specificity": _round(_rate(tn, tn + fp)),
        "af_episodes_1min": len(long_eps),
        "af_episodes_detected": len(delays),
        "delays_s": delays,
    }


def afdb_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    tp = sum(r["tp_s"] for r in rows)
    fp = sum(r["fp_s"] for r in rows)
    tn = sum(r["tn_s"] for r in rows)
    fn = sum(r["fn_s"] for r in rows)
    eps = sum(r["af_episodes_1min"] for r in rows)
    hit = sum(r["af_episodes_detected"] for r in rows)
    delays = [d for r in rows for d in r["delays_s"]]
    return {
        "sensitivity": _round(_rate(tp, tp + fn)),
        "specificity": _round(_rate(tn, tn + fp)),
        "episode_sensitivity": _round(_rate(hit, eps)),
        "median_detection_delay_s": _round(_median(delays)),
        "af_hours": round(tp / 3600 + fn / 3600, 2),
        "non_af_hours": round(tn / 3600 + fp / 3600, 2),
        "af_episodes_1min": eps,
    }


def normal_patient(run: PatientRun, alerts: Sequence[Alert]) -> dict[str, Any]:
    by_kind: dict[str, int] = {}
    for a in alerts:
        key = f"{a.detector}:{a.kind}"
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
        "alerts_by_kind": by_kind,
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
