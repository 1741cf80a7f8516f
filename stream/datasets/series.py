"""One patient's samples as numpy columns (``PatientSeries``), and how file columns become one.

API::

    PatientSeries(patient, t_ms, hr_bpm, steps, rr_ms, rr_start)   # 32 bytes per sample
        .columns() -> Columns        .samples() -> Iterator[Sample]
        .select(keep)  .first_days(days)  .plausible()             # -> PatientSeries
    series_from_parts(patient, *, hr=None, steps=None, rr=None) -> PatientSeries
    patient_id(dataset, source_id) -> str                          # "mmash-01", checked
    DAY_MS, NO_STEPS, IntArray, FloatArray, Part

``series_from_parts`` is the one place where the rules shared by every loader are applied:
samples sorted by time with strictly increasing times, of equal times the first row in the file
wins (a repeated DST hour, overlapping exports), RR intervals kept in file order within a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from wearmon.stream.core.schema import (
    FLOAT_FIELDS,
    HR,
    PATIENT_ID_PATTERN,
    RR_RANGE,
    SAMPLE_RANGES,
    STEPS,
    Columns,
    Sample,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Part = tuple[IntArray, FloatArray]  # (t_ms, values) of one column read from a file

DAY_MS: Final = 86_400_000
NO_STEPS: Final = -1  # ``PatientSeries.steps`` where a sample has no step count
SAMPLES_CHUNK_ROWS = 50_000  # ``PatientSeries.samples`` converts this many at a time

_PATIENT_RE = re.compile(PATIENT_ID_PATTERN)


def patient_id(dataset: str, source_id: str) -> str:
    """The pseudonymous id ``<dataset>-<source id>``, checked against the contract's pattern.

    >>> patient_id("mmash", "01")
    'mmash-01'
    """
    patient = f"{dataset}-{source_id}"
    if not _PATIENT_RE.match(patient):
        raise ValueError(f"{patient!r} does not match the contract's patient id pattern")
    return patient


@dataclass(frozen=True, slots=True)
class PatientSeries:
    """One patient's samples as numpy columns, with strictly increasing ``t_ms``.

    ``hr_bpm`` is NaN and ``steps`` is ``NO_STEPS`` where absent. Sample ``i``'s RR intervals
    are ``rr_ms[rr_start[i]:rr_start[i + 1]]`` (``rr_start`` has ``len(self) + 1`` entries).
    """

    patient: str
    t_ms: IntArray
    hr_bpm: FloatArray
    steps: IntArray
    rr_ms: IntArray
    rr_start: IntArray

    def __len__(self) -> int:
        return len(self.t_ms)

    @property
    def first_t_ms(self) -> int:
        return int(self.t_ms[0])

    @property
    def last_t_ms(self) -> int:
        return int(self.t_ms[-1])

    def columns(self) -> Columns:
        """The samples as the stream's validated ``Columns`` (no SpO2, respiration, temperature
        in these datasets)."""
        values = np.full((len(FLOAT_FIELDS), len(self)), np.nan)
        values[HR] = self.hr_bpm
        values[STEPS] = np.where(self.steps == NO_STEPS, np.nan, self.steps)
        return Columns(self.t_ms.astype(np.int64), values, self.rr_ms.astype(np.int64),
                       np.diff(self.rr_start).astype(np.int64))

    def samples(self) -> Iterator[Sample]:
        """The samples in time order, converted a chunk at a time."""
        for lo in range(0, len(self), SAMPLES_CHUNK_ROWS):
            hi = min(lo + SAMPLES_CHUNK_ROWS, len(self))
            times = self.t_ms[lo:hi].tolist()
            hrs = self.hr_bpm[lo:hi].tolist()
            steps = self.steps[lo:hi].tolist()
            starts = self.rr_start[lo : hi + 1].tolist()
            base = starts[0]
            rrs = self.rr_ms[base : starts[-1]].tolist()
            for i, t_ms in enumerate(times):
                hr, step = hrs[i], steps[i]
                yield Sample(
                    t_ms=t_ms,
                    hr_bpm=None if hr != hr else hr,  # NaN != NaN
                    steps=None if step < 0 else step,
                    rr_ms=rrs[starts[i] - base : starts[i + 1] - base],
                )

    def select(self, keep: npt.NDArray[np.bool_]) -> PatientSeries:
        """The samples where ``keep`` is True (with their RR intervals)."""
        counts = np.diff(self.rr_start)
        return PatientSeries(
            self.patient,
            self.t_ms[keep],
            self.hr_bpm[keep],
            self.steps[keep],
            self.rr_ms[np.repeat(keep, counts)],
            _offsets(counts[keep]),
        )

    def first_days(self, days: float) -> PatientSeries:
        """The samples of the first ``days`` days, counted from the first sample."""
        if not len(self):
            return self
        return self.select(self.t_ms < self.first_t_ms + round(days * DAY_MS))

    def plausible(self) -> PatientSeries:
        """Drop values outside the contract's plausible ranges, then samples left empty."""
        hr, st = SAMPLE_RANGES["hr_bpm"], SAMPLE_RANGES["steps"]
        hr_ok = (self.hr_bpm >= hr.low) & (self.hr_bpm <= hr.high)
        steps_ok = (self.steps >= st.low) & (self.steps <= st.high)
        rr_ok = (self.rr_ms >= RR_RANGE.low) & (self.rr_ms <= RR_RANGE.high)
        owner = np.repeat(np.arange(len(self)), np.diff(self.rr_start))
        rr_counts = np.bincount(owner[rr_ok], minlength=len(self)).astype(np.int64)
        cleaned = PatientSeries(
            self.patient,
            self.t_ms,
            np.where(hr_ok, self.hr_bpm, np.nan),
            np.where(steps_ok, self.steps, NO_STEPS),
            self.rr_ms[rr_ok],
            _offsets(rr_counts),
        )
        return cleaned.select(hr_ok | steps_ok | (rr_counts > 0))


def series_from_parts(
    patient: str, *, hr: Part | None = None, steps: Part | None = None, rr: Part | None = None
) -> PatientSeries:
    """Merge columns read from files into one series with strictly increasing times.

    Heart rate and steps keep one value per time (the first in file order); every RR interval is
    kept, on the sample at its time.

    >>> t = np.array([2_000, 1_000, 2_000], dtype=np.int64)
    >>> s = series_from_parts("p-0001", hr=(t, np.array([61.0, 60.0, 99.0])),
    ...                       rr=(t[:2], np.array([800.0, 900.0])))
    >>> s.t_ms.tolist(), s.hr_bpm.tolist(), s.rr_ms.tolist(), s.rr_start.tolist()
    ([1000, 2000], [60.0, 61.0], [900, 800], [0, 1, 2])
    """
    hr_t, hr_v = _one_per_time(hr)
    steps_t, steps_v = _one_per_time(steps)
    rr_t, rr_v = _finite(rr)
    order = np.argsort(rr_t, kind="stable")  # keeps the beats of one time in file order
    rr_t, rr_v = rr_t[order], rr_v[order]
    t_ms = np.unique(np.concatenate([hr_t, steps_t, rr_t]))
    hr_bpm = np.full(len(t_ms), np.nan)
    hr_bpm[np.searchsorted(t_ms, hr_t)] = hr_v
    step_counts = np.full(len(t_ms), NO_STEPS, dtype=np.int64)
    step_counts[np.searchsorted(t_ms, steps_t)] = np.rint(steps_v).astype(np.int64)
    rr_start = np.append(np.searchsorted(rr_t, t_ms, side="left"), len(rr_t)).astype(np.int64)
    return PatientSeries(
        patient, t_ms, hr_bpm, step_counts, np.rint(rr_v).astype(np.int64), rr_start
    )


def _finite(part: Part | None) -> Part:
    if part is None:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    t_ms, values = part
    ok = np.isfinite(values)
    return t_ms[ok], values[ok]


def _one_per_time(part: Part | None) -> Part:
    """Sort by time; of equal times keep the first in file order."""
    t_ms, values = _finite(part)
    order = np.argsort(t_ms, kind="stable")
    t_ms, values = t_ms[order], values[order]
    first = np.ones(len(t_ms), dtype=bool)
    first[1:] = t_ms[1:] != t_ms[:-1]
    return t_ms[first], values[first]


def _offsets(counts: IntArray) -> IntArray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
