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


def test_beats_while_the_patient_moves_are_not_assessed() -> None:
    """Chest-strap and watch beat intervals are garbage while walking (MMASH): the rhythm is
    judged at rest only, and starts over after moving; without step data nothing changes."""
    rng = np.random.default_rng(11)
    rr = rng.integers(400, 1100, 900)  # AF-like irregularity, ~10 minutes
    walking = IrregularRhythm().score_beats(
        BeatBlock.build(rr.tolist(), moving=[True] * len(rr)))
    assert walking[0] == [] and not walking[1].any()
    unknown = IrregularRhythm().score_beats(BeatBlock.build(rr.tolist()))
    assert unknown[0] and unknown[1][-1]
    # at rest, then a short walk: the irregular decision restarts after the walk
    moving = [False] * 600 + [True] * 50 + [False] * 250
    det = IrregularRhythm()
    found, irregular = det.score_beats(BeatBlock.build(rr.tolist(), moving=moving))
    assert irregular[599] and not irregular[600:650].any()
    assert found and all(f.t_ms < int(np.cumsum(rr)[600]) for f in found)  # < 5 min after
