"""Rhythm metrics, as pure functions of the decision at each beat and the labels.

* afdb: time-weighted sensitivity / specificity of the AF decision (AF vs everything else, each
  beat weighted by its interval), episode sensitivity for AF episodes ≥ 1 minute, median delay
  from episode start to the first beat decided AF.
* nsr (no AF anywhere): AF alerts per 24 h of beats and time specificity.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from wearmon.models.base import BoolArray, IntArray

MIN_EPISODE_MS = 60_000


def _rate(num: float, den: float) -> float | None:
    return round(num / den, 4) if den > 0 else None


def rhythm_counts(t_ms: IntArray, span_ms: IntArray, irregular: BoolArray,
                  af_episodes: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """Seconds of true/false positives/negatives, and the delays to each long AF episode.

    >>> t = np.array([0, 5_000, 10_000, 15_000])
    >>> r = rhythm_counts(t, np.full(4, 5_000), np.array([False, False, True, True]),
    ...                   [(5_000, 65_000)])
    >>> r["tp_s"], r["fn_s"], r["tn_s"], r["fp_s"], r["delays_s"]
    (10.0, 5.0, 5.0, 0.0, [5.0])
    """
    eps = sorted(af_episodes)
    starts = np.array([s for s, _ in eps], dtype=np.int64)
    ends = np.array([e for _, e in eps], dtype=np.int64)
    which = np.searchsorted(starts, t_ms, side="right") - 1  # the episode starting at or before
    in_af = (which >= 0) & (t_ms < ends[np.maximum(which, 0)]) if len(eps) else \
        np.zeros(len(t_ms), dtype=bool)
    span = span_ms / 1000
    pred = np.asarray(irregular, dtype=bool)
    delays = []
    for i, (s, e) in enumerate(eps):
        if e - s < MIN_EPISODE_MS:
            continue
        hits = np.flatnonzero(in_af & pred & (which == i))
        if len(hits):
            delays.append(max(0.0, (int(t_ms[hits[0]]) - s) / 1000))
    return {
        "tp_s": round(float(span[in_af & pred].sum()), 1),
        "fp_s": round(float(span[~in_af & pred].sum()), 1),
        "tn_s": round(float(span[~in_af & ~pred].sum()), 1),
        "fn_s": round(float(span[in_af & ~pred].sum()), 1),
        "af_episodes_1min": sum(1 for s, e in eps if e - s >= MIN_EPISODE_MS),
        "af_episodes_detected": len(delays),
        "delays_s": delays,
    }


def afdb_record(record: str, counts: dict[str, Any]) -> dict[str, Any]:
    """One record's row from its ``rhythm_counts``."""
    tp, fp, tn, fn = (counts[k] for k in ("tp_s", "fp_s", "tn_s", "fn_s"))
    return {
        "record": record,
        **counts,
        "sensitivity": _rate(tp, tp + fn),
        "specificity": _rate(tn, tn + fp),
    }


def afdb_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pooled time sensitivity/specificity, episode sensitivity and delay."""
    tp, fp, tn, fn = (sum(r[k] for r in rows) for k in ("tp_s", "fp_s", "tn_s", "fn_s"))
    eps = sum(r["af_episodes_1min"] for r in rows)
    hit = sum(r["af_episodes_detected"] for r in rows)
    delays = [d for r in rows for d in r["delays_s"]]
    return {
        "sensitivity": _rate(tp, tp + fn),
        "specificity": _rate(tn, tn + fp),
        "episode_sensitivity": _rate(hit, eps),
        "median_detection_delay_s": round(statistics.median(delays), 1) if delays else None,
        "af_hours": round((tp + fn) / 3600, 2),
        "non_af_hours": round((tn + fp) / 3600, 2),
        "af_episodes_1min": eps,
    }


def nsr_record(record: str, span_ms: IntArray, irregular: BoolArray, af_alerts: int
               ) -> dict[str, Any]:
    """One sinus-rhythm record: every AF decision and alert is false.

    >>> r = nsr_record("n", np.full(720, 5_000), np.arange(720) < 36, 1)
    >>> r["hours"], r["af_alerts_per_24h"], r["time_specificity"]
    (1.0, 24.0, 0.95)
    """
    span = span_ms / 1000
    hours = float(span.sum()) / 3600
    irregular_s = float(span[np.asarray(irregular, dtype=bool)].sum())
    return {
        "record": record,
        "hours": round(hours, 3),
        "irregular_s": round(irregular_s, 1),
        "af_alerts": af_alerts,
        "af_alerts_per_24h": _rate(24 * af_alerts, hours),
        "time_specificity": _rate(hours * 3600 - irregular_s, hours * 3600),
    }


def nsr_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    hours = sum(r["hours"] for r in rows)
    alerts = sum(r["af_alerts"] for r in rows)
    irregular_s = sum(r["irregular_s"] for r in rows)
    return {
        "records": len(rows),
        "hours": round(hours, 2),
        "af_alerts": alerts,
        "af_alerts_per_24h": _rate(24 * alerts, hours),
        "time_specificity": _rate(hours * 3600 - irregular_s, hours * 3600),
    }
