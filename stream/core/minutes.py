"""The one accumulator of minutes and days: samples → open minutes → closed ``Minute``s → ``Day``s.

An upload's samples are aggregated per minute with array reductions and merged into the
patient's open minutes. A minute closes once the patient's newest event time has moved past its
end by a grace period; closed minutes feed the minute detectors, the ``rollup_1m`` points and
the day summary. A monitoring day runs from ``DAY_START_HOUR`` local time to the same hour next
day; it closes when the first minute of a later day closes. Samples that arrive for a minute
that has already closed are stored as vitals but not rolled up again (the rollup is not
rewritten from partial data).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from wearmon.models.base import BoolArray, Day, IntArray, Minute

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
DAY_START_HOUR = 7


def hist_median(hist: dict[int, int]) -> float | None:
    """Median of a histogram {value: count}.

    >>> hist_median({60: 2, 62: 1, 70: 1})
    61.0
    >>> hist_median({}) is None
    True
    """
    n = sum(hist.values())
    if n == 0:
        return None
    lo_rank, hi_rank = (n - 1) // 2, n // 2
    lo = hi = None
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if lo is None and seen > lo_rank:
            lo = value
        if seen > hi_rank:
            hi = value
            break
    assert lo is not None and hi is not None
    return (lo + hi) / 2


def monitoring_day(t_ms: int, utc_offset_ms: int) -> int:
    """Index of the monitoring day (local ``DAY_START_HOUR`` to the same hour next day)."""
    return (t_ms + utc_offset_ms - DAY_START_HOUR * HOUR_MS) // DAY_MS


@dataclass(slots=True)
class OpenMinute:
    """Running aggregates of one minute that has not closed yet."""

    start_ms: int
    hour_of_day: int
    day: int
    hr_n: int = 0
    hr_sum: float = 0.0
    hr_min: float = float("inf")
    hr_max: float = float("-inf")
    steps: int = 0
    steps_n: int = 0
    spo2_n: int = 0
    spo2_sum: float = 0.0
    spo2_min: float = float("inf")
    worn: bool = False
    has_steps: bool = False
    at_rest: bool = True
    context: int = -1  # at the newest sample
    clean: bool = True
    steps_recent: int = 0

    def close(self) -> Minute:
        return Minute(
            start_ms=self.start_ms, hour_of_day=self.hour_of_day, hr_samples=self.hr_n,
            hr_mean_bpm=self.hr_sum / self.hr_n if self.hr_n else None,
            hr_min_bpm=self.hr_min if self.hr_n else None,
            hr_max_bpm=self.hr_max if self.hr_n else None,
            steps=self.steps, steps_samples=self.steps_n, spo2_samples=self.spo2_n,
            spo2_mean_pct=self.spo2_sum / self.spo2_n if self.spo2_n else None,
            spo2_min_pct=self.spo2_min if self.spo2_n else None,
            has_steps=self.has_steps, steps_recent=self.steps_recent,
            context=max(self.context, 0), clean=self.clean and self.context >= 0,
            at_rest=self.has_steps and self.at_rest, worn=self.worn,
        )

    def to_list(self) -> list[Any]:
        """JSON-safe: infinities (no value yet) become None."""
        return [None if isinstance(v, float) and math.isinf(v) else v for v in (
            self.start_ms, self.hour_of_day, self.day, self.hr_n, self.hr_sum, self.hr_min,
            self.hr_max, self.steps, self.steps_n, self.spo2_n, self.spo2_sum, self.spo2_min,
            self.worn, self.has_steps, self.at_rest, self.context, self.clean,
            self.steps_recent)]

    @classmethod
    def from_list(cls, v: list[Any]) -> OpenMinute:
        m = cls(*v)
        m.hr_min = np.inf if m.hr_min is None else m.hr_min
        m.hr_max = -np.inf if m.hr_max is None else m.hr_max
        m.spo2_min = np.inf if m.spo2_min is None else m.spo2_min
        return m


#: Keys of several patients' samples in one array: ``segment * SEGMENT + t_ms`` (event times stay
#: below 2**42 ms, the year 2109), so that sorting, windows and groups never cross patients.
SEGMENT = 1 << 42


@dataclass(slots=True)
class SampleArrays:
    """The arrays of samples that minutes aggregate, for one patient or several (``segment``:
    which patient each sample is of; samples sorted by segment, then time); ``values`` are the
    value rows (heart rate, steps, SpO2 first)."""

    t_ms: IntArray
    values: npt.NDArray[np.float64]
    worn: BoolArray
    hour_of_day: IntArray
    segment: IntArray | None = None  # None: one patient
    context: IntArray | None = None  # None: late samples (values only, no activity context)
    at_rest: BoolArray | None = None
    has_steps: BoolArray | None = None
    steps_recent: IntArray | None = None


def add_samples(opened: Sequence[dict[int, OpenMinute]], s: SampleArrays,
                utc_offset_ms: Sequence[int], closed_before_ms: Sequence[int]) -> None:
    """Aggregate samples per patient and minute (array reductions) into each patient's open
    minutes (``opened[segment]``).

    Samples of minutes that already closed (before ``closed_before_ms``) are left out; late
    samples (no ``context``) only add to minutes that are still open.
    """
    if not len(s.t_ms):
        return
    minute = s.t_ms - s.t_ms % MINUTE_MS
    key = minute if s.segment is None else s.segment * SEGMENT + minute
    if key[0] == key[-1]:
        starts = np.zeros(1, dtype=np.int64)
    else:
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    ends = np.concatenate((starts[1:], [len(minute)])) - 1
    v = s.values[:3]  # heart rate, steps, SpO2
    present = ~np.isnan(v)
    counts = np.add.reduceat(present, starts, axis=1).T.tolist()
    sums = np.add.reduceat(np.where(present, v, 0.0), starts, axis=1).T.tolist()
    lows = np.fmin.reduceat(v, starts, axis=1).T.tolist()
    highs = np.fmax.reduceat(v[0], starts).tolist()
    worn_any = np.logical_or.reduceat(s.worn, starts).tolist()
    segments = [0] * len(starts) if s.segment is None else s.segment[starts].tolist()
    live = s.context is not None
    if live:
        assert s.context is not None and s.at_rest is not None
        assert s.has_steps is not None and s.steps_recent is not None
        ctx_low = np.minimum.reduceat(s.context, starts).tolist()
        ctx_high = np.maximum.reduceat(s.context, starts).tolist()
        rest = (np.add.reduceat(s.at_rest, starts) == ends - starts + 1).tolist()
        ctx_last = s.context[ends].tolist()
        has_steps_last = s.has_steps[ends].tolist()
        recent_last = s.steps_recent[ends].tolist()
    for j, (i, start_ms, k) in enumerate(zip(starts.tolist(), minute[starts].tolist(), segments,
                                             strict=True)):
        m = opened[k].get(start_ms)
        if m is None:
            if start_ms < closed_before_ms[k] or not live:
                continue
            m = opened[k][start_ms] = OpenMinute(start_ms, int(s.hour_of_day[i]),
                                                 _day_of(start_ms, utc_offset_ms[k]))
        hr_n, steps_n, spo2_n = counts[j]
        hr_sum, steps, spo2_sum = sums[j]
        if hr_n:
            m.hr_n += int(hr_n)
            m.hr_sum += hr_sum
            m.hr_min = min(m.hr_min, lows[j][0])
            m.hr_max = max(m.hr_max, highs[j])
        if steps_n:
            m.steps += int(steps)
            m.steps_n += int(steps_n)
        if spo2_n:
            m.spo2_n += int(spo2_n)
            m.spo2_sum += spo2_sum
            m.spo2_min = min(m.spo2_min, lows[j][2])
        m.worn = m.worn or worn_any[j]
        if live:
            low, high = ctx_low[j], ctx_high[j]
            m.clean = m.clean and low == high and m.context in (-1, low)
            m.context = ctx_last[j]
            m.at_rest = m.at_rest and rest[j]
            m.has_steps = m.has_steps or has_steps_last[j]
            m.steps_recent = recent_last[j]


def _day_of(start_ms: int, utc_offset_ms: int) -> int:
    return monitoring_day(start_ms, utc_offset_ms)


@dataclass(slots=True)
class DayAccumulator:
    """The monitoring day in progress, summed from its closed minutes."""

    day: int = -1
    night_hist: dict[int, int] = field(default_factory=dict)  # resting night minutes by bpm
    steps: int = 0
    steps_known: bool = False
    worn_minutes: int = 0

    def add(self, minute: Minute, day: int) -> Day | None:
        """Add one closed minute; returns the previous day when this minute starts a new one."""
        closed = None
        if day != self.day:
            if self.day >= 0 and day > self.day:
                closed = self.close(minute.start_ms, minute.hour_of_day)
            if day > self.day:
                self.day, self.night_hist = day, {}
                self.steps, self.steps_known, self.worn_minutes = 0, False, 0
            else:
                return None  # a minute of a day already closed (out of order): not counted
        if minute.worn:
            self.worn_minutes += 1
        if minute.steps_samples:
            self.steps += minute.steps
            self.steps_known = True
        resting = minute.at_rest if minute.has_steps else True
        if (minute.hour_of_day < DAY_START_HOUR and minute.worn and resting
                and minute.hr_mean_bpm is not None):
            value = round(minute.hr_mean_bpm)
            self.night_hist[value] = self.night_hist.get(value, 0) + 1
        return closed

    def close(self, end_ms: int, hour_of_day: int) -> Day:
        return Day(
            day=self.day, end_ms=end_ms, rest_hr_bpm=hist_median(self.night_hist),
            rest_minutes=sum(self.night_hist.values()),
            steps=self.steps if self.steps_known else None, worn_minutes=self.worn_minutes,
            hour_of_day=hour_of_day,
        )

    def to_state(self) -> list[Any]:
        return [self.day, {str(k): v for k, v in self.night_hist.items()}, self.steps,
                self.steps_known, self.worn_minutes]

    @classmethod
    def from_state(cls, st: list[Any]) -> DayAccumulator:
        return cls(int(st[0]), {int(k): int(v) for k, v in st[1].items()}, int(st[2]),
                   bool(st[3]), int(st[4]))
