"""A ward's alarm budget for the illness score: false alert-days per patient-month → threshold.

A care team chooses how many illness alerts for nothing it accepts: the **budget**, in false
alert-days per patient per 30 days (``DEFAULT_BUDGET`` unless the ward says otherwise). The
budget becomes the illness score's alert threshold (``SlowDeviation.alert_score``) through the
**population curve** that ships with the code (``illness_budget_curve.json``, next to this
module): for each threshold of a grid, the pooled detections of illness onsets and the false
alert-days of the covid-daily people (67 people, 50 symptom onsets; ``made_by`` in the file names
the command that wrote it). The threshold is the curve's most sensitive point within the budget
(fewer false alert-days on ties), the same rule the evaluation scores under
leave-one-patient-out, so the sensitivity a ward can expect is measured, not promised.

What a budget means for a ward of ``n`` patients: about ``budget × n × 7 / 30`` illness alerts a
week that are not followed by an illness (``budget_summary``), and the share of illness onsets
flagged from 7 days before to 3 days after symptom onset on the population curve.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

CURVE_FILE = "illness_budget_curve.json"
#: False illness alert-days per patient per 30 days a ward accepts unless it chooses otherwise.
DEFAULT_BUDGET = 0.5
MIN_BUDGET, MAX_BUDGET = 0.1, 3.0


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """One threshold of the population curve and what it did on the people it was fitted on."""

    alert_score: float
    detected: int
    events: int
    false_days: int
    monitored_days: int

    @property
    def sensitivity(self) -> float:
        return self.detected / self.events if self.events else 0.0

    @property
    def false_alert_days_per_30d(self) -> float:
        return 30 * self.false_days / self.monitored_days if self.monitored_days else 0.0


@cache
def population_curve() -> tuple[CurvePoint, ...]:
    """The shipped population curve, loosest threshold first."""
    return tuple(CurvePoint(**{k: p[k] for k in CurvePoint.__slots__})
                 for p in curve_document()["points"])


@cache
def curve_document() -> dict[str, Any]:
    """The shipped file as written by the evaluation (points, held-out results per budget, data,
    command, score version)."""
    text = resources.files("wearmon.models").joinpath(CURVE_FILE).read_text()
    doc: dict[str, Any] = json.loads(text)
    return doc


def point_for_budget(budget: float, curve: tuple[CurvePoint, ...] | None = None) -> CurvePoint:
    """The curve's most sensitive point with at most ``budget`` false alert-days per 30 days
    (fewer false alert-days on ties); the strictest point when none is within the budget.

    >>> pts = (CurvePoint(2.0, 30, 50, 60, 1000), CurvePoint(3.0, 20, 50, 15, 1000),
    ...        CurvePoint(4.0, 20, 50, 10, 1000))
    >>> point_for_budget(0.5, pts).alert_score, point_for_budget(2.0, pts).alert_score
    (4.0, 2.0)
    >>> point_for_budget(0.01, pts).alert_score
    4.0
    """
    points = curve if curve is not None else population_curve()
    within = [p for p in points if p.false_alert_days_per_30d <= budget]
    if not within:
        return min(points, key=lambda p: (p.false_alert_days_per_30d, -p.alert_score))
    return max(within, key=lambda p: (p.detected, -p.false_alert_days_per_30d))


def alert_score_for_budget(budget: float = DEFAULT_BUDGET) -> float:
    """The illness score's alert threshold for a ward's budget (false alert-days per 30 days).

    >>> alert_score_for_budget(0.5) >= alert_score_for_budget(1.5)
    True
    """
    return point_for_budget(budget).alert_score


def held_out_sensitivity(budget: float) -> float:
    """The sensitivity measured on people never seen (leave-one-patient-out) at the largest
    shipped budget not above ``budget`` (the smallest budget's when below all)."""
    rows = sorted(curve_document()["held_out"], key=lambda r: r["budget"])
    fitting = [r for r in rows if r["budget"] <= budget] or rows[:1]
    return float(fitting[-1]["sensitivity"])


def budget_summary(budget: float, patients: int) -> dict[str, Any]:
    """What a budget means for a ward of ``patients``: the threshold, the expected illness alerts
    for nothing per week, the sensitivity measured on people never seen, and one sentence for
    the console.

    >>> s = budget_summary(0.5, 40)
    >>> s["false_alerts_per_week"]
    4.7
    >>> s["text"].startswith("With 40 patients and a budget of 0.5")
    True
    """
    chosen = point_for_budget(budget)
    per_week = round(budget * patients * 7 / 30, 1)
    measured_week = round(chosen.false_alert_days_per_30d * patients * 7 / 30, 1)
    sens = round(held_out_sensitivity(budget), 2)
    return {
        "budget_false_alert_days_per_30d": budget,
        "patients": patients,
        "alert_score": chosen.alert_score,
        "false_alerts_per_week": per_week,
        "false_alerts_per_week_on_curve": measured_week,
        "expected_sensitivity": sens,
        "text": (
            f"With {patients} patient{'' if patients == 1 else 's'} and a budget of {budget:g} "
            f"false illness alert-days per patient-month, expect about {per_week:g} illness "
            "alerts a week that are not followed by an illness (on the population curve: "
            f"{measured_week:g}); about "
            f"{100 * sens:.0f}% of illness onsets are flagged between 7 days before and 3 days "
            "after symptoms start (measured on people the threshold was not chosen on)."),
    }
