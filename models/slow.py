"""Slow deviation: overnight resting heart rate against the patient's baseline over days.

In the spirit of NightSignal (Alavi et al., Nature Medicine 2022) and CuSum alarms. A monitoring
day runs from ``day_start_hour`` to the same hour next day, so the night that just ended is judged
in the morning. Its value is the median of the night's resting minutes (minute means of heart rate
with no steps in the last 10 minutes, 00:00-``day_start_hour``): one value per minute whether the
device samples every 5 seconds or once a minute. A night with fewer than ``min_night_minutes``
resting minutes is "can't assess": it is neither evidence nor learned, and it neither extends nor
breaks a run of high nights (daytime resting heart rate is a different, higher quantity and is
not compared with a night-time baseline). The value is compared with the median of the last
``history_days`` learned nights (robust spread: 1.4826 × MAD):

* **NightSignal rule**: ``rise_bpm`` or more above baseline on ``days_in_a_row`` nights in a row;
* **CuSum**: the running sum of standardised rises (minus slack ``cusum_k``) exceeds ``cusum_h``;
  the sum restarts once it has signalled.

A decline in daily steps against the patient's usual is a second signal: it lowers the rule's
threshold to ``rise_with_steps_bpm`` and is named in the explanation. One alert per episode:
while an episode is open (until a night is back under the threshold) and for
``refractory_days`` after an alert, no new alert is raised (an elevation still flagged after
that raises a reminder). Nights of a flagged episode are not
learned; single high nights that raise no alarm are (so the baseline follows slow changes).
Work is per minute and per day; per sample it is a few comparisons. State is a histogram of
whole bpm and at most ``history_days`` numbers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from wearmon.models.base import Context, Finding, Severity, Status

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


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


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


@dataclass(slots=True)
class SlowDeviation:
    """Daily resting heart rate against a personal baseline of the previous weeks.

    >>> det = SlowDeviation(min_days=5)
    >>> def night(day, hr, steps=0):
    ...     out = None
    ...     for minute in range(0, 6 * 60):
    ...         t = day * 86_400_000 + minute * 60_000
    ...         out = det.score_then_learn(Context(t_ms=t, hr_bpm=hr, at_rest=True, has_steps=True,
    ...                                            steps=0, hour_of_day=minute // 60)) or out
    ...     # the morning sample closes the night (07:00)
    ...     t = day * 86_400_000 + 7 * 3_600_000
    ...     return det.score_then_learn(Context(t_ms=t, hr_bpm=hr, has_steps=True, steps=steps,
    ...                                         hour_of_day=7)) or out
    >>> [night(d, 60) for d in range(7)] == [None] * 7
    True
    >>> night(7, 66) is None   # one night up: not yet
    True
    >>> print(night(8, 67).explanation)  # doctest: +ELLIPSIS
    Resting heart rate 67 bpm (overnight) is 7 bpm above this patient's baseline of 60 bpm ...
    """

    name: str = "slow_deviation"
    day_start_hour: int = 7
    min_days: int = 10
    history_days: int = 28
    rise_bpm: float = 3.0
    rise_with_steps_bpm: float = 2.5
    days_in_a_row: int = 2
    cusum_k: float = 0.5
    cusum_h: float = 8.0
    min_sd_bpm: float = 1.5
    min_night_minutes: int = 60
    refractory_days: int = 7  # after an alert, no new alert for a week (one per illness)
    steps_decline: float = 0.6  # a day with steps below 60 % of usual counts as a decline
    day: int = -1
    minute: int = -1
    minute_sum: float = 0.0
    minute_n: int = 0
    minute_rest: bool = True
    minute_night: bool = False
    night_hist: dict[int, int] = field(default_factory=dict)
    day_steps: int = 0
    day_step_samples: int = 0
    history: deque[float] = field(default_factory=deque)
    last_alert_day: int = -1_000_000
    steps_history: deque[int] = field(default_factory=deque)
    streak: int = 0
    cusum: float = 0.0
    repeat_daily: bool = False  # one finding per episode (False) or per day of it (True)
    alarm_open: bool = False
    flagged_days: int = 0
    last_value: float | None = None  # the last judged day's resting heart rate

    def status(self) -> Status:
        return Status.OK if len(self.history) >= self.min_days else Status.CANT_ASSESS

    def baseline(self) -> float | None:
        return _median(list(self.history)) if len(self.history) >= self.min_days else None

    def _day_of(self, t_ms: int) -> int:
        return (t_ms - self.day_start_hour * HOUR_MS) // DAY_MS

    def _close_minute(self) -> None:
        if self.minute_n and self.minute_rest and self.minute_night:
            value = round(self.minute_sum / self.minute_n)
            self.night_hist[value] = self.night_hist.get(value, 0) + 1

    def score_then_learn(self, ctx: Context) -> Finding | None:
        finding = None
        day = self._day_of(ctx.t_ms)
        if day != self.day:
            self._close_minute()
            self.minute = -1
            if self.day >= 0:
                finding = self._close_day(ctx)
            self.day = day
            self.night_hist = {}
            self.day_steps = self.day_step_samples = 0
        if ctx.steps is not None:
            self.day_steps += ctx.steps
            self.day_step_samples += 1
        if ctx.hr_bpm is None or not ctx.worn:
            return finding
        minute = ctx.t_ms // MINUTE_MS
        if minute != self.minute:
            self._close_minute()
            self.minute, self.minute_sum, self.minute_n = minute, 0.0, 0
            self.minute_rest = True
            self.minute_night = ctx.hour_of_day < self.day_start_hour
        # resting: no steps recently; a device without steps counts at night only (asleep)
        rest = ctx.at_rest if ctx.has_steps else ctx.hour_of_day < self.day_start_hour
        self.minute_rest = self.minute_rest and rest
        self.minute_sum += ctx.hr_bpm
        self.minute_n += 1
        return finding

    def _night_value(self) -> float | None:
        """The night's resting heart rate, or None (too few resting minutes: can't assess)."""
        if sum(self.night_hist.values()) < self.min_night_minutes:
            return None
        return hist_median(self.night_hist)

    def _close_day(self, ctx: Context) -> Finding | None:
        value = self._night_value()
        steps_known = self.day_step_samples > 0 and ctx.has_steps
        usual_steps = (
            _median([float(s) for s in self.steps_history])
            if len(self.steps_history) >= self.min_days
            else None
        )
        declined = (
            steps_known
            and usual_steps is not None
            and usual_steps > 0
            and self.day_steps < self.steps_decline * usual_steps
        )
        if steps_known and value is not None and not declined:
            self.steps_history.append(self.day_steps)
            while len(self.steps_history) > self.history_days:
                self.steps_history.popleft()
        if value is None:
            return None  # not enough of the night measured: can't assess (no evidence, no learning)
        self.last_value = value
        if len(self.history) < self.min_days:
            self._learn(value)
            return None
        hist = list(self.history)
        base = _median(hist)
        sd = max(1.4826 * _median([abs(v - base) for v in hist]), self.min_sd_bpm)
        rise = value - base
        limit = self.rise_with_steps_bpm if declined else self.rise_bpm
        self.streak = self.streak + 1 if rise >= limit else 0
        self.cusum = max(0.0, self.cusum + rise / sd - self.cusum_k)
        rule = self.streak >= self.days_in_a_row
        cusum_alarm = self.cusum >= self.cusum_h
        flagged = rule or cusum_alarm
        if cusum_alarm:
            self.cusum = 0.0  # a CuSum restarts once it has signalled
        if not flagged and not self.alarm_open:
            self._learn(value)  # single high nights are learned; flagged episodes are not
        if not flagged:
            if rise < limit:
                self.alarm_open = False  # back to baseline: the next rise is a new episode
            return None
        if self.alarm_open and not self.repeat_daily:
            return None  # the episode's alert is already out; days of it are not new alerts
        if self.day - self.last_alert_day < self.refractory_days:
            return None  # within a week of the last alert: no new alert (it may repeat after)
        self.alarm_open = True
        self.last_alert_day = self.day
        self.flagged_days += 1
        why = []
        if rule:
            why.append(
                f"the {self.streak}{_ordinal(self.streak)} day in a row ≥ {limit:.0f} bpm "
                "above baseline"
            )
        if cusum_alarm:
            why.append("a sustained upward drift (CuSum alarm)")
        steps_words = ""
        if declined and usual_steps is not None:
            steps_words = (
                f"; daily steps fell to {self.day_steps:,} from a usual "
                f"{usual_steps:,.0f} ({100 * (self.day_steps / usual_steps - 1):.0f}%)"
            )
        return Finding(
            self.name,
            ctx.t_ms,
            Severity.WARNING,
            rise / sd,
            value,
            base,
            f"Resting heart rate {value:.0f} bpm (overnight) is {rise:.0f} bpm above this "
            f"patient's baseline of {base:.0f} bpm (median of the last {len(hist)} nights, "
            f"±{sd:.1f}): "
            f"{' and '.join(why)}{steps_words}. Possible illness or other strain; judged at "
            f"{ctx.hour_of_day:02d}:00.",
            kind="resting_hr_rise",
        )

    def _learn(self, value: float) -> None:
        self.history.append(value)
        while len(self.history) > self.history_days:
            self.history.popleft()

    def to_state(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "minute": [
                self.minute,
                self.minute_sum,
                self.minute_n,
                self.minute_rest,
                self.minute_night,
            ],
            "night": {str(k): v for k, v in self.night_hist.items()},
            "steps": [self.day_steps, self.day_step_samples],
            "history": list(self.history),
            "steps_history": list(self.steps_history),
            "streak": self.streak,
            "cusum": self.cusum,
            "flagged": self.flagged_days,
            "open": self.alarm_open,
            "last": self.last_value,
            "last_alert": self.last_alert_day,
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> SlowDeviation:
        det = cls()
        det.day = int(st["day"])
        m = st["minute"]
        det.minute, det.minute_sum, det.minute_n = int(m[0]), float(m[1]), int(m[2])
        det.minute_rest, det.minute_night = bool(m[3]), bool(m[4])
        det.night_hist = {int(k): int(v) for k, v in st["night"].items()}
        det.day_steps, det.day_step_samples = (int(x) for x in st["steps"])
        det.history = deque(float(v) for v in st["history"])
        det.steps_history = deque(int(v) for v in st["steps_history"])
        det.streak, det.cusum = int(st["streak"]), float(st["cusum"])
        det.flagged_days = int(st["flagged"])
        det.alarm_open = bool(st["open"])
        det.last_value = None if st["last"] is None else float(st["last"])
        det.last_alert_day = int(st.get("last_alert", det.last_alert_day))
        return det


def _ordinal(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
