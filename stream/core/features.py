"""Per-patient rolling features in event time, and 1-minute rollups.

``PatientFeatures.update(sample)`` turns each sample into a ``Context`` for the detectors:
a 30-second rolling median heart rate (robust to artefacts), steps in the last 10 minutes,
whether the patient is at rest, hour of day (UTC) and wear. Minutes are rolled up once the
patient's newest event time has moved past them by a grace period.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from wearmon.models.base import Context
from wearmon.stream.core.schema import Sample

MINUTE_MS = 60_000
HR_WINDOW_MS = 30_000
ACTIVITY_WINDOW_MS = 10 * MINUTE_MS
ROLLUP_GRACE_MS = 2 * MINUTE_MS
MAX_OPEN_MINUTES = 30


@dataclass(slots=True)
class MinuteRollup:
    """Aggregates of one patient-minute; ``minute_ms`` is the minute's start (UTC)."""

    minute_ms: int
    hr_n: int = 0
    hr_sum: float = 0.0
    hr_min: float = float("inf")
    hr_max: float = float("-inf")
    steps: int = 0
    steps_n: int = 0
    spo2_n: int = 0
    spo2_sum: float = 0.0
    spo2_min: float = float("inf")

    def add(self, s: Sample) -> None:
        if s.hr_bpm is not None:
            self.hr_n += 1
            self.hr_sum += s.hr_bpm
            self.hr_min = min(self.hr_min, s.hr_bpm)
            self.hr_max = max(self.hr_max, s.hr_bpm)
        if s.steps is not None:
            self.steps += s.steps
            self.steps_n += 1
        if s.spo2_pct is not None:
            self.spo2_n += 1
            self.spo2_sum += s.spo2_pct
            self.spo2_min = min(self.spo2_min, s.spo2_pct)

    @property
    def hr_mean(self) -> float | None:
        return self.hr_sum / self.hr_n if self.hr_n else None

    @property
    def spo2_mean(self) -> float | None:
        return self.spo2_sum / self.spo2_n if self.spo2_n else None

    def to_list(self) -> list[Any]:
        """JSON-safe: infinities (no value yet) become None."""
        values = [self.minute_ms, self.hr_n, self.hr_sum, self.hr_min, self.hr_max, self.steps,
                  self.steps_n, self.spo2_n, self.spo2_sum, self.spo2_min]
        return [None if isinstance(v, float) and math.isinf(v) else v for v in values]

    @classmethod
    def from_list(cls, v: list[Any]) -> MinuteRollup:
        r = cls(*v)
        r.hr_min = math.inf if r.hr_min is None else r.hr_min
        r.hr_max = -math.inf if r.hr_max is None else r.hr_max
        r.spo2_min = math.inf if r.spo2_min is None else r.spo2_min
        return r


@dataclass(slots=True)
class PatientFeatures:
    """Rolling features of one patient (bounded: ~30 s of HR, 11 minute buckets of steps).

    >>> f = PatientFeatures()
    >>> ctx = f.update(Sample(t_ms=0, hr_bpm=70, steps=0))
    >>> ctx.hr_bpm, ctx.at_rest
    (70.0, True)
    >>> ctx = f.update(Sample(t_ms=5_000, hr_bpm=110, steps=12))
    >>> ctx.hr_bpm, ctx.at_rest, ctx.steps_recent
    (90.0, False, 12)
    """

    hr_window: deque[tuple[int, float]] = field(default_factory=deque)
    step_minutes: deque[list[int]] = field(default_factory=deque)  # [minute_ms, steps]
    has_steps: bool = False
    last_t_ms: int = -1
    open_minutes: dict[int, MinuteRollup] = field(default_factory=dict)

    def update(self, s: Sample) -> Context:
        """Add one sample (in time order) and return the features at its time."""
        self.last_t_ms = max(self.last_t_ms, s.t_ms)
        minute = s.t_ms - s.t_ms % MINUTE_MS
        rollup = self.open_minutes.get(minute)
        if rollup is None:
            rollup = self.open_minutes[minute] = MinuteRollup(minute)
        rollup.add(s)
        if s.hr_bpm is not None:
            self.hr_window.append((s.t_ms, s.hr_bpm))
        while self.hr_window and self.hr_window[0][0] <= s.t_ms - HR_WINDOW_MS:
            self.hr_window.popleft()
        if s.steps is not None:
            self.has_steps = True
            if self.step_minutes and self.step_minutes[-1][0] == minute:
                self.step_minutes[-1][1] += s.steps
            elif not self.step_minutes or self.step_minutes[-1][0] < minute:
                self.step_minutes.append([minute, s.steps])
        while self.step_minutes and self.step_minutes[0][0] <= s.t_ms - ACTIVITY_WINDOW_MS:
            self.step_minutes.popleft()
        steps_recent = sum(steps for _, steps in self.step_minutes)
        hr = statistics.median(v for _, v in self.hr_window) if self.hr_window else None
        return Context(
            t_ms=s.t_ms,
            hr_bpm=None if hr is None else float(hr),
            spo2_pct=s.spo2_pct,
            resp_rate_brpm=s.resp_rate_brpm,
            skin_temp_c=s.skin_temp_c,
            steps_recent=steps_recent,
            at_rest=self.has_steps and steps_recent == 0,
            hour_of_day=(s.t_ms // 3_600_000) % 24,
            worn=s.hr_bpm is not None or bool(s.rr_ms),
            steps=s.steps,
            has_steps=self.has_steps,
            rr_ms=tuple(s.rr_ms),
        )

    def close_minutes(self, force: bool = False) -> list[MinuteRollup]:
        """Pop the minutes that the patient's event time has moved past (all when ``force``)."""
        horizon = self.last_t_ms - ROLLUP_GRACE_MS
        ready = sorted(
            m
            for m in self.open_minutes
            if force or m + MINUTE_MS <= horizon or len(self.open_minutes) > MAX_OPEN_MINUTES
        )
        # keep the newest MAX_OPEN_MINUTES at most, even for out-of-order backlogs
        return [self.open_minutes.pop(m) for m in ready]

    def to_state(self) -> dict[str, Any]:
        return {
            "hr": [list(x) for x in self.hr_window],
            "steps": [list(x) for x in self.step_minutes],
            "has_steps": self.has_steps,
            "last_t_ms": self.last_t_ms,
            "open": [r.to_list() for r in self.open_minutes.values()],
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> PatientFeatures:
        f = cls()
        f.hr_window = deque((int(t), float(v)) for t, v in st["hr"])
        f.step_minutes = deque([int(m), int(s)] for m, s in st["steps"])
        f.has_steps = bool(st["has_steps"])
        f.last_t_ms = int(st["last_t_ms"])
        f.open_minutes = {int(v[0]): MinuteRollup.from_list(v) for v in st["open"]}
        return f
