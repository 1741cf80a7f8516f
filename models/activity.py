"""Activity anomalies: unusual inactivity, unusual night-time activity, multi-day step decline.

The patient's usual activity is learned per local hour of day as the share of worn minutes with
steps (24 numbers, exponentially weighted once per minute). It works once per closed minute
(``observe_minute``) and once per closed day (``observe_day``). Three findings:

* **unusual inactivity**: the watch is worn (heart rate present) but there have been no steps for
  at least ``min_inactive_ms`` while, at these hours, the patient usually moves in at least
  ``min_expected_active_minutes`` of the minutes: a possible fall, collapse or acute illness; the
  heart rate is reported with it. Once per inactive spell.
* **unusual night-time activity**: many steps in a night hour (00-05h) when the patient is usually
  still at that hour. Information only.
* **daily-steps decline**: the mean of the last ``decline_days`` days below ``decline_ratio`` of
  the median of the earlier days (at least ``min_days`` of history); one finding when a decline
  starts, none while it lasts (measured on the covid-daily step decline around symptom onset:
  ``wearmon evaluate --dataset covid-daily`` reports it under ``activity``).

Nothing is learned from minutes inside a flagged inactive spell or from declined days.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from wearmon.models.base import Day, Finding, Minute, Severity, Status, period_of_day

MINUTE_MS = 60_000
NIGHT_HOURS = range(0, 6)


def _fmt_duration(ms: int) -> str:
    minutes = ms // MINUTE_MS
    return f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass(slots=True)
class ActivityPattern:
    """Activity against the patient's usual pattern by hour of day.

    >>> det = ActivityPattern(min_days=1)
    >>> def minute(m, steps, hr=70):
    ...     return det.observe_minute(Minute(m * 60_000, hour_of_day=(m // 60) % 24,
    ...         hr_samples=1, hr_mean_bpm=hr, steps=steps, steps_samples=1, has_steps=True,
    ...         at_rest=steps == 0, worn=True))
    >>> def day(d, steps):
    ...     return det.observe_day(Day(d, (d + 1) * 86_400_000, None, 0, steps, 1440))
    >>> # three days: active 08-20h (20 steps every minute), still at night
    >>> out = []
    >>> for d in range(3):
    ...     out += [minute(d * 1440 + m, 20 if 8 <= m // 60 < 20 else 0) for m in range(1440)]
    ...     out.append(day(d, 14_400))
    >>> [f for f in out if f]
    []
    >>> # day 4: no steps from 08:00
    >>> found = [f for f in (minute(3 * 1440 + m, 0) for m in range(13 * 60)) if f]
    >>> found[0].kind, found[0].t_ms // 60_000 - 3 * 1440
    ('unusual_inactivity', 617)
    """

    name: str = "activity"
    min_inactive_ms: int = 3 * 3_600_000
    min_expected_active_minutes: float = 120.0
    night_steps_per_hour: int = 1500
    night_usual_share: float = 0.05
    min_days: int = 3
    decline_days: int = 3
    decline_ratio: float = 0.5
    min_worn_minutes: int = 600  # a day with less wear is not comparable
    history_days: int = 21
    worn_gap_ms: int = 15 * MINUTE_MS
    hourly_share: list[float] = field(default_factory=lambda: [0.0] * 24)
    hourly_n: list[int] = field(default_factory=lambda: [0] * 24)
    still_since: int = -1  # start of the current worn spell without steps
    last_worn_ms: int = -1
    expected_active: float = 0.0  # usual active minutes over the current still spell
    inactivity_flagged: bool = False
    hour: int = -1  # local hour of day being accumulated
    hour_steps: int = 0
    daily_steps: deque[int] = field(default_factory=deque)
    recent_days: deque[int] = field(default_factory=deque)
    decline_open: bool = False  # a decline was reported and has not recovered yet

    def status(self) -> Status:
        return Status.OK if len(self.daily_steps) >= self.min_days else Status.CANT_ASSESS

    def observe_minute(self, minute: Minute) -> Finding | None:
        if not minute.has_steps:
            return None
        finding = None
        if minute.hour_of_day != self.hour:
            finding = self._close_hour(minute)
            self.hour, self.hour_steps = minute.hour_of_day, 0
        self.hour_steps += minute.steps
        if minute.worn:
            if self.last_worn_ms >= 0 and minute.start_ms - self.last_worn_ms > self.worn_gap_ms:
                self._end_spell()  # not worn for a while: the still spell is unknown, restart
            self.last_worn_ms = minute.end_ms
        if minute.steps > 0:
            self._end_spell()
        elif minute.worn and self.still_since < 0:
            self.still_since, self.expected_active = minute.start_ms, 0.0
        if minute.worn:
            if self.still_since >= 0:
                self.expected_active += self.hourly_share[minute.hour_of_day]
            if not self.inactivity_flagged:
                self._learn(minute)
        if (
            self.still_since >= 0
            and not self.inactivity_flagged
            and minute.worn
            and minute.end_ms - self.still_since >= self.min_inactive_ms
            and self.expected_active >= self.min_expected_active_minutes
            and self.status() is Status.OK
        ):
            self.inactivity_flagged = True
            finding = self._inactivity(minute)
        return finding

    def _learn(self, minute: Minute) -> None:
        h = minute.hour_of_day
        self.hourly_n[h] += 1
        rate = max(1.0 / self.hourly_n[h], 1.0 / 600)  # ~10 days of that hour's minutes
        active = 1.0 if minute.steps > 0 else 0.0
        self.hourly_share[h] += rate * (active - self.hourly_share[h])

    def _end_spell(self) -> None:
        self.still_since, self.expected_active, self.inactivity_flagged = -1, 0.0, False

    def _inactivity(self, minute: Minute) -> Finding:
        still = minute.end_ms - self.still_since
        hr = (f"heart rate {minute.hr_mean_bpm:.0f} bpm" if minute.hr_mean_bpm is not None
              else "no heart rate")
        return Finding(
            self.name,
            minute.end_ms,
            Severity.WARNING,
            self.expected_active / 60,
            still / 3_600_000,
            self.expected_active,
            f"No steps for {_fmt_duration(still)} while the watch is worn ({hr}), "
            f"{period_of_day(minute.hour_of_day)}, when this patient usually moves in about "
            f"{self.expected_active:.0f} of those minutes. Possible fall, collapse or acute "
            "illness: check on the patient.",
            kind="unusual_inactivity",
        )

    def _close_hour(self, minute: Minute) -> Finding | None:
        h = self.hour
        if (
            h in NIGHT_HOURS
            and self.hour_steps >= self.night_steps_per_hour
            and self.hourly_share[h] < self.night_usual_share
            and self.status() is Status.OK
        ):
            return Finding(
                self.name,
                minute.start_ms,
                Severity.INFO,
                self.hour_steps / self.night_steps_per_hour,
                float(self.hour_steps),
                self.hourly_share[h],
                f"{self.hour_steps:,} steps between {h:02d}:00 and {h + 1:02d}:00, when this "
                f"patient is usually still (moving in {100 * self.hourly_share[h]:.0f}% of those "
                "minutes). Restless or unwell night?",
                kind="unusual_night_activity",
            )
        return None

    def observe_day(self, day: Day) -> Finding | None:
        """One closed day's steps against the usual (days with too little wear are skipped)."""
        if day.steps is None or day.worn_minutes < self.min_worn_minutes:
            return None
        self.recent_days.append(day.steps)
        while len(self.recent_days) > self.decline_days:
            self.recent_days.popleft()
        finding = None
        declined = False
        if len(self.daily_steps) >= self.min_days and len(self.recent_days) == self.decline_days:
            usual = sorted(self.daily_steps)[len(self.daily_steps) // 2]
            recent = sum(self.recent_days) / len(self.recent_days)
            declined = usual > 0 and recent < self.decline_ratio * usual
            if declined and not self.decline_open:
                finding = Finding(
                    self.name,
                    day.end_ms,
                    Severity.INFO,
                    1 - recent / usual,
                    recent,
                    float(usual),
                    f"Daily steps over the last {self.decline_days} days average {recent:,.0f}, "
                    f"{100 * (1 - recent / usual):.0f}% below this patient's usual {usual:,} "
                    "(median of earlier days). A multi-day decline in activity.",
                    kind="steps_decline",
                )
        self.decline_open = declined
        if not declined:
            self.daily_steps.append(day.steps)  # declined days are not learned
            while len(self.daily_steps) > self.history_days:
                self.daily_steps.popleft()
        return finding

    def to_state(self) -> dict[str, Any]:
        return {
            "share": [round(v, 4) for v in self.hourly_share],
            "n": self.hourly_n,
            "spell": [
                self.still_since,
                self.last_worn_ms,
                round(self.expected_active, 3),
                self.inactivity_flagged,
            ],
            "hour": [self.hour, self.hour_steps],
            "daily": list(self.daily_steps),
            "recent": list(self.recent_days),
            "decline_open": self.decline_open,
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> ActivityPattern:
        det = cls()
        det.hourly_share = [float(v) for v in st["share"]]
        det.hourly_n = [int(v) for v in st["n"]]
        s = st["spell"]
        det.still_since, det.last_worn_ms = int(s[0]), int(s[1])
        det.expected_active, det.inactivity_flagged = float(s[2]), bool(s[3])
        det.hour, det.hour_steps = (int(v) for v in st["hour"])
        det.daily_steps = deque(int(v) for v in st["daily"])
        det.recent_days = deque(int(v) for v in st["recent"])
        det.decline_open = bool(st.get("decline_open", False))
        return det
