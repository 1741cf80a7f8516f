"""Operating curves of the illness-style methods on the same days: Wearmon and the anchors.

Every method judges each person's closed days (``Day`` values: what the stream's daily decision
gets) once per threshold of its own grid; a person's counts at a threshold are the dataset's
scoring of the alert days (``Scorer``). Wearmon's illness score is then read under
leave-one-patient-out (``curves.leave_one_out_curve``: each person with the threshold their
ward's alarm budget picks on the other people), the anchors with their papers' rule and only
their threshold swept (nothing fitted, every point in-sample: the comparison favours them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from wearmon.models.base import Day
from wearmon.models.slow import SlowDeviation
from wearmon.stream.evaluation import anchors, curves, protocol, river_candidates

#: Wearmon's illness-score thresholds (``SlowDeviation.alert_score``), loosest first
ALERT_SCORE_GRID = tuple(round(float(x), 3) for x in np.arange(1.5, 8.001, 0.125))
#: each anchor's own threshold, loosest first: NightSignal's rise over the running median (bpm,
#: the paper's 4), the CuSum's decision interval h (textbook 4)
ANCHOR_GRIDS = {
    "nightsignal": ("rise_bpm", tuple(x / 2 for x in range(2, 25))),
    "rhr_cusum": ("h", tuple(x / 2 for x in range(1, 29))),
}
FITTED_ELSEWHERE = "fitted on other people (covid-daily)"
NAMES = {"wearmon": "Wearmon illness score", "nightsignal": "NightSignal (Alavi 2022)",
         "rhr_cusum": "resting-HR CuSum (after Mishra 2020)"}


class Judge(Protocol):
    def judge_day(self, day: Day) -> Any: ...


#: a person's counts from the days (``Day.day``) on which alerts start
Scorer = Callable[[list[int]], protocol.Counts]


@dataclass(frozen=True, slots=True)
class Person:
    """One person's days and how their alert days are scored."""

    name: str
    days: Sequence[Day]
    score: Scorer
    window_days: Sequence[int]  # monitored days in each event's detection window


def alert_days(judge: Judge, days: Sequence[Day]) -> list[int]:
    """The days on which ``judge`` raises an alert (anything truthy)."""
    return [d.day for d in days if judge.judge_day(d)]


def wearmon_judge(alert_score: float) -> Judge:
    return SlowDeviation(alert_score=alert_score)


def anchor_judge(name: str, value: float) -> Judge:
    """The anchor ``name`` with its own threshold (``ANCHOR_GRIDS[name][0]``) at ``value``."""
    if name == "nightsignal":
        return anchors.NightSignal(rise_bpm=value)
    return anchors.RestingHrCusum(h=value)


def counts_by_threshold(people: Sequence[Person], grid: Sequence[float],
                        make: Callable[[float], Judge]
                        ) -> dict[str, dict[float, protocol.Counts]]:
    """Each person's counts at each threshold of ``grid``."""
    return {p.name: {th: p.score(alert_days(make(th), p.days)) for th in grid} for p in people}


def wearmon_counts(people: Sequence[Person]) -> dict[str, dict[float, protocol.Counts]]:
    return counts_by_threshold(people, ALERT_SCORE_GRID, wearmon_judge)


def method_curves(people: Sequence[Person], baselines: bool,
                  pool: Mapping[str, Mapping[float, protocol.Counts]] | None = None,
                  wearmon: Mapping[str, Mapping[float, protocol.Counts]] | None = None,
                  pool_people: Sequence[Person] = (),
                  ) -> dict[str, dict[str, Any]]:
    """Wearmon's leave-one-out curve on ``people`` (``pool``: the counts of other people who
    alone choose the thresholds, e.g. the shipped population curve) and, with ``baselines``,
    each anchor's swept curve and each River candidate's curve, fitted like Wearmon's (on
    ``pool_people`` when given, else leave-one-patient-out)."""
    window_days = [n for p in people for n in p.window_days]
    mine = wearmon if wearmon is not None else wearmon_counts(people)
    loo = curves.leave_one_out_curve(mine, window_days, pool=pool)
    out = {"wearmon": {
        "name": NAMES["wearmon"],
        **curves.describe(loo, "alarm budget (false alert-days per 30 days)",
                          protocol.LEAVE_ONE_OUT if pool is None else FITTED_ELSEWHERE),
        "in_sample_curve": curves.operating_curve(mine, ALERT_SCORE_GRID, window_days),
    }}
    if not baselines:
        return out
    for name, (field, grid) in ANCHOR_GRIDS.items():
        def anchor(v: float, n: str = name) -> Judge:
            return anchor_judge(n, v)

        per = counts_by_threshold(people, grid, anchor)
        swept = curves.operating_curve(per, grid, window_days)
        out[name] = {"name": NAMES[name], **curves.describe(swept, field, "threshold swept"),
                     "paper_threshold": 4.0}
    for name, (field, grid) in river_candidates.CANDIDATE_GRIDS.items():
        def make(v: float, n: str = name) -> Judge:
            return river_candidates.candidate(n, v)

        per = counts_by_threshold(people, grid, make)
        others = counts_by_threshold(pool_people, grid, make) if pool_people else None
        fitted = curves.leave_one_out_curve(per, window_days, pool=others)
        out[name] = {"name": river_candidates.NAMES[name], "river_candidate": True,
                     **curves.describe(fitted, f"alarm budget ({field} fitted)",
                                       protocol.LEAVE_ONE_OUT if others is None
                                       else FITTED_ELSEWHERE)}
    return out


def headline_table(methods: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Sensitivity at 0.5 and 1.0 false alert-days per 30 days and the area, per method."""
    return [{"method": m["name"], "key": key, "protocol": m["protocol"],
             **{f"sensitivity_at_{r}": m["sensitivity_at"][r] for r in m["sensitivity_at"]},
             "mean_sensitivity_0.25_1.5": m["area"]["mean_sensitivity"],
             "cliffs": len(m["cliffs"])}
            for key, m in methods.items()]


def budget_curve_document(points: Sequence[Mapping[str, Any]],
                          held_out: Sequence[Mapping[str, Any]], people: int, command: str
                          ) -> dict[str, Any]:
    """The population curve file that ships in ``models/`` (``models.alarm_budget``)."""
    from wearmon.models.slow import SCORE_VERSION

    return {
        "what": ("Population curve of the illness score (SlowDeviation): for each alert "
                 "threshold, illness onsets flagged on days -7..+3 and false alert-days on days "
                 "<= -14 or >= +28 (assumed healthy), pooled over the people below. "
                 "models.alarm_budget maps a ward's budget (false alert-days per 30 days) to "
                 "the most sensitive threshold within it."),
        "data": f"covid-daily ({people} people; Mayer et al., mayercl/heart_rate_covid)",
        "made_by": command,
        "score_version": SCORE_VERSION,
        "held_out_note": ("held_out: per budget, what the people got when each was scored with "
                          "the threshold chosen on the others (leave-one-patient-out): the "
                          "sensitivity and false-alert rate to expect on people never seen."),
        "points": [{"alert_score": p["threshold"], "detected": p["detected"],
                    "events": p["events"], "false_days": p["false_days"],
                    "monitored_days": p["monitored_days"],
                    "sensitivity": p["sensitivity"],
                    "false_alert_days_per_30d": p["false_alert_days_per_30d"]}
                   for p in points],
        "held_out": [{"budget": p["threshold"], "sensitivity": p["sensitivity"],
                      "false_alert_days_per_30d": p["false_alert_days_per_30d"]}
                     for p in held_out],
    }
