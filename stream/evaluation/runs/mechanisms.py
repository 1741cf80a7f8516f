"""What each mechanism of the illness score does to its operating curve, one at a time.

``wearmon evaluate --dataset stanford --mechanisms`` scores ``SlowDeviation`` with one setting
changed (the refractory week, the smoothing over assessed nights and its gap, the escalation
ratio, the step decline, the can't-assess rule) in the same harness as the shipped score:
covid-daily under leave-one-patient-out by alarm budget, Stanford with the thresholds the same
budgets pick on covid-daily. Nothing here changes what ships: it says which parts carry the
score and which move it by a few onsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wearmon.models.slow import SlowDeviation
from wearmon.stream.evaluation import curves
from wearmon.stream.evaluation.runs.illness_curves import (
    ALERT_SCORE_GRID,
    Judge,
    Person,
    counts_by_threshold,
)

VARIANTS: tuple[tuple[str, dict[str, float]], ...] = (
    ("shipped", {}),
    ("no refractory week", {"refractory_days": 0}),
    ("refractory 3 days", {"refractory_days": 3}),
    ("refractory 14 days", {"refractory_days": 14}),
    ("no smoothing (1 night)", {"smooth_days": 1}),
    ("smoothing over 3 nights", {"smooth_days": 3}),
    ("smoothing gap 2 days", {"max_gap_days": 2}),
    ("smoothing gap 7 days", {"max_gap_days": 7}),
    ("never break the refractory week", {"escalate_ratio": 1e9}),
    ("escalate at 1.2x", {"escalate_ratio": 1.2}),
    ("no step decline", {"steps_weight": 0.0}),
    ("step weight 0.5", {"steps_weight": 0.5}),
    ("step weight 1.5", {"steps_weight": 1.5}),
    ("can't assess below 0 resting minutes", {"min_night_minutes": 0}),
    ("can't assess below 120 resting minutes", {"min_night_minutes": 120}),
)


def _summary(points: list[dict[str, Any]]) -> dict[str, Any]:
    described = curves.describe(points, "alarm budget", "")
    return {"sensitivity_at_0.5": described["sensitivity_at"]["0.5"],
            "sensitivity_at_1.0": described["sensitivity_at"]["1.0"],
            "mean_sensitivity_0.25_1.5": described["area"]["mean_sensitivity"],
            "cliffs": len(described["cliffs"])}


def table(stanford: Sequence[Person], covid: Sequence[Person]) -> list[dict[str, Any]]:
    """One row per variant: its curve's readings on covid-daily and on Stanford."""
    rows = []
    for name, settings in VARIANTS:
        def make(th: float, kw: dict[str, Any] = settings) -> Judge:
            return SlowDeviation(alert_score=th, **kw)

        per_covid = counts_by_threshold(covid, ALERT_SCORE_GRID, make)
        covid_curve = curves.leave_one_out_curve(
            per_covid, [n for p in covid for n in p.window_days])
        per_stanford = counts_by_threshold(stanford, ALERT_SCORE_GRID, make)
        stanford_curve = curves.leave_one_out_curve(
            per_stanford, [n for p in stanford for n in p.window_days], pool=per_covid)
        rows.append({"variant": name, "settings": settings,
                     "covid_daily": _summary(covid_curve), "stanford": _summary(stanford_curve)})
    return rows
