"""Sliding windows in event time over an upload's arrays (pure numpy, no per-sample loop)."""

from __future__ import annotations

import numpy as np

from wearmon.models.base import FloatArray, IntArray


def rolling_median(t_ms: IntArray, values: FloatArray, window_ms: int) -> FloatArray:
    """At each reading, the median of the readings in ``(t - window_ms, t]``.

    ``t_ms`` is sorted; all ``values`` are present (no NaN).

    >>> rolling_median(np.array([0, 10, 20, 40]), np.array([60., 90., 61., 62.]), 30)
    array([60. , 75. , 61. , 61.5])
    """
    n = len(t_ms)
    if n == 0:
        return np.zeros(0)
    start = np.searchsorted(t_ms, t_ms - window_ms, side="right")
    length = np.arange(1, n + 1) - start
    width = int(length.max())
    index = start[:, None] + np.arange(width)[None, :]
    inside = index <= np.arange(n)[:, None]
    rows = np.where(inside, values[np.minimum(index, n - 1)], np.inf)
    rows.sort(axis=1)
    lo = rows[np.arange(n), (length - 1) // 2]
    hi = rows[np.arange(n), length // 2]
    return (lo + hi) / 2


def recent_sum(t_ms: IntArray, bucket_ms: IntArray, amounts: FloatArray, window_ms: int,
               earlier_bucket_ms: IntArray, earlier_amounts: IntArray) -> IntArray:
    """At each sample, the amounts of the buckets (e.g. minutes) that start after
    ``t - window_ms``, counting this upload's samples up to and including it and the earlier
    buckets carried from before (``earlier_*``, sorted).

    >>> t = np.array([0, 60_000, 120_000])
    >>> recent_sum(t, t, np.array([5., 0., 1.]), 120_000, np.array([-60_000]), np.array([4]))
    array([9, 5, 1])
    """
    if len(t_ms) == 0:
        return np.zeros(0, dtype=np.int64)
    cut = t_ms - window_ms
    total = np.cumsum(amounts)
    first = np.searchsorted(bucket_ms, cut, side="right")
    before = np.where(first > 0, total[np.maximum(first - 1, 0)], 0.0)
    mine = total - before
    if len(earlier_bucket_ms):
        tail = np.concatenate((np.cumsum(earlier_amounts[::-1])[::-1], [0]))
        mine = mine + tail[np.searchsorted(earlier_bucket_ms, cut, side="right")]
    return mine.astype(np.int64)
