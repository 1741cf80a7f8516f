"""Irregular rhythm (atrial-fibrillation-like) from beat-to-beat (RR) intervals.

Over the last ``window`` plausible beats (RR 300-2000 ms; other values are detection artefacts)
two irregularity measures are computed every ``stride`` beats:

* **nRMSSD**: root mean square of successive differences divided by the mean RR, after dropping
  the largest 10 % of successive differences (an ectopic beat makes two large differences; AF makes
  them everywhere);
* **Shannon entropy** of the RR histogram (16 bins between the trimmed minimum and maximum),
  normalised to 0-1: a regular or bigeminal rhythm fills few bins, AF fills many.

The rhythm is irregular when both exceed their thresholds; it returns to regular only after
``exit_evaluations`` regular evaluations in a row (hysteresis). ``irregular`` is the decision at
each moment; findings (alerts) are emitted once it has lasted ``alert_after_ms``. Thresholds are
set for all patients (tuned on the MIT-BIH AF database as a whole, never per record). There is
nothing to learn per patient, so a flagged window is never learned. Cost: one window computation
per ``stride`` beats.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from wearmon.models.base import Context, Finding, Severity, Status

RR_LOW_MS = 300
RR_HIGH_MS = 2000
BINS = 16


def irregularity(rr: list[int]) -> tuple[float, float]:
    """(nRMSSD, normalised Shannon entropy) of a window of RR intervals in ms.

    >>> regular = [800, 810, 790, 805, 795] * 8
    >>> n, e = irregularity(regular)
    >>> n < 0.03
    True
    >>> import random
    >>> rng = random.Random(1)
    >>> af = [rng.randint(450, 1100) for _ in range(40)]
    >>> n, e = irregularity(af)
    >>> n > 0.15 and e > 0.7
    True
    """
    diffs = sorted(abs(b - a) for a, b in pairwise(rr))
    keep = diffs[: max(1, len(diffs) - len(diffs) // 10)]
    mean_rr = sum(rr) / len(rr)
    nrmssd = math.sqrt(sum(d * d for d in keep) / len(keep)) / mean_rr
    trimmed = sorted(rr)
    cut = len(trimmed) // 16
    if cut:
        trimmed = trimmed[cut:-cut]
    lo, hi = trimmed[0], trimmed[-1]
    if hi - lo < 1:
        return nrmssd, 0.0
    counts = [0] * BINS
    width = (hi - lo) / BINS
    for v in trimmed:
        counts[min(int((v - lo) / width), BINS - 1)] += 1
    n = len(trimmed)
    entropy = -sum(c / n * math.log(c / n) for c in counts if c)
    return nrmssd, entropy / math.log(BINS)


@dataclass(slots=True)
class IrregularRhythm:
    """AF-like irregularity over a sliding window of beats.

    >>> import random
    >>> rng = random.Random(7)
    >>> det = IrregularRhythm()
    >>> t = 0
    >>> for _ in range(80):
    ...     t += 800
    ...     _ = det.score_then_learn(Context(t_ms=t, rr_ms=(800 + rng.randint(-15, 15),)))
    >>> det.irregular
    False
    >>> out = []
    >>> for _ in range(600):
    ...     rr = rng.randint(400, 1100); t += rr
    ...     out.append(det.score_then_learn(Context(t_ms=t, rr_ms=(rr,))))
    >>> det.irregular, [f for f in out if f][-1].kind
    (True, 'irregular_rhythm')
    """

    name: str = "irregular_rhythm"
    window: int = 64
    stride: int = 4
    nrmssd_threshold: float = 0.12
    entropy_threshold: float = 0.75
    exit_evaluations: int = 2
    min_beats: int = 32
    alert_after_ms: int = 5 * 60_000  # findings only once irregular this long (AF burden)
    beats: deque[int] = field(default_factory=deque)
    new_beats: int = 0
    irregular: bool = False
    regular_run: int = 0
    since_ms: int = -1
    last_beat_ms: int = -1
    last_nrmssd: float = 0.0
    last_entropy: float = 0.0

    def status(self) -> Status:
        return Status.OK if len(self.beats) >= self.min_beats else Status.CANT_ASSESS

    def score_then_learn(self, ctx: Context) -> Finding | None:
        if not ctx.rr_ms:
            if self.last_beat_ms >= 0 and ctx.t_ms - self.last_beat_ms > 60_000:
                self._reset()  # beat stream stopped: start over rather than join distant beats
            return None
        if self.last_beat_ms >= 0 and ctx.t_ms - self.last_beat_ms > 60_000:
            self._reset()
        self.last_beat_ms = ctx.t_ms
        for rr in ctx.rr_ms:
            if RR_LOW_MS <= rr <= RR_HIGH_MS:
                self.beats.append(rr)
                self.new_beats += 1
        while len(self.beats) > self.window:
            self.beats.popleft()
        if self.new_beats >= self.stride and len(self.beats) >= self.min_beats:
            self.new_beats = 0
            self.last_nrmssd, self.last_entropy = irregularity(list(self.beats))
            now_irregular = (
                self.last_nrmssd > self.nrmssd_threshold
                and self.last_entropy > self.entropy_threshold
            )
            if now_irregular:
                self.regular_run = 0
                if not self.irregular:
                    self.irregular, self.since_ms = True, ctx.t_ms
            elif self.irregular:
                self.regular_run += 1
                if self.regular_run >= self.exit_evaluations:
                    self.irregular, self.since_ms = False, -1
        if not self.irregular or ctx.t_ms - self.since_ms < self.alert_after_ms:
            return None
        mean_rr = sum(self.beats) / len(self.beats)
        return Finding(
            self.name,
            ctx.t_ms,
            Severity.WARNING,
            self.last_nrmssd / self.nrmssd_threshold,
            self.last_nrmssd,
            self.nrmssd_threshold,
            f"Irregular heart rhythm for {(ctx.t_ms - self.since_ms) / 1000:.0f} s: over the last "
            f"{len(self.beats)} beats (mean {60_000 / mean_rr:.0f} bpm) beat-to-beat variation is "
            f"{100 * self.last_nrmssd:.0f}% of the beat interval (regular rhythm: under "
            f"{100 * self.nrmssd_threshold:.0f}%) and the intervals are spread without pattern "
            f"(entropy {self.last_entropy:.2f}). Pattern consistent with atrial fibrillation; "
            "confirm with an ECG.",
            kind="irregular_rhythm",
        )

    def _reset(self) -> None:
        self.beats.clear()
        self.new_beats = 0
        self.irregular, self.regular_run, self.since_ms = False, 0, -1

    def to_state(self) -> dict[str, Any]:
        return {
            "beats": list(self.beats),
            "new": self.new_beats,
            "irregular": self.irregular,
            "regular_run": self.regular_run,
            "since": self.since_ms,
            "last_beat": self.last_beat_ms,
            "last": [self.last_nrmssd, self.last_entropy],
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> IrregularRhythm:
        det = cls()
        det.beats = deque(int(v) for v in st["beats"])
        det.new_beats = int(st["new"])
        det.irregular = bool(st["irregular"])
        det.regular_run = int(st["regular_run"])
        det.since_ms = int(st["since"])
        det.last_beat_ms = int(st["last_beat"])
        det.last_nrmssd, det.last_entropy = (float(v) for v in st["last"])
        return det
