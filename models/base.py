"""The detector interface: what detectors see, what they say, and at which cadence.

Detectors work at their own cadence on what the stream's features hand them:

* ``SampleBlock`` — the in-order samples of one upload as arrays (clinical bands, data quality);
* ``BeatBlock`` — the beat-to-beat intervals of one upload (irregular rhythm);
* ``Minute`` — one closed minute of one patient (contextual heart rate, activity);
* ``Day`` — one closed monitoring day (slow deviation, activity decline).

Every detector scores first, then learns, never learns from what it flags, reports "can't
assess" while warming up (``status``), explains each ``Finding`` in words a nurse can read, and
keeps a small JSON-serialisable state (``to_state``/``from_state``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Status(StrEnum):
    OK = "ok"
    ATTENTION = "attention"
    ALERT = "alert"  # a patient's status while a clinical alert is open (set by the stream)
    CANT_ASSESS = "cant_assess"


@dataclass(frozen=True, slots=True)
class Finding:
    """One detector's judgement at one instant, with a nurse-readable explanation."""

    detector: str
    t_ms: int
    severity: Severity
    score: float
    observed: float
    baseline: float | None
    explanation: str
    kind: str = "anomaly"  # e.g. tachycardia_at_rest, desaturation, irregular_rhythm


PERIODS = ((5, "at night"), (8, "in the early morning"), (12, "in the morning"),
           (14, "around midday"), (17, "in the afternoon"), (21, "in the evening"),
           (24, "late in the evening"))


def period_of_day(hour: int) -> str:
    """The patient's local hour as a period of the day, for explanations.

    >>> period_of_day(3), period_of_day(15), period_of_day(22)
    ('at night', 'in the afternoon', 'late in the evening')
    """
    return next(words for end, words in PERIODS if hour < end)


def local_clock(t_ms: int, utc_offset_ms: int) -> str:
    """The patient's local time of day, for explanations.

    >>> local_clock(2 * 3_600_000 + 3 * 60_000, 0), local_clock(0, -5 * 3_600_000)
    ('02:03', '19:00')
    """
    minutes = (t_ms + utc_offset_ms) // 60_000 % 1440
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def duration_words(ms: int) -> str:
    """How long something has lasted, for explanations.

    >>> duration_words(20_000), duration_words(4 * 60_000 + 59_000), duration_words(125 * 60_000)
    ('under a minute', '4 min', '2 h 05 min')
    """
    minutes = max(0, ms) // 60_000
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def value_range(lo: float, hi: float, now: float, unit: str) -> str:
    """The values of an episode, lowest to highest, and the last one when they differ.

    >>> value_range(36, 38, 36, " bpm"), value_range(85, 85, 85, "%")
    ('36–38 bpm (last 36)', '85%')
    """
    if round(lo) == round(hi):
        return f"{lo:.0f}{unit}"
    return f"{lo:.0f}–{hi:.0f}{unit} (last {now:.0f})"


def activity_words(has_steps: bool, at_rest: bool, steps_recent: int) -> str:
    """The patient's activity context, for explanations.

    >>> activity_words(True, False, 120)
    'active (120 steps in the last 10 minutes)'
    """
    if not has_steps:
        return "activity unknown"
    if at_rest:
        return "at rest (no steps in the last 10 minutes)"
    return f"active ({steps_recent} steps in the last 10 minutes)"


def _floats(values: Sequence[float | None] | FloatArray | None, n: int) -> FloatArray:
    if values is None:
        return np.full(n, np.nan)
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class SampleBlock:
    """In-order samples of one upload with their features; every array has one entry per sample.

    Missing values are NaN. ``hr_bpm`` is the 30-second rolling median of heart rate (robust to
    single-beat artefacts; NaN when the sample itself has no heart rate); ``steps_recent`` counts
    steps in the last 10 minutes; ``at_rest`` means none (known only when the device reports
    steps); ``hour_of_day`` is in the patient's own time zone, ``utc_offset_ms`` that zone's
    offset from UTC at each sample (``t_ms + utc_offset_ms`` is the patient's local clock).
    """

    t_ms: IntArray
    hr_bpm: FloatArray
    spo2_pct: FloatArray
    resp_rate_brpm: FloatArray
    skin_temp_c: FloatArray
    steps_recent: IntArray
    at_rest: BoolArray
    hour_of_day: IntArray
    worn: BoolArray
    has_steps: BoolArray  # the device has reported steps (at or before this sample)
    utc_offset_ms: IntArray

    def __len__(self) -> int:
        return len(self.t_ms)

    def slice(self, lo: int, hi: int) -> SampleBlock:
        """Samples ``lo`` to ``hi`` (views, no copy)."""
        return SampleBlock(
            self.t_ms[lo:hi], self.hr_bpm[lo:hi], self.spo2_pct[lo:hi],
            self.resp_rate_brpm[lo:hi], self.skin_temp_c[lo:hi], self.steps_recent[lo:hi],
            self.at_rest[lo:hi], self.hour_of_day[lo:hi], self.worn[lo:hi], self.has_steps[lo:hi],
            self.utc_offset_ms[lo:hi])

    @classmethod
    def build(
        cls,
        t_ms: Sequence[int],
        *,
        hr_bpm: Sequence[float | None] | None = None,
        spo2_pct: Sequence[float | None] | None = None,
        resp_rate_brpm: Sequence[float | None] | None = None,
        skin_temp_c: Sequence[float | None] | None = None,
        steps_recent: Sequence[int] | None = None,
        at_rest: bool | Sequence[bool] = False,
        has_steps: bool | Sequence[bool] = False,
        hour_of_day: int | Sequence[int] = 0,
        worn: Sequence[bool] | None = None,
        utc_offset_ms: int = 0,
    ) -> SampleBlock:
        """A block from plain values (tests, examples); missing arrays are all-missing.

        >>> b = SampleBlock.build([0, 5000], hr_bpm=[70, None], at_rest=True, has_steps=True)
        >>> len(b), b.worn.tolist(), b.at_rest.tolist()
        (2, [True, False], [True, True])
        """
        n = len(t_ms)
        hr = _floats(hr_bpm, n)
        return cls(
            t_ms=np.array(t_ms, dtype=np.int64),
            hr_bpm=hr,
            spo2_pct=_floats(spo2_pct, n),
            resp_rate_brpm=_floats(resp_rate_brpm, n),
            skin_temp_c=_floats(skin_temp_c, n),
            steps_recent=np.array(steps_recent if steps_recent is not None else [0] * n,
                                  dtype=np.int64),
            at_rest=np.broadcast_to(np.array(at_rest, dtype=bool), (n,)).copy(),
            hour_of_day=np.broadcast_to(np.array(hour_of_day, dtype=np.int64), (n,)).copy(),
            worn=~np.isnan(hr) if worn is None else np.array(worn, dtype=bool),
            has_steps=np.broadcast_to(np.array(has_steps, dtype=bool), (n,)).copy(),
            utc_offset_ms=np.full(n, utc_offset_ms, dtype=np.int64),
        )


@dataclass(frozen=True, slots=True)
class BeatBlock:
    """Beat-to-beat intervals of one upload in order: ``t_ms`` is when each beat ended;
    ``moving`` (None: unknown) says the device reported steps in the 10 minutes up to the beat,
    when beat intervals from a strap or a watch are least trustworthy."""

    t_ms: IntArray
    rr_ms: IntArray
    moving: BoolArray | None = None

    def __len__(self) -> int:
        return len(self.rr_ms)

    @classmethod
    def build(cls, rr_ms: Sequence[int], start_ms: int = 0,
              moving: Sequence[bool] | None = None) -> BeatBlock:
        """Consecutive beats from ``start_ms``.

        >>> BeatBlock.build([800, 810], start_ms=1000).t_ms.tolist()
        [1800, 2610]
        """
        rr = np.array(rr_ms, dtype=np.int64)
        return cls(t_ms=start_ms + np.cumsum(rr), rr_ms=rr,
                   moving=None if moving is None else np.array(moving, dtype=bool))


ACTIVITY_CONTEXTS = ("activity unknown", "at rest", "lightly active", "active")


@dataclass(frozen=True, slots=True)
class Minute:
    """One closed minute of one patient (``start_ms`` UTC; ``hour_of_day`` local): the one
    minute accumulator that feeds the minute detectors, the day summary and the rollups.

    ``context`` is the activity context at the minute's end (an index into
    ``ACTIVITY_CONTEXTS``), ``clean`` says it did not change within the minute; ``at_rest``: the
    device reports steps and there were none in the 10 minutes up to every sample of the minute.
    """

    start_ms: int
    hour_of_day: int
    hr_samples: int = 0
    hr_mean_bpm: float | None = None
    hr_min_bpm: float | None = None
    hr_max_bpm: float | None = None
    steps: int = 0
    steps_samples: int = 0
    spo2_samples: int = 0
    spo2_mean_pct: float | None = None
    spo2_min_pct: float | None = None
    has_steps: bool = False
    steps_recent: int = 0
    context: int = 0
    clean: bool = True
    at_rest: bool = False
    worn: bool = False

    @property
    def end_ms(self) -> int:
        return self.start_ms + 60_000


@dataclass(frozen=True, slots=True)
class Day:
    """One closed monitoring day (from ``day_start_hour`` local time to the same hour next day).

    ``rest_hr_bpm`` is the night's resting heart rate (median of the resting night minutes), or
    None when fewer than the minimum were measured ("can't assess"); ``steps`` is None when the
    device reports no steps.
    """

    day: int
    end_ms: int
    rest_hr_bpm: float | None
    rest_minutes: int
    steps: int | None
    worn_minutes: int
    hour_of_day: int = 7


class Detector(Protocol):
    name: str

    def status(self) -> Status: ...

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state (bounded size), restorable with ``from_state``."""
