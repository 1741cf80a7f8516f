"""River's own online tools as illness-score candidates, judged in the same harness.

Each candidate judges the same closed days (``Day``) as Wearmon's illness score and the
published rules, scores a night before learning from it, never learns from a flagged night,
skips nights it cannot assess (fewer than ``MIN_NIGHT_MINUTES`` resting minutes), and raises
one alert on the first day of each run of flagged nights (the anchors' counting). Their
thresholds are fitted like Wearmon's (leave-one-patient-out by alarm budget), so the curves
compare like with like:

* ``GaussianNight`` — ``river.anomaly.GaussianScorer`` over the last ``window`` assessed nights'
  resting heart rate (a rolling Gaussian): flagged when the night is above the mean and its
  two-sided tail score reaches the threshold;
* ``ForecastNight`` — ``river.time_series.HoltWinters`` (level and trend) forecasts the night's
  resting heart rate; the residual, in units of the residuals' own spread
  (``river.stats.EWVar``), is the score;
* ``QuantileScore`` — Wearmon's score (resting-HR rise + step decline) with River's
  ``stats.RollingQuantile`` for the baselines: median of the last 28 nights and the
  interquartile range as the spread (no population prior, no smoothing).

And one minute-level candidate, against the contextual heart rate and the clinical bands:

* ``MinuteForest`` — ``river.anomaly.HalfSpaceTrees`` on each worn minute's heart rate, steps
  and hour of day (as a point on the clock); an alert when the anomaly score stays at or above
  the threshold for ``persist`` minutes. Scored on the normal days (alerts per patient-day) and
  the simulated events (recall) at each threshold of ``MINUTE_GRID``.

Only the evaluation uses them; a candidate that wins moves into ``models/``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from river import anomaly, stats, time_series

from wearmon.models.base import Day, Finding, Minute, Severity
from wearmon.models.slow import steps_decline

MIN_NIGHT_MINUTES = 30
CANDIDATE_GRIDS: dict[str, tuple[str, tuple[float, ...]]] = {
    "river_gaussian": ("tail score", (0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995,
                                      0.998, 0.999, 0.9995, 0.9999)),
    "river_forecast": ("residual (SD)", tuple(x / 4 for x in range(4, 33))),
    "river_quantiles": ("score", tuple(x / 4 for x in range(4, 33))),
}
NAMES = {
    "river_gaussian": "River GaussianScorer (night's resting HR)",
    "river_forecast": "River HoltWinters forecast residual (night's resting HR)",
    "river_quantiles": "River RollingQuantile baselines (resting HR + steps)",
}


def _night(day: Day) -> float | None:
    return day.rest_hr_bpm if day.rest_minutes >= MIN_NIGHT_MINUTES else None


@dataclass(slots=True)
class Episodes:
    """One alert per run of flagged nights; flagged nights are not learned."""

    flagged_before: bool = False

    def decide(self, flagged: bool) -> bool:
        alert = flagged and not self.flagged_before
        self.flagged_before = flagged
        return alert


@dataclass(slots=True)
class GaussianNight:
    """A rolling Gaussian of the last ``window`` learned nights (River's ``GaussianScorer``).

    >>> g = GaussianNight(0.99)
    >>> [g.judge_day(Day(d, 0, 60 + d % 2, 300, None, 900)) for d in range(8)] == [False] * 8
    True
    >>> g.judge_day(Day(8, 0, 70, 300, None, 900))
    True
    """

    threshold: float
    window: int = 28
    grace: int = 5
    scorer: anomaly.GaussianScorer = field(init=False)
    episodes: Episodes = field(default_factory=Episodes)

    def __post_init__(self) -> None:
        self.scorer = anomaly.GaussianScorer(window_size=self.window, grace_period=self.grace)

    def judge_day(self, day: Day) -> bool:
        value = _night(day)
        if value is None:
            return False
        gaussian: Any = self.scorer.gaussian  # a rolling river.proba.Gaussian
        mean = float(gaussian.mu) if gaussian.n_samples else value
        flagged = value > mean and self.scorer.score_one(None, value) >= self.threshold
        if not flagged:
            self.scorer.learn_one(None, value)
        return self.episodes.decide(flagged)


@dataclass(slots=True)
class ForecastNight:
    """HoltWinters (level + trend) forecast of the night; the residual in its own SDs.

    >>> f = ForecastNight(3.0)
    >>> [f.judge_day(Day(d, 0, 60 + d % 2, 300, None, 900)) for d in range(10)] == [False] * 10
    True
    >>> f.judge_day(Day(10, 0, 72, 300, None, 900))
    True
    """

    threshold: float
    alpha: float = 0.2
    beta: float = 0.05
    grace: int = 5
    min_sd_bpm: float = 1.0
    model: time_series.HoltWinters = field(init=False)
    residuals: stats.EWVar = field(default_factory=lambda: stats.EWVar(fading_factor=0.1))
    learned: int = 0
    episodes: Episodes = field(default_factory=Episodes)

    def __post_init__(self) -> None:
        self.model = time_series.HoltWinters(alpha=self.alpha, beta=self.beta)

    def judge_day(self, day: Day) -> bool:
        value = _night(day)
        if value is None:
            return False
        flagged = False
        if self.learned >= self.grace:
            residual = value - self.model.forecast(horizon=1)[0]
            sd = max(math.sqrt(self.residuals.get()), self.min_sd_bpm)
            flagged = residual / sd >= self.threshold
            if not flagged:
                self.residuals.update(residual)
        if not flagged:
            self.model.learn_one(value)
            self.learned += 1
        return self.episodes.decide(flagged)


@dataclass(slots=True)
class QuantileScore:
    """Resting-HR rise over the rolling median in IQR units plus the step decline.

    >>> q = QuantileScore(3.0)
    >>> [q.judge_day(Day(d, 0, 60 + d % 3, 300, 8000, 900)) for d in range(10)] == [False] * 10
    True
    >>> q.judge_day(Day(10, 0, 68, 300, 2000, 900))
    True
    """

    threshold: float
    window: int = 28
    grace: int = 5
    min_sd_bpm: float = 1.0
    steps_scale: float = 0.35
    quantiles: dict[float, stats.RollingQuantile] = field(init=False)
    steps_median: stats.RollingQuantile = field(init=False)
    learned: int = 0
    steps_learned: int = 0
    episodes: Episodes = field(default_factory=Episodes)

    def __post_init__(self) -> None:
        self.quantiles = {q: stats.RollingQuantile(q=q, window_size=self.window)
                          for q in (0.25, 0.5, 0.75)}
        self.steps_median = stats.RollingQuantile(q=0.5, window_size=self.window)

    def judge_day(self, day: Day) -> bool:
        value = _night(day)
        if value is None:
            return False
        steps = day.steps if day.worn_minutes >= 120 else None
        flagged = False
        if self.learned >= self.grace:
            q25, q50, q75 = (float(self.quantiles[q].get() or 0.0) for q in (0.25, 0.5, 0.75))
            sd = max((q75 - q25) / 1.349, self.min_sd_bpm)
            score = (value - q50) / sd
            if steps is not None and self.steps_learned >= self.grace:
                usual = float(self.steps_median.get() or 0.0)
                score += steps_decline(steps, usual, self.steps_scale)
            flagged = score >= self.threshold
        if not flagged:
            for q in self.quantiles.values():
                q.update(value)
            self.learned += 1
            if steps is not None:
                self.steps_median.update(steps)
                self.steps_learned += 1
        return self.episodes.decide(flagged)


MINUTE_GRID = (0.8, 0.9, 0.95, 0.98)
MINUTE_LIMITS: dict[Hashable, tuple[float, float]] = {
    "hr": (30.0, 200.0), "steps": (0.0, 200.0), "clock_x": (-1.0, 1.0), "clock_y": (-1.0, 1.0)}


@dataclass(slots=True)
class MinuteForest:
    """HalfSpaceTrees over minute features; ``warmup`` learned minutes before scoring.

    >>> f = MinuteForest(0.9)
    >>> f.model.n_trees, f.model.height
    (10, 8)
    """

    threshold: float
    persist: int = 10
    warmup: int = 500
    model: anomaly.HalfSpaceTrees = field(init=False)
    learned: int = 0
    run: int = 0

    def __post_init__(self) -> None:
        self.model = anomaly.HalfSpaceTrees(n_trees=10, height=8, window_size=250,
                                            limits=MINUTE_LIMITS, seed=1)

    def observe_minute(self, minute: Minute) -> bool:
        """True while an alert is due (the score has stayed high ``persist`` minutes)."""
        if minute.hr_mean_bpm is None or not minute.worn:
            self.run = 0
            return False
        angle = 2 * math.pi * minute.hour_of_day / 24
        x = {"hr": minute.hr_mean_bpm, "steps": float(minute.steps), "clock_x": math.cos(angle),
             "clock_y": math.sin(angle)}
        flagged = self.learned >= self.warmup and self.model.score_one(x) >= self.threshold
        self.run = self.run + 1 if flagged else 0
        if not flagged:
            self.model.learn_one(x)
            self.learned += 1
        return self.run >= self.persist


def minute_findings(minutes: list[Minute], threshold: float) -> list[Finding]:
    """The forest's findings over one patient's minutes (one per minute while due)."""
    forest = MinuteForest(threshold)
    return [Finding("river_hst", m.end_ms, Severity.WARNING, threshold, m.hr_mean_bpm or 0.0,
                    None, "River HalfSpaceTrees: minute unusual for this patient",
                    kind="unusual_minute")
            for m in minutes if forest.observe_minute(m)]


def candidate(name: str, threshold: float) -> GaussianNight | ForecastNight | QuantileScore:
    """A fresh candidate of that name (one per person) at ``threshold``."""
    kinds = {"river_gaussian": GaussianNight, "river_forecast": ForecastNight,
             "river_quantiles": QuantileScore}
    return kinds[name](threshold)
