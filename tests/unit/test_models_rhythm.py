"""Irregular rhythm features: word entropy tells AF from sinus rhythm with ectopy or bigeminy."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from wearmon.models.base import BeatBlock
from wearmon.models.rhythm import HR_STEP_BPM, IrregularRhythm, word_entropy_rows


def naive_word_entropy(rr: list[int]) -> float:
    symbols = [math.floor(60_000 / r / HR_STEP_BPM) for r in rr]
    words = Counter(zip(symbols, symbols[1:], symbols[2:], strict=False))
    n = sum(words.values())
    return -sum(c / n * math.log(c / n) for c in words.values()) / math.log(n)


def test_word_entropy_matches_a_plain_implementation() -> None:
    rng = np.random.default_rng(4)
    rows = np.vstack([rng.integers(400, 1200, 64), 800 + rng.integers(-30, 31, 64),
                      np.tile([600, 1000], 32)])
    got = word_entropy_rows(rows)
    assert np.allclose(got, [naive_word_entropy(r.tolist()) for r in rows])


def test_bigeminy_and_sinus_arrhythmia_are_not_af() -> None:
    rng = np.random.default_rng(8)
    bigeminy = np.tile([560, 1040], 300) + rng.integers(-8, 9, 600)
    breathing = (900 + 80 * np.sin(np.arange(600) * 2 * np.pi / 4.5)).astype(int)
    for rr in (bigeminy, breathing):
        det = IrregularRhythm()
        findings, irregular = det.score_beats(BeatBlock.build(rr.tolist()))
        assert findings == [] and not irregular.any()


def test_af_is_flagged_and_alerted_after_five_minutes() -> None:
    rng = np.random.default_rng(9)
    det = IrregularRhythm()
    findings, irregular = det.score_beats(BeatBlock.build(rng.integers(380, 1150, 800).tolist()))
    assert irregular[200:].all()
    assert findings and findings[0].t_ms - det.since_ms >= 0
    assert "atrial fibrillation" in findings[0].explanation
