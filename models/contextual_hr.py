"""Acute contextual heart rate: heart rate that the patient's activity does not explain.

A per-patient River model learns the patient's own heart rate in eight contexts (activity unknown /
at rest / light / active, by night and by day): one exponentially weighted mean and variance each
(``river.stats.EWMean``/``EWVar``, a few hundred bytes). It flags

* **high for this patient at rest** (or when activity is unknown): well above the personal level
  for the same context, and
* **abnormally low for this patient** in any context,

once the condition has lasted ``persist_ms`` of event time. Scoring is per sample (a few
arithmetic operations); learning happens once per minute from the minute's mean, never from a
minute in which the condition was present (flagged or about to be). A context with fewer than
``warmup_minutes`` learned minutes cannot be assessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from river import stats

from wearmon.models.base import Context, Finding, Severity, Status
from wearmon.models.state import dump_river, load_river

MINUTE_MS = 60_000
ACTIVITY_NAMES = ("activity unknown", "at rest", "lightly active", "active")
FADING = 0.01  # ~100 learned minutes of memory per context
LIGHT_STEPS_10MIN = 300  # steps in 10 minutes below which activity counts as light


def context_bucket(ctx: Context) -> int:
    """Index of the context: activity (unknown/rest/light/active) x (night 00-06h, day).

    >>> context_bucket(Context(t_ms=0, hour_of_day=3))
    0
    >>> context_bucket(Context(t_ms=0, has_steps=True, at_rest=True, hour_of_day=12))
    5
    """
    if not ctx.has_steps:
        activity = 0
    elif ctx.at_rest:
        activity = 1
    elif ctx.steps_recent < LIGHT_STEPS_10MIN:
        activity = 2
    else:
        activity = 3
    night = ctx.hour_of_day < 6
    return activity + (0 if night else 4)


def describe_bucket(bucket: int) -> str:
    return f"{ACTIVITY_NAMES[bucket % 4]}, {'night' if bucket < 4 else 'day'}"


def _new_means(fading: float) -> list[stats.EWMean]:
    return [stats.EWMean(fading_factor=fading) for _ in range(8)]


def _new_vars(fading: float) -> list[stats.EWVar]:
    return [stats.EWVar(fading_factor=fading) for _ in range(8)]


@dataclass(slots=True)
class ContextualHeartRate:
    """Heart rate against the patient's own level in the same activity and time-of-day context.

    >>> det = ContextualHeartRate(warmup_minutes=30)
    >>> det.status().value
    'cant_assess'
    >>> for second in range(0, 90 * 60, 10):
    ...     _ = det.score_then_learn(Context(t_ms=second * 1000, hr_bpm=60 + second % 3,
    ...                                      at_rest=True, has_steps=True, hour_of_day=10))
    >>> det.status().value, round(det.baseline()[0])
    ('ok', 61)
    >>> findings = [det.score_then_learn(Context(t_ms=(5400 + s) * 1000, hr_bpm=105, at_rest=True,
    ...                                          has_steps=True, hour_of_day=10))
    ...             for s in range(0, 660, 10)]
    >>> findings[-1].kind
    'high_hr_for_patient'
    >>> print(findings[-1].explanation)  # doctest: +ELLIPSIS
    Heart rate 105 bpm is 44 bpm above this patient's usual 61 ± 3 bpm (at rest, day)...
    """

    name: str = "contextual_hr"
    warmup_minutes: int = 60
    z_high: float = 5.0
    min_rise_bpm: float = 30.0
    min_rise_unknown_bpm: float = 40.0
    z_low: float = 5.0
    min_drop_bpm: float = 25.0
    min_sd_bpm: float = 3.0
    persist_ms: int = 10 * MINUTE_MS
    means: list[stats.EWMean] = field(default_factory=lambda: _new_means(FADING))
    vars: list[stats.EWVar] = field(default_factory=lambda: _new_vars(FADING))
    counts: list[int] = field(default_factory=lambda: [0] * 8)
    minute: int = -1
    minute_sum: float = 0.0
    minute_n: int = 0
    minute_bucket: int = -1
    minute_clean: bool = True
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
        return float(self.means[b].get()), self._sd(b)

    def _sd(self, b: int) -> float:
        return max(float(self.vars[b].get()) ** 0.5, self.min_sd_bpm)

    def _learn_minute(self) -> None:
        if self.minute_n and self.minute_clean and self.minute_bucket >= 0:
            value = self.minute_sum / self.minute_n
            self.means[self.minute_bucket].update(value)
            self.vars[self.minute_bucket].update(value)
            self.counts[self.minute_bucket] += 1

    def score_then_learn(self, ctx: Context) -> Finding | None:
        hr = ctx.hr_bpm
        if hr is None or not ctx.worn:
            self.high_since = self.low_since = -1
            return None
        minute = ctx.t_ms // MINUTE_MS
        if minute != self.minute:
            self._learn_minute()
            self.minute, self.minute_sum, self.minute_n = minute, 0.0, 0
            self.minute_bucket, self.minute_clean = -1, True
        b = context_bucket(ctx)
        if self.minute_bucket not in (-1, b):
            self.minute_clean = False  # context changed within the minute: learn nothing
        self.minute_bucket = b
        self.minute_sum += hr
        self.minute_n += 1

        finding = None
        if self.counts[b] >= self.warmup_minutes:
            mean = float(self.means[b].get())
            sd = self._sd(b)
            resting = b % 4 in (0, 1)
            rise_min = self.min_rise_bpm if b % 4 == 1 else self.min_rise_unknown_bpm
            high = resting and hr - mean > max(self.z_high * sd, rise_min)
            low = mean - hr > max(self.z_low * sd, self.min_drop_bpm)
            self.high_since = (
                (self.high_since if self.high_since >= 0 else ctx.t_ms) if high else -1
            )
            self.low_since = (self.low_since if self.low_since >= 0 else ctx.t_ms) if low else -1
            if high or low:
                self.minute_clean = False
            if high and ctx.t_ms - self.high_since >= self.persist_ms:
                finding = self._finding(
                    ctx, hr, mean, sd, b, "high_hr_for_patient", self.high_since
                )
            elif low and ctx.t_ms - self.low_since >= self.persist_ms:
                finding = self._finding(ctx, hr, mean, sd, b, "low_hr_for_patient", self.low_since)
        return finding

    def _finding(
        self, ctx: Context, hr: float, mean: float, sd: float, b: int, kind: str, since: int
    ) -> Finding:
        diff = hr - mean
        z = diff / sd
        word = "above" if diff > 0 else "below"
        steps = (
            f"{ctx.steps_recent} steps in the last 10 minutes"
            if ctx.has_steps
            else "the device reports no steps"
        )
        return Finding(
            self.name,
            ctx.t_ms,
            Severity.WARNING,
            abs(z),
            hr,
            mean,
            f"Heart rate {hr:.0f} bpm is {abs(diff):.0f} bpm {word} this patient's usual "
            f"{mean:.0f} ± {sd:.0f} bpm ({describe_bucket(b)}), {abs(z):.1f} SD, for "
            f"{(ctx.t_ms - since) / 1000:.0f} s; {steps}, at {ctx.hour_of_day:02d}:00.",
            kind=kind,
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "river": dump_river([self.means, self.vars]),
            "counts": self.counts,
            "minute": [
                self.minute,
                self.minute_sum,
                self.minute_n,
                self.minute_bucket,
                self.minute_clean,
            ],
            "since": [self.high_since, self.low_since],
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> ContextualHeartRate:
        det = cls()
        det.means, det.vars = load_river(st["river"])
        det.counts = [int(c) for c in st["counts"]]
        m = st["minute"]
        det.minute, det.minute_sum, det.minute_n = int(m[0]), float(m[1]), int(m[2])
        det.minute_bucket, det.minute_clean = int(m[3]), bool(m[4])
        det.high_since, det.low_since = (int(x) for x in st["since"])
        return det
