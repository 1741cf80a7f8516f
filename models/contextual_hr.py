"""Acute contextual heart rate: heart rate that the patient's activity does not explain.

A per-patient River model learns the patient's own heart rate in eight contexts (activity unknown /
at rest / light / active, by night and by day): one exponentially weighted mean and variance each
(``river.stats.EWMean``/``EWVar``, a few hundred bytes). It flags

* **high for this patient at rest** (or when activity is unknown): well above the personal level
  for the same context, and
* **abnormally low for this patient** in any context,

once the condition has lasted ``persist_ms`` of event time. It works once per closed minute
(``observe_minute``): score the minute's mean heart rate, then learn from it — never from a
minute in which the condition was present, nor from one whose context changed. A context with
fewer than ``warmup_minutes`` learned minutes cannot be assessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from river import stats

from wearmon.models.base import (
    ACTIVITY_CONTEXTS,
    Finding,
    Minute,
    Severity,
    Status,
    activity_words,
    period_of_day,
)
from wearmon.models.state import dump_river, load_river

MINUTE_MS = 60_000
FADING = 0.01  # ~100 learned minutes of memory per context


def context_bucket(minute: Minute) -> int:
    """Index of the context: activity (unknown/rest/light/active) x (night 00-06h, day).

    >>> context_bucket(Minute(0, hour_of_day=3))
    0
    >>> context_bucket(Minute(0, hour_of_day=12, has_steps=True, context=1, at_rest=True))
    5
    """
    night = minute.hour_of_day < 6
    return minute.context + (0 if night else 4)


def describe_bucket(bucket: int) -> str:
    return f"{ACTIVITY_CONTEXTS[bucket % 4]}, {'night' if bucket < 4 else 'day'}"


@dataclass(slots=True)
class ContextualHeartRate:
    """Heart rate against the patient's own level in the same activity and time-of-day context.

    >>> det = ContextualHeartRate(warmup_minutes=30)
    >>> det.status().value
    'cant_assess'
    >>> def minute(m, hr):
    ...     return det.observe_minute(Minute(m * 60_000, hour_of_day=10, hr_samples=6,
    ...         hr_mean_bpm=hr, has_steps=True, context=1, at_rest=True, worn=True))
    >>> _ = [minute(m, 60 + m % 3) for m in range(90)]
    >>> det.status().value, round(det.baseline()[0])
    ('ok', 61)
    >>> findings = [minute(m, 105) for m in range(90, 111)]  # 20 minutes
    >>> findings[-1].kind
    'high_hr_for_patient'
    >>> print(findings[-1].explanation)  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    Heart rate 105 bpm is 44 bpm above this patient's personal baseline of 61 ± 3 bpm (at rest,
    day)...
    """

    name: str = "contextual_hr"
    warmup_minutes: int = 60
    z_high: float = 5.0
    min_rise_bpm: float = 30.0
    min_rise_unknown_bpm: float = 40.0
    z_low: float = 5.0
    min_drop_bpm: float = 25.0
    min_sd_bpm: float = 3.0
    persist_ms: int = 10 * MINUTE_MS  # an unusually low heart rate
    high_persist_ms: int = 20 * MINUTE_MS  # an unusually high heart rate, sustained
    unknown_high_at_night_only: bool = True  # activity unknown: a high HR only judged at night
    # per context: River's exponentially weighted mean (the personal level) and variance
    means: list[stats.EWMean] = field(
        default_factory=lambda: [stats.EWMean(fading_factor=FADING) for _ in range(8)])
    vars: list[stats.EWVar] = field(
        default_factory=lambda: [stats.EWVar(fading_factor=FADING) for _ in range(8)])
    counts: list[int] = field(default_factory=lambda: [0] * 8)
    high_since: int = -1
    low_since: int = -1

    def status(self) -> Status:
        return Status.OK if max(self.counts) >= self.warmup_minutes else Status.CANT_ASSESS

    def baseline(self) -> tuple[float, float] | None:
        """(mean, sd) bpm of the best-learned resting (or activity-unknown) context."""
        candidates = [b for b in (5, 1, 4, 0) if self.counts[b] >= self.warmup_minutes]
        if not candidates:
            return None
        b = candidates[0]
        return self._mean(b), self._sd(b)

    def _mean(self, b: int) -> float:
        return float(self.means[b].get())

    def _sd(self, b: int) -> float:
        return max(float(self.vars[b].get()) ** 0.5, self.min_sd_bpm)

    def observe_minute(self, minute: Minute) -> Finding | None:
        """Score one closed minute against the learned level of its context, then learn."""
        hr = minute.hr_mean_bpm
        if hr is None or not minute.worn:
            self.high_since = self.low_since = -1
            return None
        b = context_bucket(minute)
        finding = None
        learn = minute.clean
        if self.counts[b] >= self.warmup_minutes:
            mean, sd = self._mean(b), self._sd(b)
            rise_min = self.min_rise_bpm if b % 4 == 1 else self.min_rise_unknown_bpm
            judged = b % 4 == 1 or (b % 4 == 0 and (b < 4 or not self.unknown_high_at_night_only))
            high = judged and hr - mean > max(self.z_high * sd, rise_min)
            low = mean - hr > max(self.z_low * sd, self.min_drop_bpm)
            self.high_since = (self.high_since if self.high_since >= 0 else minute.start_ms) \
                if high else -1
            self.low_since = (self.low_since if self.low_since >= 0 else minute.start_ms) \
                if low else -1
            learn = learn and not (high or low)
            if high and minute.end_ms - self.high_since >= self.high_persist_ms:
                finding = self._finding(minute, hr, mean, sd, b, "high_hr_for_patient",
                                        self.high_since)
            elif low and minute.end_ms - self.low_since >= self.persist_ms:
                finding = self._finding(minute, hr, mean, sd, b, "low_hr_for_patient",
                                        self.low_since)
        if learn:
            self.means[b].update(hr)
            self.vars[b].update(hr)
            self.counts[b] += 1
        return finding

    def _finding(self, minute: Minute, hr: float, mean: float, sd: float, b: int, kind: str,
                 since: int) -> Finding:
        diff = hr - mean
        z = diff / sd
        word = "above" if diff > 0 else "below"
        activity = activity_words(minute.has_steps, minute.at_rest, minute.steps_recent)
        return Finding(
            self.name,
            minute.end_ms,
            Severity.WARNING,
            abs(z),
            hr,
            mean,
            f"Heart rate {hr:.0f} bpm is {abs(diff):.0f} bpm {word} this patient's personal "
            f"baseline of {mean:.0f} ± {sd:.0f} bpm ({describe_bucket(b)}), {abs(z):.1f} SD, for "
            f"{(minute.end_ms - since) // MINUTE_MS} minutes; {activity}, "
            f"{period_of_day(minute.hour_of_day)}.",
            kind=kind,
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "river": dump_river([self.means, self.vars]),
            "counts": self.counts,
            "since": [self.high_since, self.low_since],
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> ContextualHeartRate:
        det = cls()
        det.means, det.vars = load_river(st["river"])
        det.counts = [int(c) for c in st["counts"]]
        det.high_since, det.low_since = (int(x) for x in st["since"])
        return det
