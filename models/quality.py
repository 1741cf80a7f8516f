"""Data quality: is the device worn and sending? "Can't assess" is a status, never "normal".

The patient is assessable while a worn sample (heart rate or beat intervals) arrived within
``cant_assess_after_ms`` of the newest sample. Two information findings: the device is sending
samples without heart rate (off-wrist) for ``off_wrist_ms``, and data resumed after a gap of
``report_gap_ms`` or more. Sync lag and battery are upload properties: the stream reports them
with each upload's quality record. Nothing is learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wearmon.models.base import Context, Finding, Severity, Status

MINUTE_MS = 60_000


def _words(ms: int) -> str:
    minutes = ms // MINUTE_MS
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


@dataclass(slots=True)
class DataQuality:
    """Wear and gaps in event time.

    >>> dq = DataQuality()
    >>> dq.status().value
    'cant_assess'
    >>> dq.score_then_learn(Context(t_ms=0, hr_bpm=70)) is None
    True
    >>> dq.status().value
    'ok'
    >>> off = [dq.score_then_learn(Context(t_ms=s * 1000, worn=False, steps=0, has_steps=True))
    ...        for s in range(0, 1300, 60)]
    >>> dq.status().value, [f.kind for f in off if f]
    ('cant_assess', ['off_wrist'])
    >>> print(dq.score_then_learn(Context(t_ms=3 * 3_600_000, hr_bpm=72)).explanation)
    Heart-rate data resumed after a gap of 3 h 00 min: nothing could be assessed in that time.
    """

    name: str = "data_quality"
    cant_assess_after_ms: int = 10 * MINUTE_MS
    off_wrist_ms: int = 5 * MINUTE_MS
    report_gap_ms: int = 15 * MINUTE_MS
    last_worn_ms: int = -1
    last_t_ms: int = -1
    off_wrist_reported: bool = False

    def status(self) -> Status:
        if self.last_worn_ms < 0 or self.last_t_ms - self.last_worn_ms > self.cant_assess_after_ms:
            return Status.CANT_ASSESS
        return Status.OK

    def score_then_learn(self, ctx: Context) -> Finding | None:
        self.last_t_ms = max(self.last_t_ms, ctx.t_ms)
        if ctx.worn:
            gap = ctx.t_ms - self.last_worn_ms if self.last_worn_ms >= 0 else 0
            self.last_worn_ms = ctx.t_ms
            self.off_wrist_reported = False
            if gap >= self.report_gap_ms:
                return Finding(
                    self.name,
                    ctx.t_ms,
                    Severity.INFO,
                    gap / self.report_gap_ms,
                    gap / 1000,
                    None,
                    f"Heart-rate data resumed after a gap of {_words(gap)}: nothing could be "
                    "assessed in that time.",
                    kind="data_gap",
                )
            return None
        since = ctx.t_ms - self.last_worn_ms if self.last_worn_ms >= 0 else 0
        if self.last_worn_ms >= 0 and since >= self.off_wrist_ms and not self.off_wrist_reported:
            self.off_wrist_reported = True
            return Finding(
                self.name,
                ctx.t_ms,
                Severity.INFO,
                since / self.off_wrist_ms,
                since / 1000,
                None,
                f"The device is sending data but no heart rate for {_words(since)}: probably "
                "not worn (off-wrist). The patient cannot be assessed until it is worn again.",
                kind="off_wrist",
            )
        return None

    def to_state(self) -> dict[str, Any]:
        return {"worn": self.last_worn_ms, "t": self.last_t_ms, "off": self.off_wrist_reported}

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> DataQuality:
        return cls(
            last_worn_ms=int(st["worn"]), last_t_ms=int(st["t"]), off_wrist_reported=bool(st["off"])
        )
