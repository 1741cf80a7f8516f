"""Data quality: is the device worn and sending? "Can't assess" is a status, never "normal".

The patient is assessable while a worn sample (heart rate or beat intervals) arrived within
``cant_assess_after_ms`` of the newest sample. Two information findings: the device is sending
samples without heart rate (off-wrist) for ``off_wrist_ms``, and data resumed after a gap of
``report_gap_ms`` or more. Sync lag and battery are upload properties: the stream reports them
with each upload's quality record. Nothing is learned. Works on an upload's arrays at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wearmon.models.base import Finding, IntArray, SampleBlock, Severity, Status

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
    >>> dq.score_samples(SampleBlock.build([0], hr_bpm=[70]))
    []
    >>> dq.status().value
    'ok'
    >>> off = dq.score_samples(SampleBlock.build(list(range(0, 1_300_000, 60_000))))
    >>> dq.status().value, [f.kind for f in off]
    ('cant_assess', ['off_wrist'])
    >>> print(dq.score_samples(SampleBlock.build([3 * 3_600_000], hr_bpm=[72]))[0].explanation)
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

    def score_samples(self, block: SampleBlock) -> list[Finding]:
        if len(block) == 0:
            return []
        t, worn = block.t_ms, block.worn
        if worn.all() and (self.last_worn_ms < 0 or t[0] - self.last_worn_ms < self.report_gap_ms
                           ) and (len(t) == 1 or (t[-1] - t[0]) < self.report_gap_ms):
            # the usual upload: worn throughout, no gap long enough to report
            self.last_worn_ms, self.off_wrist_reported = int(t[-1]), False
            self.last_t_ms = max(self.last_t_ms, int(t[-1]))
            return []
        findings = []
        worn_t = t[worn]
        if len(worn_t):
            previous = np.concatenate(([self.last_worn_ms], worn_t[:-1]))
            gaps = np.where(previous >= 0, worn_t - previous, 0)
            for i in np.flatnonzero(gaps >= self.report_gap_ms).tolist():
                findings.append(self._gap(int(worn_t[i]), int(gaps[i])))
        # off-wrist: time since the last worn sample, at each sample without wear
        last_worn = np.maximum.accumulate(np.where(worn, t, self.last_worn_ms))
        since = t - last_worn
        off = ~worn & (last_worn >= 0) & (since >= self.off_wrist_ms)
        # one report per stretch without wear (a worn sample re-arms it)
        off_idx, worn_idx = np.flatnonzero(off), np.flatnonzero(worn)
        if len(off_idx):
            stretch = np.searchsorted(worn_idx, off_idx)  # worn samples before each
            first = np.concatenate(([True], stretch[1:] != stretch[:-1]))
            report = first & ~((stretch == 0) & self.off_wrist_reported)
            for i in off_idx[report].tolist():
                findings.append(self._off_wrist(int(t[i]), int(since[i])))
        if len(off_idx) and (not len(worn_idx) or off_idx[-1] > worn_idx[-1]):
            self.off_wrist_reported = True
        elif len(worn_idx):
            self.off_wrist_reported = False
        if len(worn_t):
            self.last_worn_ms = int(worn_t[-1])
        self.last_t_ms = max(self.last_t_ms, int(t[-1]))
        return sorted(findings, key=lambda f: f.t_ms)

    def _gap(self, t_ms: int, gap_ms: int) -> Finding:
        return Finding(
            self.name, t_ms, Severity.INFO, gap_ms / self.report_gap_ms, gap_ms / 1000, None,
            f"Heart-rate data resumed after a gap of {_words(gap_ms)}: nothing could be "
            "assessed in that time.",
            kind="data_gap",
        )

    def _off_wrist(self, t_ms: int, since_ms: int) -> Finding:
        return Finding(
            self.name, t_ms, Severity.INFO, since_ms / self.off_wrist_ms, since_ms / 1000, None,
            f"The device is sending data but no heart rate for {_words(since_ms)}: probably "
            "not worn (off-wrist). The patient cannot be assessed until it is worn again.",
            kind="off_wrist",
        )

    def to_state(self) -> dict[str, Any]:
        return {"worn": self.last_worn_ms, "t": self.last_t_ms, "off": self.off_wrist_reported}

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> DataQuality:
        return cls(
            last_worn_ms=int(st["worn"]), last_t_ms=int(st["t"]), off_wrist_reported=bool(st["off"])
        )


def score_many(detectors: Sequence[DataQuality], block: SampleBlock, starts: IntArray
               ) -> list[list[Finding]]:
    """Data quality of several patients at once (``detectors[k]`` sees
    ``block[starts[k]:starts[k + 1]]``): the usual case (worn throughout, no gap to report) is
    decided for all with a few array operations; the others get the full ``score_samples``."""
    found: list[list[Finding]] = [[] for _ in detectors]
    if not len(block):
        return found
    sizes = np.diff(starts)
    segment = np.repeat(np.arange(len(detectors)), sizes)
    t = block.t_ms
    previous = np.empty(len(t), dtype=np.int64)
    previous[1:] = t[:-1]
    firsts = starts[:-1][sizes > 0]
    previous[firsts] = [detectors[k].last_worn_ms for k in np.flatnonzero(sizes > 0).tolist()]
    gap_limit = np.array([d.report_gap_ms for d in detectors])[segment]
    usual = block.worn & ((previous < 0) | (t - previous < gap_limit))
    unusual = np.zeros(len(detectors), dtype=bool)
    unusual[segment[~usual]] = True
    for k, detector in enumerate(detectors):
        lo, hi = int(starts[k]), int(starts[k + 1])
        if lo == hi:
            continue
        if unusual[k]:
            found[k] = detector.score_samples(block.slice(lo, hi))
        else:  # worn throughout, no gap long enough to report
            detector.last_worn_ms, detector.off_wrist_reported = int(t[hi - 1]), False
            detector.last_t_ms = max(detector.last_t_ms, int(t[hi - 1]))
    return found
