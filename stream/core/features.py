"""Per-patient features in event time, computed on the arrays of many uploads at once.

``update_many(features, columns, offsets)`` turns the uploads of several patients (one each)
into what the detectors work on: the in-order samples of all of them as one ``SampleBlock``
(30-second rolling median heart rate, steps in the last 10 minutes, at rest, local hour of day,
wear) with each upload's span in ``starts``, and per upload its beats and the minutes and days
that closed (``core.minutes``: the one accumulator). Windows and groups run over the whole block
with keys ``patient * SEGMENT + t_ms`` (``core.minutes.SEGMENT``), so they never cross patients;
only what each patient carries to its next upload is handled one patient at a time.
``PatientFeatures.update`` is the same for one upload. One out-of-order rule: samples at or
before the patient's newest sample time are stored and rolled up into minutes that are still
open, but the detectors only move forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wearmon.models.base import BeatBlock, Day, IntArray, Minute, SampleBlock
from wearmon.stream.core.minutes import (
    HOUR_MS,
    MINUTE_MS,
    SEGMENT,
    DayAccumulator,
    OpenMinute,
    SampleArrays,
    add_samples,
)
from wearmon.stream.core.schema import HR, STEPS, Columns
from wearmon.stream.core.windows import rolling_median

HR_WINDOW_MS = 30_000
ACTIVITY_WINDOW_MS = 10 * MINUTE_MS
ROLLUP_GRACE_MS = 2 * MINUTE_MS
MAX_OPEN_MINUTES = 30
LIGHT_STEPS_10MIN = 300  # steps in 10 minutes below which activity counts as light


@dataclass(slots=True)
class UploadFeatures:
    """What one upload gives the detectors (its samples are ``block[starts[k]:starts[k+1]]`` of
    the batch)."""

    beats: BeatBlock  # the in-order samples' beats
    minutes: list[Minute] = field(default_factory=list)  # minutes that closed
    days: list[Day] = field(default_factory=list)  # days that closed


@dataclass(slots=True)
class BatchFeatures:
    """The features of several patients' uploads: one block, one span per upload."""

    block: SampleBlock
    starts: IntArray  # upload k's samples: block[starts[k]:starts[k + 1]]
    uploads: list[UploadFeatures]

    def block_of(self, k: int) -> SampleBlock:
        return self.block.slice(int(self.starts[k]), int(self.starts[k + 1]))


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

    def update(self, columns: Columns, utc_offset_ms: int = 0) -> BatchFeatures:
        """Add one upload's (validated, sorted) samples; returns what the detectors see."""
        return update_many([self], [columns], [utc_offset_ms])

    def close_minutes(self, out: UploadFeatures, utc_offset_ms: int) -> None:
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
        out = UploadFeatures(beats=BeatBlock.build([]))
        self.last_t_ms += ROLLUP_GRACE_MS + 2 * MINUTE_MS
        self.close_minutes(out, 0)
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


def update_many(features: Sequence[PatientFeatures], columns: Sequence[Columns],
                offsets: Sequence[int]) -> BatchFeatures:
    """Add one upload for each of several patients (``features[k]`` gets ``columns[k]``, with the
    patient's UTC offset ``offsets[k]``); returns what the detectors see."""
    count = len(features)
    if count == 1:
        c = columns[0]
        t, values, rr, rr_count = c.t_ms, c.values, c.rr_ms, c.rr_count
        segment = np.zeros(len(t), dtype=np.int64)
    else:
        t = np.concatenate([c.t_ms for c in columns])
        values = np.concatenate([c.values for c in columns], axis=1)
        rr = np.concatenate([c.rr_ms for c in columns])
        rr_count = np.concatenate([c.rr_count for c in columns])
        segment = np.repeat(np.arange(count), [len(c) for c in columns])
    last = np.array([f.last_t_ms for f in features], dtype=np.int64)
    forward = t > last[segment]
    if not forward.all():
        _add_late(features, columns, offsets)
        rr = rr[np.repeat(forward, rr_count)] if len(rr) else rr
        t, values, rr_count, segment = t[forward], values[:, forward], rr_count[forward], \
            segment[forward]
    starts = np.searchsorted(segment, np.arange(count + 1))
    block, context = _block(features, t, values, rr_count, segment, offsets)
    add_samples([f.open_minutes for f in features], SampleArrays(
        t, values, block.worn, block.hour_of_day, segment, context, block.at_rest,
        block.has_steps, block.steps_recent), offsets, [f.closed_before_ms for f in features])
    _carry(features, t, values, segment, starts, block)
    beats = Columns(t, values, rr, rr_count)
    uploads = []
    beat_starts = np.concatenate(([0], np.cumsum(rr_count)))[starts]
    moving = np.repeat(block.has_steps & ~block.at_rest, rr_count) if len(rr) else None
    for k, f in enumerate(features):
        lo, hi = int(starts[k]), int(starts[k + 1])
        b_lo, b_hi = int(beat_starts[k]), int(beat_starts[k + 1])
        mine = Columns(t[lo:hi], values[:, lo:hi], rr[b_lo:b_hi],
                       rr_count[lo:hi]) if count > 1 else beats
        found = mine.beats()
        if moving is not None:
            found = BeatBlock(found.t_ms, found.rr_ms, moving[b_lo:b_hi])
        out = UploadFeatures(beats=found)
        f.close_minutes(out, offsets[k])
        uploads.append(out)
    return BatchFeatures(block, starts, uploads)


def _add_late(features: Sequence[PatientFeatures], columns: Sequence[Columns],
              offsets: Sequence[int]) -> None:
    """Samples at or before a patient's newest: into its minutes that are still open."""
    for f, c, offset in zip(features, columns, offsets, strict=True):
        late = c.t_ms <= f.last_t_ms
        if late.any():
            old = c.take(late)
            add_samples([f.open_minutes], SampleArrays(
                old.t_ms, old.values, ~np.isnan(old.hr_bpm) | (old.rr_count > 0),
                np.zeros(len(old), np.int64)), [offset], [f.closed_before_ms])


def _block(features: Sequence[PatientFeatures], t: IntArray, values: np.ndarray,
           rr_count: IntArray, segment: IntArray, offsets: Sequence[int]
           ) -> tuple[SampleBlock, IntArray]:
    key = segment * SEGMENT + t
    hr_raw = values[HR]
    has_hr = ~np.isnan(hr_raw)
    hr = np.full(len(t), np.nan)
    if has_hr.any():
        hr[has_hr] = _median_with_carry(features, key[has_hr], hr_raw[has_hr])
    steps = values[STEPS]
    carried_steps = np.array([f.has_steps for f in features])
    if carried_steps.all():
        has_steps = np.ones(len(t), dtype=bool)
    else:
        seen = np.concatenate(([0], np.cumsum(~np.isnan(steps))))
        first = np.searchsorted(segment, segment)  # each sample's segment start
        has_steps = (seen[1:] - seen[first] > 0) | carried_steps[segment]
    stepped = steps > 0  # NaN: no
    if stepped.any() or any(f.step_minutes for f in features):
        recent = _recent_steps(features, key, segment, np.where(stepped, steps, 0.0))
    else:  # no steps in the last 10 minutes nor in these uploads
        recent = np.zeros(len(t), dtype=np.int64)
    offset = np.array(offsets, dtype=np.int64)[segment]
    at_rest = has_steps & (recent == 0)
    light = np.where(recent < LIGHT_STEPS_10MIN, 2, 3)
    context = np.where(~has_steps, 0, np.where(at_rest, 1, light)).astype(np.int64)
    block = SampleBlock(
        t_ms=t, hr_bpm=hr, spo2_pct=values[2], resp_rate_brpm=values[3], skin_temp_c=values[4],
        steps_recent=recent, at_rest=at_rest, hour_of_day=((t + offset) // HOUR_MS) % 24,
        worn=has_hr | (rr_count > 0), has_steps=has_steps, utc_offset_ms=offset)
    return block, context


def _median_with_carry(features: Sequence[PatientFeatures], key: IntArray,
                       values: np.ndarray) -> np.ndarray:
    """The 30-second rolling median at each new reading, the carried readings included."""
    carried_key = [k * SEGMENT + t for k, f in enumerate(features) for t in f.hr_t]
    if not carried_key:
        return rolling_median(key, values, HR_WINDOW_MS)
    all_key = np.concatenate((np.array(carried_key, dtype=np.int64), key))
    all_values = np.concatenate((np.array([v for f in features for v in f.hr_v]), values))
    order = np.argsort(all_key, kind="stable")
    median = rolling_median(all_key[order], all_values[order], HR_WINDOW_MS)
    is_new = order >= len(carried_key)
    return median[is_new]


def _recent_steps(features: Sequence[PatientFeatures], key: IntArray, segment: IntArray,
                  amounts: np.ndarray) -> IntArray:
    """Steps in the minutes that start after ``t - 10 min``, up to and including each sample,
    the carried minutes included (as entries of their own, before the new samples)."""
    carried = [(k * SEGMENT + m, s) for k, f in enumerate(features) for m, s in f.step_minutes]
    bucket = key - key % MINUTE_MS
    if carried:
        extra = np.array(carried, dtype=np.int64).reshape(-1, 2)
        all_key = np.concatenate((extra[:, 0], key))
        all_bucket = np.concatenate((extra[:, 0], bucket))
        all_amounts = np.concatenate((extra[:, 1].astype(np.float64), amounts))
        order = np.argsort(all_key, kind="stable")
        all_key, all_bucket, all_amounts = all_key[order], all_bucket[order], all_amounts[order]
        mine = order >= len(carried)
    else:
        all_key, all_bucket, all_amounts, mine = key, bucket, amounts, None
    total = np.cumsum(all_amounts)
    first = np.searchsorted(all_bucket, all_key - ACTIVITY_WINDOW_MS, side="right")
    recent = total - np.where(first > 0, total[np.maximum(first - 1, 0)], 0.0)
    return (recent if mine is None else recent[mine]).astype(np.int64)


def _carry(features: Sequence[PatientFeatures], t: IntArray, values: np.ndarray,
           segment: IntArray, starts: IntArray, block: SampleBlock) -> None:
    """Keep what each patient's next upload needs: the newest time, whether steps are
    reported, the last 30 s of heart rate and the last 10 minutes of steps."""
    hr = values[HR]
    steps = values[STEPS]
    for k, f in enumerate(features):
        lo, hi = int(starts[k]), int(starts[k + 1])
        if lo == hi:
            continue
        last = int(t[hi - 1])
        f.last_t_ms = last
        f.has_steps = bool(block.has_steps[hi - 1])
        mine_hr = hr[lo:hi]
        with_hr = ~np.isnan(mine_hr)
        if with_hr.any():
            times = np.concatenate((np.array(f.hr_t, dtype=np.int64), t[lo:hi][with_hr]))
            kept = np.concatenate((np.array(f.hr_v), mine_hr[with_hr]))
            cut = int(np.searchsorted(times, last - HR_WINDOW_MS, side="right"))
            f.hr_t, f.hr_v = times[cut:].tolist(), kept[cut:].tolist()
        mine_steps = steps[lo:hi]
        stepped = mine_steps > 0
        if stepped.any():
            when = t[lo:hi][stepped]
            minute = when - when % MINUTE_MS
            first = np.flatnonzero(np.concatenate(([True], minute[1:] != minute[:-1])))
            sums = np.add.reduceat(mine_steps[stepped], first)
            for m, s in zip(minute[first].tolist(), sums.tolist(), strict=True):
                if f.step_minutes and f.step_minutes[-1][0] == m:
                    f.step_minutes[-1][1] += int(s)
                else:
                    f.step_minutes.append([m, int(s)])
        if f.step_minutes and f.step_minutes[0][0] <= last - ACTIVITY_WINDOW_MS:
            f.step_minutes = [e for e in f.step_minutes if e[0] > last - ACTIVITY_WINDOW_MS]
