"""The samples of a batch's uploads → ``Columns``, checked together where they are clean.

The common upload is clean: objects with known keys, whole-number or float values in range, in
time order, none in the future, each sample with something in it. The samples of all such
uploads of a batch are gathered into one set of arrays and checked at once; each upload gets its
slices. An upload that fails a check is left out and takes the per-upload path
(``sample_columns.parse_samples``), which names every issue exactly as for one upload.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from wearmon.models.base import FloatArray, IntArray
from wearmon.stream.core.sample_columns import (
    HIGH_BOUNDS,
    LOW_BOUNDS,
    NUMBER_TYPES,
    SAMPLE_KEYS,
)
from wearmon.stream.core.schema import (
    FLOAT_FIELDS,
    MAX_RR_PER_SAMPLE,
    RR_RANGE,
    STEPS,
    Columns,
)


def parse_many(samples: Sequence[object], received_ms: Sequence[int], max_samples: int,
               max_clock_skew_ms: int) -> list[Columns | None]:
    """The ``Columns`` of each upload whose samples are common and clean, checked together.

    ``samples`` holds each upload's ``samples`` value. The samples of all the uploads are
    gathered into one set of arrays and checked at once; each clean upload gets its slices
    (views). ``None`` marks an upload that is not clean (unusual, out of range, out of order,
    in the future, a repeated time, an empty sample, …): ``parse_samples`` gives the same
    ``Columns`` for a clean upload, and names the issues (or rejects) for the others.
    """
    chosen = [i for i, raw in enumerate(samples)
              if type(raw) is list and 0 < len(raw) <= max_samples]
    found: list[Columns | None] = [None] * len(samples)
    while chosen:  # each round leaves out at least one upload
        try:
            columns = _gather([samples[i] for i in chosen],  # type: ignore[misc]
                              [received_ms[i] + max_clock_skew_ms for i in chosen])
        except _LeaveOut as unclean:
            if not unclean.uploads:  # cannot happen; never loop forever
                break
            chosen = [i for k, i in enumerate(chosen) if k not in unclean.uploads]
            continue
        for i, upload_columns in zip(chosen, columns, strict=True):
            found[i] = upload_columns
        break
    return found


class _LeaveOut(Exception):
    """These uploads (positions in the batch) are not clean: they take the per-upload path."""

    def __init__(self, owner: IntArray, bad: npt.ArrayLike) -> None:
        super().__init__()
        self.uploads = set(owner[np.asarray(bad, dtype=bool)].tolist())


def _gather(uploads: list[list[Any]], future_limit_ms: list[int]) -> list[Columns]:
    """Each upload's ``Columns``; raises ``_LeaveOut`` naming every upload that fails a check."""
    sizes = np.array([len(u) for u in uploads], dtype=np.int64)
    owner = np.repeat(np.arange(len(uploads)), sizes)  # the upload of each sample
    flat = list(chain.from_iterable(uploads))
    if set(map(type, flat)) != {dict}:
        raise _LeaveOut(owner, [type(s) is not dict for s in flat])
    keys = set().union(*flat)
    if not keys <= SAMPLE_KEYS:
        raise _LeaveOut(owner, [not s.keys() <= SAMPLE_KEYS for s in flat])
    t_ms = _batch_times(flat, owner, np.repeat(np.array(future_limit_ms, dtype=np.int64), sizes))
    values = _batch_values(flat, keys, owner)
    rr_ms, rr_count = _batch_beats(flat, keys, owner)
    empty = np.isnan(values).all(axis=0) & (rr_count == 0)
    if empty.any():
        raise _LeaveOut(owner, empty)  # parse_samples drops such a sample
    ends = np.cumsum(sizes)
    starts = ends - sizes
    beat_at = np.concatenate(([0], np.cumsum(rr_count)))  # beats before each sample
    bounds = zip(starts.tolist(), ends.tolist(), beat_at[starts].tolist(),
                 beat_at[ends].tolist(), strict=True)
    return [Columns(t_ms[lo:hi], values[:, lo:hi], rr_ms[beat_lo:beat_hi], rr_count[lo:hi])
            for lo, hi, beat_lo, beat_hi in bounds]


def _batch_times(flat: list[dict[str, Any]], owner: IntArray, future_limit_ms: IntArray
                 ) -> IntArray:
    """Every sample's ``t_ms``: an integer, not negative, not in the future, and after the
    sample before it in its upload."""
    times: list[Any] = [s.get("t_ms") for s in flat]
    if set(map(type, times)) != {int}:
        raise _LeaveOut(owner, [type(t) is not int for t in times])
    try:
        t_ms = np.array(times, dtype=np.int64)
    except OverflowError:
        raise _LeaveOut(owner, [not 0 <= t < 2**63 for t in times]) from None
    bad = (t_ms < 0) | (t_ms > future_limit_ms)
    bad[1:] |= (t_ms[1:] <= t_ms[:-1]) & (owner[1:] == owner[:-1])
    if bad.any():
        raise _LeaveOut(owner, bad)
    return t_ms


def _batch_values(flat: list[dict[str, Any]], keys: set[str], owner: IntArray) -> FloatArray:
    """The value matrix (one row per field): numbers (whole steps), finite, in range."""
    rows = [[s.get(name) for s in flat] if name in keys else None for name in FLOAT_FIELDS]
    present = [row for row in rows if row is not None]
    if present and not set(map(type, chain.from_iterable(present))) <= NUMBER_TYPES:
        raise _LeaveOut(owner, np.any([[type(v) not in NUMBER_TYPES for v in row]
                                       for row in present], axis=0))
    steps = rows[STEPS]
    if steps is not None and float in set(map(type, steps)):
        raise _LeaveOut(owner, [type(v) is float for v in steps])
    values = np.full((len(FLOAT_FIELDS), len(flat)), np.nan)
    try:
        for f, row in enumerate(rows):
            if row is not None:
                values[f] = np.fromiter(row, dtype=np.float64, count=len(row))  # None → NaN
    except OverflowError:
        raise _LeaveOut(owner, np.any([[v is not None and abs(v) >= 2**63 for v in row]
                                       for row in present], axis=0)) from None
    unknown = ~np.isfinite(values)
    if np.count_nonzero(unknown) != sum(row.count(None) for row in present) + (
            len(FLOAT_FIELDS) - len(present)) * len(flat):  # NaN or Infinity in the text
        given = np.array([[v is not None for v in row] if row is not None else [False] * len(flat)
                          for row in rows], dtype=bool).reshape(values.shape)
        raise _LeaveOut(owner, (unknown & given).any(axis=0))
    bad = (values < LOW_BOUNDS) | (values > HIGH_BOUNDS)
    if bad.any():
        raise _LeaveOut(owner, bad.any(axis=0))
    return values


def _batch_beats(flat: list[dict[str, Any]], keys: set[str], owner: IntArray
                 ) -> tuple[IntArray, IntArray]:
    """All beat intervals (integers in range) and how many each sample has."""
    if "rr_ms" not in keys:
        return np.zeros(0, dtype=np.int64), np.zeros(len(flat), dtype=np.int64)
    lists = [s.get("rr_ms") for s in flat]
    fits = [x is None or (type(x) is list and len(x) <= MAX_RR_PER_SAMPLE) for x in lists]
    if not all(fits):
        raise _LeaveOut(owner, np.logical_not(fits))
    counts = np.array([len(x) if x else 0 for x in lists], dtype=np.int64)
    beats = list(chain.from_iterable(x for x in lists if x))
    beat_owner = np.repeat(owner, counts)
    if beats and set(map(type, beats)) != {int}:
        raise _LeaveOut(beat_owner, [type(v) is not int for v in beats])
    try:
        rr_ms = np.array(beats, dtype=np.int64)
    except OverflowError:
        raise _LeaveOut(beat_owner, [not RR_RANGE.low <= v <= RR_RANGE.high
                                     for v in beats]) from None
    bad = (rr_ms < RR_RANGE.low) | (rr_ms > RR_RANGE.high)
    if bad.any():
        raise _LeaveOut(beat_owner, bad)
    return rr_ms, counts
