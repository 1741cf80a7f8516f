"""Published rules, re-implemented from their papers' descriptions, used only as anchors.

``wearmon evaluate --baselines`` runs them on the same data in the same run as Wearmon, so a
reader sees at once whether Wearmon does better. Their settings are the papers' (fixed, never
fitted here). Illness rules judge the same ``Day`` values the stream hands ``SlowDeviation``;
an alert is raised on the first day of each run of days on which the rule holds (the same
"one alert per episode" counting as Wearmon's, without its refractory week).

* ``NightSignal`` (Alavi et al., Nature Medicine 2022): the night's resting heart rate at least
  ``rise_bpm`` (4) above the running median of all earlier nights, on ``nights`` (2) nights in
  a row.
* ``RestingHrCusum`` (the one-sided CuSum of Mishra et al., Nature Biomedical Engineering 2020,
  with textbook settings k = 0.5, h = 4): standardised resting heart rate against the mean and
  SD of the previous 28 nights; alarm when the sum exceeds ``h``, then restart.
* ``nrmssd_rule`` (the RMSSD criterion of Dash et al., Ann Biomed Eng 2009, alone): AF while the
  RMSSD of the last 128 beats divided by their mean RR exceeds 0.1.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from wearmon.models.base import BoolArray, Day, IntArray

ILLNESS_ANCHORS = ("nightsignal", "rhr_cusum")
RHYTHM_ANCHORS = ("nrmssd_rule",)
MIN_NIGHT_MINUTES = 30  # the same "can't assess" bar as Wearmon's


def night_value(day: Day) -> float | None:
    """The night's resting heart rate, or None when too little of it was measured."""
    return day.rest_hr_bpm if day.rest_minutes >= MIN_NIGHT_MINUTES else None


@dataclass(slots=True)
class NightSignal:
    """Two nights in a row ≥ 4 bpm above the running median of all earlier nights.

    >>> ns = NightSignal(min_nights=3)
    >>> nights = [60, 61, 60, 65, 66, 66, 60]
    >>> [ns.judge_day(Day(d, 0, hr, 300, None, 900)) for d, hr in enumerate(nights)]
    [False, False, False, False, True, False, False]
    """

    rise_bpm: float = 4.0
    nights: int = 2
    min_nights: int = 10
    history: list[float] = field(default_factory=list)
    run: int = 0

    def judge_day(self, day: Day) -> bool:
        """True when an alert is raised on this day."""
        value = night_value(day)
        if value is None:
            return False
        high = (len(self.history) >= self.min_nights
                and value - statistics.median(self.history) >= self.rise_bpm)
        self.history.append(value)
        self.run = self.run + 1 if high else 0
        return self.run == self.nights


@dataclass(slots=True)
class RestingHrCusum:
    """One-sided CuSum of resting heart rate standardised against the previous 28 nights.

    >>> cs = RestingHrCusum(min_nights=5)
    >>> nights = [60, 61, 59, 60, 61, 60, 64, 64, 64]
    >>> [cs.judge_day(Day(d, 0, hr, 300, None, 900)) for d, hr in enumerate(nights)]
    [False, False, False, False, False, False, False, True, False]
    """

    k: float = 0.5
    h: float = 4.0
    history_nights: int = 28
    min_nights: int = 10
    min_sd_bpm: float = 1.0
    history: deque[float] = field(default_factory=deque)
    total: float = 0.0

    def judge_day(self, day: Day) -> bool:
        value = night_value(day)
        if value is None:
            return False
        alarm = False
        if len(self.history) >= self.min_nights:
            mean = statistics.fmean(self.history)
            sd = max(statistics.stdev(self.history), self.min_sd_bpm)
            self.total = max(0.0, self.total + (value - mean) / sd - self.k)
            alarm = self.total > self.h
            if alarm:
                self.total = 0.0
        self.history.append(value)
        while len(self.history) > self.history_nights:
            self.history.popleft()
        return alarm


def illness_anchor(name: str) -> NightSignal | RestingHrCusum:
    """A fresh anchor of that name (one per patient)."""
    return {"nightsignal": NightSignal, "rhr_cusum": RestingHrCusum}[name]()


def alert_days(anchor: NightSignal | RestingHrCusum, days: list[Day]) -> list[int]:
    """The days (``Day.day``) on which ``anchor`` raises an alert, in order."""
    return [d.day for d in days if anchor.judge_day(d)]


def nrmssd_rule(rr_ms: IntArray, window: int = 128, threshold: float = 0.1) -> BoolArray:
    """The AF decision at each beat: nRMSSD of the last ``window`` beats above ``threshold``.

    >>> rng = np.random.default_rng(3)
    >>> rr = np.concatenate([800 + rng.integers(-10, 11, 200), rng.integers(400, 1100, 200)])
    >>> decided = nrmssd_rule(rr)
    >>> bool(decided[:200].any()), bool(decided[-50:].all())
    (False, True)
    """
    rr = np.asarray(rr_ms, dtype=np.float64)
    out = np.zeros(len(rr), dtype=bool)
    if len(rr) < window:
        return out
    sq = np.concatenate(([0.0], np.cumsum(np.diff(rr) ** 2)))
    total = np.concatenate(([0.0], np.cumsum(rr)))
    end = np.arange(window - 1, len(rr))  # the window's last beat
    rmssd = np.sqrt((sq[end] - sq[end - window + 1]) / (window - 1))
    mean = (total[end + 1] - total[end + 1 - window]) / window
    out[window - 1:] = rmssd / mean > threshold
    return out
