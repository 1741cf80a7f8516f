"""Per-patient features in event time, computed on an upload's arrays at once.

``PatientFeatures.update(columns, utc_offset_ms)`` turns one upload into what the detectors
work on (``UploadFeatures``): the in-order samples as a ``SampleBlock`` (30-second rolling median
heart rate, steps in the last 10 minutes, at rest, local hour of day, wear), their beats, and
the minutes and days that closed (``core.minutes``: the one accumulator). One out-of-order
rule: samples at or before the patient's newest sample time are stored and rolled up into
minutes that are still open, but the detectors only move forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wearmon.models.base import BeatBlock, Day, Minute, SampleBlock
from wearmon.stream.core.minutes import (
    HOUR_MS,
    MINUTE_MS,
    DayAccumulator,
    OpenMinute,
    SampleArrays,
    add_samples,
)
from wearmon.stream.core.schema import Columns
from wearmon.stream.core.windows import recent_sum, rolling_median

HR_WINDOW_MS = 30_000
ACTIVITY_WINDOW_MS = 10 * MINUTE_MS
ROLLUP_GRACE_MS = 2 * MINUTE_MS
MAX_OPEN_MINUTES = 30
LIGHT_STEPS_10MIN = 300  # steps in 10 minutes below which activity counts as light


@dataclass(slots=True)
class UploadFeatures:
    """What one upload gives the detectors."""

    block: SampleBlock  # the in-order samples
    beats: BeatBlock  # their beats
    minutes: list[Minute] = field(default_factory=list)  # minutes that closed
    days: list[Day] = field(default_factory=list)  # days that closed


@dataclass(slots=True)
class PatientFeatures:
    """Rolling features of one patient (bounded: 30 s of heart rate, 10 minutes of steps, the
    open minutes and the day in progress).

    >>> from wearmon.stream.core.schema import Sample
    >>> f = PatientFeatures()
    >>> c = Columns.from_samples([Sample(t_ms=0, hr_bpm=70, steps=0),
    ...                           Sample(t_ms=5_000, hr_bpm=110, steps=12)])
    >>> b = f.update(c, utc_offset_ms=3_600_000).block
    >>> b.hr_bpm.tolist(), b.at_rest.tolist(), b.steps_recent.tolist(), b.hour_of_day.tolist()
    ([70.0, 90.0], [True, False], [0, 12], [1, 1])
    """

    hr_t: list[int] = field(default_factory=list)  # heart-rate readings of the last 30 s
    hr_v: list[float] = field(default_factory=list)
    step_minutes: list[list[int]] = field(default_factory=list)  # [minute_ms, steps], 10 min
    has_steps: bool = False
    last_t_ms: int = -1
    open_minutes: dict[int, OpenMinute] = field(default_factory=dict)
    closed_before_ms: int = -1  # minutes that start before this have closed
    day: DayAccumulator = field(default_factory=DayAccumulator)

    def update(self, columns: Columns, utc_offset_ms: int = 0) -> UploadFeatures:
        """Add one upload's (validated, sorted) samples; returns what the detectors see."""
        forward = columns.t_ms > self.last_t_ms
        late = columns.take(~forward) if not forward.all() else None
        new = columns.take(forward) if late is not None else columns
        block = self._block(new, utc_offset_ms)
        if len(new):
            add_samples(self.open_minutes, SampleArrays(
                new.t_ms, new.values, block.worn, block.hour_of_day, _context(block),
                block.at_rest, block.has_steps, block.steps_recent),
                utc_offset_ms, self.closed_before_ms)
            self._carry(new, block)
        if late is not None and len(late):
            add_samples(self.open_minutes, SampleArrays(
                late.t_ms, late.values, ~np.isnan(late.hr_bpm) | (late.rr_count > 0),
                np.zeros(len(late), np.int64)),
                utc_offset_ms, self.closed_before_ms)
        out = UploadFeatures(block=block, beats=new.beats())
        self._close(out, utc_offset_ms)
        return out

    def _block(self, c: Columns, utc_offset_ms: int) -> SampleBlock:
        t = c.t_ms
        has_hr = ~np.isnan(c.hr_bpm)
        hr = np.full(len(t), np.nan)
        if has_hr.any():
            carried = len(self.hr_t)
            times = np.concatenate((np.array(self.hr_t, dtype=np.int64), t[has_hr]))
            values = np.concatenate((np.array(self.hr_v), c.hr_bpm[has_hr]))
            hr[has_hr] = rolling_median(times, values, HR_WINDOW_MS)[carried:]
        steps = c.steps
        if self.has_steps:
            has_steps = np.ones(len(t), dtype=bool)
        else:
            has_steps = np.logical_or.accumulate(~np.isnan(steps))
        stepped = steps > 0  # NaN: no
        if self.step_minutes or stepped.any():
            earlier = np.array(self.step_minutes, dtype=np.int64).reshape(-1, 2)
            recent = recent_sum(t, t - t % MINUTE_MS, np.where(stepped, steps, 0.0),
                                ACTIVITY_WINDOW_MS, earlier[:, 0], earlier[:, 1])
        else:  # no steps in the last 10 minutes nor in this upload
            recent = np.zeros(len(t), dtype=np.int64)
        return SampleBlock(
            t_ms=t, hr_bpm=hr, spo2_pct=c.spo2_pct, resp_rate_brpm=c.resp_rate_brpm,
            skin_temp_c=c.skin_temp_c, steps_recent=recent, at_rest=has_steps & (recent == 0),
            hour_of_day=((t + utc_offset_ms) // HOUR_MS) % 24, worn=has_hr | (c.rr_count > 0),
            has_steps=has_steps,
        )

    def _carry(self, c: Columns, block: SampleBlock) -> None:
        """Keep what the next upload's windows need."""
        last = int(c.t_ms[-1])
        self.last_t_ms = last
        self.has_steps = bool(block.has_steps[-1])
        has_hr = ~np.isnan(c.hr_bpm)
        if has_hr.any():
            times = np.concatenate((np.array(self.hr_t, dtype=np.int64), c.t_ms[has_hr]))
            values = np.concatenate((np.array(self.hr_v), c.hr_bpm[has_hr]))
            keep = int(np.searchsorted(times, last - HR_WINDOW_MS, side="right"))
            self.hr_t, self.hr_v = times[keep:].tolist(), values[keep:].tolist()
        stepped = c.steps > 0  # NaN: no
        if stepped.any():
            minute = c.t_ms[stepped] - c.t_ms[stepped] % MINUTE_MS
            starts = np.flatnonzero(np.concatenate(([True], minute[1:] != minute[:-1])))
            sums = np.add.reduceat(c.steps[stepped], starts)
            for m, s in zip(minute[starts].tolist(), sums.tolist(), strict=True):
                if self.step_minutes and self.step_minutes[-1][0] == m:
                    self.step_minutes[-1][1] += int(s)
                else:
                    self.step_minutes.append([m, int(s)])
        if self.step_minutes and self.step_minutes[0][0] <= last - ACTIVITY_WINDOW_MS:
            self.step_minutes = [e for e in self.step_minutes if e[0] > last - ACTIVITY_WINDOW_MS]

    def _close(self, out: UploadFeatures, utc_offset_ms: int) -> None:
        """Close the minutes the newest event time has moved past, and the days they end."""
        horizon = self.last_t_ms - ROLLUP_GRACE_MS
        ready = sorted(m for m in self.open_minutes if m + MINUTE_MS <= horizon)
        extra = len(self.open_minutes) - len(ready) - MAX_OPEN_MINUTES
        if extra > 0:  # keep the newest MAX_OPEN_MINUTES at most
            ready = sorted({*ready, *sorted(self.open_minutes)[:extra]})
        for start in ready:
            opened = self.open_minutes.pop(start)
            minute = opened.close()
            out.minutes.append(minute)
            self.closed_before_ms = max(self.closed_before_ms, start + MINUTE_MS)
            day = self.day.add(minute, opened.day)
            if day is not None:
                out.days.append(day)

    def close_all(self) -> list[Minute]:
        """Close every open minute (end of a replay)."""
        out = UploadFeatures(block=SampleBlock.build([]), beats=BeatBlock.build([]))
        self.last_t_ms += ROLLUP_GRACE_MS + 2 * MINUTE_MS
        self._close(out, 0)
        return out.minutes

    def to_state(self) -> dict[str, Any]:
        return {
            "hr": [self.hr_t, self.hr_v],
            "steps": self.step_minutes,
            "has_steps": self.has_steps,
            "last_t_ms": self.last_t_ms,
            "open": [m.to_list() for m in self.open_minutes.values()],
            "closed_before": self.closed_before_ms,
            "day": self.day.to_state(),
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> PatientFeatures:
        f = cls()
        f.hr_t, f.hr_v = [int(t) for t in st["hr"][0]], [float(v) for v in st["hr"][1]]
        f.step_minutes = [[int(m), int(s)] for m, s in st["steps"]]
        f.has_steps = bool(st["has_steps"])
        f.last_t_ms = int(st["last_t_ms"])
        f.open_minutes = {int(v[0]): OpenMinute.from_list(v) for v in st["open"]}
        f.closed_before_ms = int(st["closed_before"])
        f.day = DayAccumulator.from_state(st["day"])
        return f


def _context(block: SampleBlock) -> np.ndarray:
    """Activity context of each sample: 0 unknown, 1 at rest, 2 lightly active, 3 active."""
    light = np.where(block.steps_recent < LIGHT_STEPS_10MIN, 2, 3)
    return np.where(~block.has_steps, 0, np.where(block.at_rest, 1, light)).astype(np.int64)
