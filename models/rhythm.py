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
nothing to learn per patient, so a flagged window is never learned. The windows of one upload's
beats are computed together as arrays (one row per evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from wearmon.models.base import (
    BeatBlock,
    BoolArray,
    Finding,
    FloatArray,
    IntArray,
    Severity,
    Status,
)

RR_LOW_MS = 300
RR_HIGH_MS = 2000
BINS = 16


RESET_GAP_MS = 60_000  # a longer silence: start over rather than join distant beats


def irregularity_rows(windows: IntArray) -> tuple[FloatArray, FloatArray]:
    """(nRMSSD, normalised Shannon entropy) of each row of RR intervals (ms), all at once.

    >>> regular = np.array([[800, 810, 790, 805, 795] * 8])
    >>> n, e = irregularity_rows(regular)
    >>> bool(n[0] < 0.03)
    True
    >>> rng = np.random.default_rng(1)
    >>> n, e = irregularity_rows(rng.integers(450, 1100, size=(1, 40)))
    >>> bool(n[0] > 0.15 and e[0] > 0.7)
    True
    """
    rows, width = windows.shape
    diffs = np.sort(np.abs(np.diff(windows, axis=1)), axis=1)
    keep = max(1, (width - 1) - (width - 1) // 10)
    nrmssd = np.sqrt(np.mean(diffs[:, :keep].astype(np.float64) ** 2, axis=1))
    nrmssd /= windows.mean(axis=1)
    ordered = np.sort(windows, axis=1)
    cut = width // 16
    trimmed = ordered[:, cut:width - cut] if cut else ordered
    lo, hi = trimmed[:, :1].astype(np.float64), trimmed[:, -1:].astype(np.float64)
    span = np.maximum(hi - lo, 1.0)
    bins = np.clip(((trimmed - lo) / span * BINS).astype(np.int64), 0, BINS - 1)
    counts = np.bincount((bins + BINS * np.arange(rows)[:, None]).ravel(),
                         minlength=rows * BINS).reshape(rows, BINS)
    share = counts / trimmed.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(share > 0, share * np.log(share), 0.0), axis=1)
    entropy = np.where((hi - lo)[:, 0] < 1, 0.0, entropy / np.log(BINS))
    return nrmssd, entropy


def irregularity(rr: list[int]) -> tuple[float, float]:
    """(nRMSSD, normalised entropy) of one window of RR intervals in ms."""
    n, e = irregularity_rows(np.array([rr], dtype=np.int64))
    return float(n[0]), float(e[0])


@dataclass(slots=True)
class IrregularRhythm:
    """AF-like irregularity over a sliding window of beats.

    >>> rng = np.random.default_rng(7)
    >>> det = IrregularRhythm()
    >>> found, irregular = det.score_beats(BeatBlock.build(800 + rng.integers(-15, 16, 80)))
    >>> det.irregular, bool(irregular.any())
    (False, False)
    >>> rr = rng.integers(400, 1100, 600)
    >>> found, irregular = det.score_beats(BeatBlock.build(rr, start_ms=64_000))
    >>> det.irregular, found[-1].kind
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
    repeat_ms: int = 60_000  # while it lasts, one finding a minute
    beats: list[int] = field(default_factory=list)  # the last ``window`` plausible RR (ms)
    new_beats: int = 0
    irregular: bool = False
    regular_run: int = 0
    since_ms: int = -1
    last_beat_ms: int = -1
    last_nrmssd: float = 0.0
    last_entropy: float = 0.0
    emitted_ms: int = -1

    def status(self) -> Status:
        return Status.OK if len(self.beats) >= self.min_beats else Status.CANT_ASSESS

    def score_beats(self, block: BeatBlock) -> tuple[list[Finding], BoolArray]:
        """Findings, and the irregular/regular decision in force at each beat of ``block``."""
        decisions = np.zeros(len(block), dtype=bool)
        if len(block) == 0:
            return [], decisions
        plausible = (block.rr_ms >= RR_LOW_MS) & (block.rr_ms <= RR_HIGH_MS)
        previous = np.concatenate(([self.last_beat_ms], block.t_ms[:-1]))
        resets = np.flatnonzero((previous >= 0) & (block.t_ms - previous > RESET_GAP_MS))
        findings: list[Finding] = []
        bounds = [0, *resets.tolist(), len(block)]
        for start, end in pairwise(bounds):
            if start in resets:
                self._reset()
            findings += self._segment(block, plausible, start, end, decisions)
        self.last_beat_ms = int(block.t_ms[-1])
        return findings, decisions

    def _segment(self, block: BeatBlock, plausible: BoolArray, start: int, end: int,
                 decisions: BoolArray) -> list[Finding]:
        keep = np.flatnonzero(plausible[start:end]) + start
        carried = len(self.beats)
        rr = np.concatenate((np.array(self.beats, dtype=np.int64), block.rr_ms[keep]))
        # evaluate after every ``stride``-th new plausible beat, once the window is long enough
        k = np.arange(1, len(keep) + 1)
        points = carried + k - 1
        evaluate = ((self.new_beats + k) % self.stride == 0) & (
            np.minimum(points + 1, self.window) >= self.min_beats)
        findings: list[Finding] = []
        decisions[start:end] = self.irregular
        at = points[evaluate]
        if len(at):
            nrmssd, entropy = self._windows(rr, at)
            beat_of = keep[evaluate]
            for j, beat in enumerate(beat_of.tolist()):
                finding = self._decide(float(nrmssd[j]), float(entropy[j]),
                                       int(block.t_ms[beat]), rr, int(at[j]))
                if finding is not None:
                    findings.append(finding)
                decisions[beat:end] = self.irregular
        if len(at):
            self.new_beats = int(len(keep) - 1 - np.flatnonzero(evaluate)[-1])
        else:
            self.new_beats = (self.new_beats + len(keep)) % self.stride
        self.beats = rr[-self.window:].tolist()
        return findings

    def _windows(self, rr: IntArray, at: IntArray) -> tuple[FloatArray, FloatArray]:
        full = at >= self.window - 1
        nrmssd = np.empty(len(at))
        entropy = np.empty(len(at))
        if full.any():
            rows = sliding_window_view(rr, self.window)[at[full] - (self.window - 1)]
            nrmssd[full], entropy[full] = irregularity_rows(rows)
        for j in np.flatnonzero(~full).tolist():  # warm-up: shorter windows, one at a time
            nrmssd[j], entropy[j] = irregularity(rr[: at[j] + 1].tolist())
        return nrmssd, entropy

    def _decide(self, nrmssd: float, entropy: float, t_ms: int, rr: IntArray, at: int
                ) -> Finding | None:
        self.last_nrmssd, self.last_entropy = nrmssd, entropy
        if nrmssd > self.nrmssd_threshold and entropy > self.entropy_threshold:
            self.regular_run = 0
            if not self.irregular:
                self.irregular, self.since_ms = True, t_ms
        elif self.irregular:
            self.regular_run += 1
            if self.regular_run >= self.exit_evaluations:
                self.irregular, self.since_ms = False, -1
        if not self.irregular or t_ms - self.since_ms < self.alert_after_ms:
            return None
        if self.emitted_ms >= 0 and t_ms - self.emitted_ms < self.repeat_ms:
            return None
        self.emitted_ms = t_ms
        window = rr[max(0, at - self.window + 1): at + 1]
        return self._finding(t_ms, float(window.mean()), len(window))

    def _finding(self, t_ms: int, mean_rr: float, beats: int) -> Finding:
        return Finding(
            self.name,
            t_ms,
            Severity.WARNING,
            self.last_nrmssd / self.nrmssd_threshold,
            self.last_nrmssd,
            self.nrmssd_threshold,
            f"Irregular heart rhythm for {(t_ms - self.since_ms) / 1000:.0f} s: over the last "
            f"{beats} beats (mean {60_000 / mean_rr:.0f} bpm) beat-to-beat variation is "
            f"{100 * self.last_nrmssd:.0f}% of the beat interval (regular rhythm: under "
            f"{100 * self.nrmssd_threshold:.0f}%) and the intervals are spread without pattern "
            f"(entropy {self.last_entropy:.2f}). Pattern consistent with atrial fibrillation; "
            "confirm with an ECG.",
            kind="irregular_rhythm",
        )

    def _reset(self) -> None:
        self.beats = []
        self.new_beats = 0
        self.irregular, self.regular_run, self.since_ms = False, 0, -1

    def to_state(self) -> dict[str, Any]:
        return {
            "beats": self.beats,
            "new": self.new_beats,
            "irregular": self.irregular,
            "regular_run": self.regular_run,
            "since": self.since_ms,
            "last_beat": self.last_beat_ms,
            "last": [self.last_nrmssd, self.last_entropy],
            "emitted": self.emitted_ms,
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> IrregularRhythm:
        det = cls()
        det.beats = [int(v) for v in st["beats"]]
        det.new_beats = int(st["new"])
        det.irregular = bool(st["irregular"])
        det.regular_run = int(st["regular_run"])
        det.since_ms = int(st["since"])
        det.last_beat_ms = int(st["last_beat"])
        det.last_nrmssd, det.last_entropy = (float(v) for v in st["last"])
        det.emitted_ms = int(st.get("emitted", -1))
        return det
