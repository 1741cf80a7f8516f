"""Irregular rhythm (atrial-fibrillation-like) from beat-to-beat (RR) intervals.

Over the last ``window`` plausible beats (RR 300-2000 ms; other values are detection artefacts)
two irregularity measures are computed every ``stride`` beats:

* **nRMSSD**: root mean square of successive differences divided by the mean RR, after dropping
  the largest 10 % of successive differences (an ectopic beat makes two large differences; AF makes
  them everywhere);
* **word entropy** (symbolic dynamics, after Zhou et al. 2014/2015): each beat's instantaneous
  heart rate becomes a symbol (``HR_STEP_BPM``-wide levels), three consecutive symbols a word;
  the Shannon entropy of the window's words, normalised to 0-1. Sinus rhythm, even with ectopic
  beats or bigeminy, repeats a few words; AF almost never repeats one.

The rhythm is irregular when both exceed their thresholds; it returns to regular only after
``exit_evaluations`` regular evaluations in a row (hysteresis). ``irregular`` is the decision at
each moment; findings (alerts) are emitted once it has lasted ``alert_after_ms``. One setting
for all patients: the thresholds ``NRMSSD_THRESHOLD`` and ``ENTROPY_THRESHOLD`` are chosen by
the evaluation's leave-one-record-out protocol on the MIT-BIH AF database (see their comments).
There is nothing to learn per patient, so a flagged window is never learned. The windows of one
upload's beats are computed together as arrays (one row per evaluation).
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
HR_STEP_BPM = 5.0  # width of one heart-rate symbol
WORD_BASE = 64  # symbols per word position (heart rates up to 320 bpm)
#: Thresholds shipped for every patient: the grid point with the best balanced time accuracy
#: ((sensitivity + specificity) / 2) over all 17 MIT-BIH AF records
#: (``wearmon evaluate --dataset afdb --data-dir ../shared/data`` reports it as
#: ``shipped_settings``); each record's published figure uses the setting chosen without that
#: record (leave-one-record-out).
NRMSSD_THRESHOLD = 0.06
ENTROPY_THRESHOLD = 0.94


RESET_GAP_MS = 60_000  # a longer silence: start over rather than join distant beats


def word_entropy_rows(windows: IntArray) -> FloatArray:
    """Normalised Shannon entropy (0-1) of the 3-beat heart-rate words of each row of RR (ms).

    >>> bool(word_entropy_rows(np.array([[800, 810, 790] * 20]))[0] < 0.3)
    True
    """
    symbols = np.floor(60_000.0 / windows / HR_STEP_BPM).astype(np.int64)
    words = np.sort(symbols[:, :-2] * WORD_BASE**2 + symbols[:, 1:-1] * WORD_BASE
                    + symbols[:, 2:], axis=1)
    rows, n = words.shape
    if n < 2:
        return np.zeros(rows)
    first = np.ones_like(words, dtype=bool)
    first[:, 1:] = words[:, 1:] != words[:, :-1]
    counts = np.bincount(np.cumsum(first.ravel()) - 1).astype(np.float64)
    row_of_word = np.repeat(np.arange(rows), n)[first.ravel()]
    clogc = np.bincount(row_of_word, weights=counts * np.log(counts), minlength=rows)
    return np.asarray((np.log(n) - clogc / n) / np.log(n), dtype=np.float64)


def irregularity_rows(windows: IntArray) -> tuple[FloatArray, FloatArray]:
    """(nRMSSD, word entropy) of each row of RR intervals (ms), all at once.

    >>> regular = np.array([[800, 810, 790, 805, 795] * 8])
    >>> n, e = irregularity_rows(regular)
    >>> bool(n[0] < 0.03), bool(e[0] < 0.5)
    (True, True)
    >>> rng = np.random.default_rng(1)
    >>> n, e = irregularity_rows(rng.integers(450, 1100, size=(1, 40)))
    >>> bool(n[0] > 0.15 and e[0] > 0.9)
    True
    """
    width = windows.shape[1]
    diffs = np.sort(np.abs(np.diff(windows, axis=1)), axis=1)
    keep = max(1, (width - 1) - (width - 1) // 10)
    nrmssd = np.sqrt(np.mean(diffs[:, :keep].astype(np.float64) ** 2, axis=1))
    nrmssd /= windows.mean(axis=1)
    return nrmssd, word_entropy_rows(windows)


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
    nrmssd_threshold: float = NRMSSD_THRESHOLD
    entropy_threshold: float = ENTROPY_THRESHOLD
    exit_evaluations: int = 2
    min_beats: int = 32
    alert_after_ms: int = 5 * 60_000  # findings only once irregular this long (AF burden)
    repeat_ms: int = 60_000  # while it lasts, one finding a minute
    rest_only: bool = True  # beats while the patient moves (steps) are not assessed
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
        gaps = (previous >= 0) & (block.t_ms - previous > RESET_GAP_MS)
        if block.moving is not None and self.rest_only and block.moving.any():
            # while the patient moves, beats are not assessed and the analysis starts over
            edges = np.diff(np.concatenate(([False], block.moving)).astype(np.int8)) != 0
            gaps |= edges
            plausible = plausible & ~block.moving
        resets = np.flatnonzero(gaps)
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
            f"{100 * self.nrmssd_threshold:.0f}%) and the beat-to-beat pattern hardly ever "
            f"repeats (entropy {self.last_entropy:.2f}, regular rhythm: under "
            f"{self.entropy_threshold:.2f}). Pattern consistent with atrial fibrillation; "
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
