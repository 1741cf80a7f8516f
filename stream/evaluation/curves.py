"""Operating curves of illness-style methods: sensitivity against false alert-days per 30 days.

Every method is swept over its own threshold on the same data; each point pools the people's
counts (``events``, ``detected``, ``false_days``, ``monitored_days``) at one threshold. A care
team reads a curve as "at this many false alert-days per patient-month, this share of illness
onsets is flagged in time".

* ``operating_curve``: one point per threshold (the method as published, threshold swept);
* ``leave_one_out_curve``: one point per **alarm budget** (false alert-days per 30 days): each
  person is scored with the threshold the budget picks on the pooled counts of the *other*
  people (``protocol.most_sensitive_within``), exactly what a ward's budget does with the
  population curve that ships with the code; the counts of those held-out scorings are pooled;
* ``sensitivity_at``: the sensitivity the curve reaches at a false-alert rate, read on its
  upper envelope (a stricter threshold that does better is always available) with straight
  lines between points, from (0, 0) (an infinite threshold) and flat after the last point;
* ``area``: the integral of that reading between two false-alert rates (and its mean);
* ``cliffs``: neighbouring points (in threshold order) where sensitivity falls by more than a
  third while false alert-days fall by less than a quarter.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from wearmon.stream.evaluation import protocol

#: alarm budgets (false alert-days per 30 days) of the leave-one-out curve
BUDGETS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8,
           0.9, 1.0, 1.1, 1.2, 1.35, 1.5, 1.75, 2.0, 2.5, 3.0)
SENSITIVITY_AT = (0.5, 1.0)
AREA_FROM, AREA_TO = 0.25, 1.5
CLIFF_LOSS, CLIFF_CUT = 1 / 3, 0.25

PerPerson = Mapping[str, Mapping[Any, protocol.Counts]]


def false_per_30d(counts: Mapping[str, float]) -> float:
    """False alert-days per 30 monitored days of pooled counts.

    >>> false_per_30d({"false_days": 2, "monitored_days": 120})
    0.5
    """
    return 30 * counts["false_days"] / counts["monitored_days"] if counts["monitored_days"] else 0.0


def chance(counts: Mapping[str, float], window_days: Sequence[int]) -> float | None:
    """Sensitivity expected of alert-days falling at random at the counts' false-alert rate."""
    if not window_days or not counts["monitored_days"]:
        return None
    p = min(1.0, counts["false_days"] / counts["monitored_days"])
    return round(sum(1 - (1 - p) ** n for n in window_days) / len(window_days), 4)


def point(threshold: Any, counts: Mapping[str, float], window_days: Sequence[int]
          ) -> dict[str, Any]:
    """One curve point as the JSON reports it."""
    return {
        "threshold": threshold,
        "detected": int(counts["detected"]),
        "events": int(counts["events"]),
        "sensitivity": (round(counts["detected"] / counts["events"], 4) if counts["events"]
                        else None),
        "false_alert_days_per_30d": round(false_per_30d(counts), 4),
        "chance_sensitivity": chance(counts, window_days),
        "false_days": int(counts["false_days"]),
        "monitored_days": int(counts["monitored_days"]),
    }


def operating_curve(per_person: PerPerson, thresholds: Sequence[Hashable],
                    window_days: Sequence[int]) -> list[dict[str, Any]]:
    """One pooled point per threshold, in the order given (loosest first by convention).

    >>> per = {"a": {1: {"events": 1, "detected": 1, "false_days": 2, "monitored_days": 60},
    ...              2: {"events": 1, "detected": 0, "false_days": 0, "monitored_days": 60}}}
    >>> [(p["threshold"], p["detected"], p["false_alert_days_per_30d"])
    ...  for p in operating_curve(per, [1, 2], [11])]
    [(1, 1, 1.0), (2, 0, 0.0)]
    """
    total = protocol.pooled(per_person, per_person)
    return [point(th, total[th], window_days) for th in thresholds]


def leave_one_out_curve(per_person: PerPerson, window_days: Sequence[int],
                        budgets: Sequence[float] = BUDGETS,
                        pool: PerPerson | None = None) -> list[dict[str, Any]]:
    """One point per alarm budget: each person scored with the threshold that budget picks on
    the pooled counts of everybody else (leave-one-patient-out) or, given ``pool``, on the
    pool's people only (people never scored: the population curve that ships).

    The point's ``threshold`` is the budget; ``chosen`` lists the thresholds people got.

    >>> per = {"a": {1: {"events": 1, "detected": 1, "false_days": 1, "monitored_days": 30},
    ...              2: {"events": 1, "detected": 0, "false_days": 0, "monitored_days": 30}},
    ...        "b": {1: {"events": 1, "detected": 1, "false_days": 3, "monitored_days": 30},
    ...              2: {"events": 1, "detected": 1, "false_days": 0, "monitored_days": 30}}}
    >>> [(p["threshold"], p["chosen"], p["detected"]) for p in leave_one_out_curve(per, [11, 11],
    ...                                                                          [0.5, 3.0])]
    [(0.5, [2], 1), (3.0, [1, 2], 1)]
    """
    if pool is None and len(per_person) < 2:
        pool = per_person  # nobody else to choose on (a one-person subset): in-sample
    points = []
    for budget in budgets:
        choose = protocol.most_sensitive_within(budget)
        counts: dict[str, float] = {"events": 0, "detected": 0, "false_days": 0,
                                    "monitored_days": 0}
        chosen = []
        fixed = choose(protocol.pooled(pool, pool)) if pool is not None else None
        for person in per_person:
            th = fixed if fixed is not None else choose(
                protocol.pooled(per_person, [p for p in per_person if p != person]))
            chosen.append(th)
            for k in counts:
                counts[k] += per_person[person][th][k]
        p = point(budget, counts, window_days)
        p["chosen"] = sorted(set(chosen))
        points.append(p)
    return points


def envelope(points: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float]]:
    """(false-alert rates, best sensitivity at or below each), from (0, 0), sorted."""
    pairs = sorted([(0.0, 0.0)] + [(float(p["false_alert_days_per_30d"]),
                                     float(p["sensitivity"] or 0.0)) for p in points])
    xs, ys, best = [], [], 0.0
    for x, y in pairs:
        best = max(best, y)
        xs.append(x)
        ys.append(best)
    return xs, ys


def sensitivity_at(points: Sequence[Mapping[str, Any]], rate: float) -> float:
    """The curve's sensitivity at ``rate`` false alert-days per 30 days (interpolated).

    >>> pts = [{"false_alert_days_per_30d": 0.4, "sensitivity": 0.2},
    ...        {"false_alert_days_per_30d": 0.8, "sensitivity": 0.4}]
    >>> sensitivity_at(pts, 0.6), sensitivity_at(pts, 0.2), sensitivity_at(pts, 2.0)
    (0.3, 0.1, 0.4)
    """
    xs, ys = envelope(points)
    return round(float(np.interp(rate, xs, ys)), 4)


def area(points: Sequence[Mapping[str, Any]], lo: float = AREA_FROM, hi: float = AREA_TO
         ) -> dict[str, float]:
    """The area under the curve between ``lo`` and ``hi`` false alert-days per 30 days, and the
    mean sensitivity there (area / width).

    >>> area([{"false_alert_days_per_30d": 1.0, "sensitivity": 0.5}], 0.0, 2.0)
    {'from': 0.0, 'to': 2.0, 'value': 0.75, 'mean_sensitivity': 0.375}
    """
    xs, ys = envelope(points)
    grid = np.linspace(lo, hi, 501)
    value = float(np.trapezoid(np.interp(grid, xs, ys), grid))
    return {"from": lo, "to": hi, "value": round(value, 4),
            "mean_sensitivity": round(value / (hi - lo), 4)}


def cliffs(points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Neighbouring points (in the given threshold order) where sensitivity drops by more than
    a third for less than a quarter fewer false alert-days.

    >>> pts = [{"threshold": 1, "detected": 10, "false_alert_days_per_30d": 1.0},
    ...        {"threshold": 2, "detected": 5, "false_alert_days_per_30d": 0.9},
    ...        {"threshold": 3, "detected": 3, "false_alert_days_per_30d": 0.9}]
    >>> [(c["from"], c["to"]) for c in cliffs(pts)]
    [(1, 2), (2, 3)]
    """
    found = []
    for a, b in pairwise(points):
        # the looser point has more false alert-days; at equal rates, more detections (moving
        # to fewer detections for no fewer false alerts is a loss like any other)
        loose, strict = sorted((a, b), key=lambda p: (p["false_alert_days_per_30d"],
                                                      p["detected"]), reverse=True)
        lost = loose["detected"] - strict["detected"]
        cut = loose["false_alert_days_per_30d"] - strict["false_alert_days_per_30d"]
        if (loose["detected"] and lost / loose["detected"] > CLIFF_LOSS
                and cut < CLIFF_CUT * loose["false_alert_days_per_30d"]):
            found.append({"from": a["threshold"], "to": b["threshold"],
                          "detected": [a["detected"], b["detected"]],
                          "false_alert_days_per_30d": [a["false_alert_days_per_30d"],
                                                       b["false_alert_days_per_30d"]]})
    return found


def describe(points: list[dict[str, Any]], threshold_name: str, protocol_name: str
             ) -> dict[str, Any]:
    """A method's curve with its reading at the standard rates, area and cliffs."""
    return {
        "threshold_name": threshold_name,
        "protocol": protocol_name,
        "operating_curve": points,
        "sensitivity_at": {str(r): sensitivity_at(points, r) for r in SENSITIVITY_AT},
        "area": area(points),
        "cliffs": cliffs(points),
    }


def per_person_counts(people: Sequence[str], thresholds: Sequence[Hashable],
                      counts_of: Callable[[str, Hashable], protocol.Counts]
                      ) -> dict[str, dict[Hashable, protocol.Counts]]:
    """``counts_of(person, threshold)`` for every person and threshold."""
    return {p: {th: counts_of(p, th) for th in thresholds} for p in people}
