"""An upload's ``samples`` list → ``Columns``, checking every value; bad values become ``Issue``s.

The common upload (objects with known keys and numeric values) is checked as arrays: one pass
per field to gather the values, then ranges, finiteness, future times and duplicate times as
array operations; only the offending values are visited one by one to name them. Anything
unusual (a sample that is not an object, an unknown key, a value of the wrong type) takes the
per-sample path, which names every problem. A bad value drops only that value; a sample left
with nothing drops only that sample.
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from wearmon.models.base import IntArray
from wearmon.stream.core.issues import Issue, Reject, key_name
from wearmon.stream.core.schema import (
    FLOAT_FIELDS,
    MAX_RR_PER_SAMPLE,
    RR_RANGE,
    SAMPLE_RANGES,
    Columns,
    Sample,
)

SAMPLE_KEYS = frozenset(("t_ms", "rr_ms", *SAMPLE_RANGES))
NUMBER_TYPES = frozenset((int, float, type(None)))


class _Unusual(Exception):
    """The upload needs the per-sample path."""


def parse_samples(raw: object, received_ms: int, max_samples: int, max_clock_skew_ms: int,
                  issues: list[Issue]) -> Columns:
    """Check an upload's samples; raises ``Reject`` when none is usable."""
    if not isinstance(raw, list):
        raise Reject("samples", "wrong_type", "samples must be a list")
    if not raw:
        raise Reject("samples", "empty", "an upload needs at least one sample")
    if len(raw) > max_samples:
        raise Reject("samples", "too_many_samples", f"{len(raw)} samples > limit {max_samples}")
    future_limit_ms = received_ms + max_clock_skew_ms
    try:
        columns = _columns(raw, received_ms, future_limit_ms, issues)
    except _Unusual:
        columns = Columns.from_samples(
            _per_sample(raw, received_ms, future_limit_ms, max_clock_skew_ms, issues))
    if not len(columns):
        raise Reject("samples", "no_valid_samples", "no sample passed validation")
    return columns


# --- arrays ------------------------------------------------------------------------------------

LOW_BOUNDS = np.array([SAMPLE_RANGES[name].low for name in FLOAT_FIELDS])[:, None]
HIGH_BOUNDS = np.array([SAMPLE_RANGES[name].high for name in FLOAT_FIELDS])[:, None]


def _columns(raw: list[Any], received_ms: int, future_limit_ms: int,
             issues: list[Issue]) -> Columns:
    if set(map(type, raw)) != {dict}:
        raise _Unusual
    keys = set().union(*raw)
    if not keys <= SAMPLE_KEYS:
        raise _Unusual
    n = len(raw)
    times = [s.get("t_ms") for s in raw]
    if set(map(type, times)) != {int}:
        raise _Unusual
    try:
        t_ms = np.array(times, dtype=np.int64)
    except OverflowError:
        raise _Unusual from None
    values = _values(raw, keys, issues)
    rr_ms, rr_count = _beats(raw, keys, issues)
    ordered = n == 1 or bool((t_ms[1:] > t_ms[:-1]).all())
    if ordered and t_ms[0] >= 0 and t_ms[-1] <= future_limit_ms:
        keep = None  # the common upload: in order, nothing in the future
    else:
        if (t_ms < 0).any():
            raise _Unusual
        keep = _times(t_ms, times, received_ms, future_limit_ms, issues)
    empty = np.isnan(values).all(axis=0) & (rr_count == 0)
    if empty.any():
        keep = ~empty if keep is None else keep & ~empty
    if keep is None:
        return Columns(t_ms, values, rr_ms, rr_count)
    order = np.argsort(t_ms, kind="stable")
    order = order[keep[order]]
    kept_beats = rr_ms[:0]
    if len(rr_ms):
        owner = np.repeat(np.arange(n), rr_count)
        rank = np.full(n, -1)
        rank[order] = np.arange(len(order))
        mine = rank[owner] >= 0
        kept_beats = rr_ms[mine][np.argsort(rank[owner[mine]], kind="stable")]
    return Columns(t_ms[order], values[:, order], kept_beats, rr_count[order])


def _times(t_ms: IntArray, times: list[int], received_ms: int, future_limit_ms: int,
           issues: list[Issue]) -> np.ndarray:
    """Samples to keep: not in the future, not a repeated time (the first one stays)."""
    keep = np.ones(len(t_ms), dtype=bool)
    for i in np.flatnonzero(t_ms > future_limit_ms).tolist():
        issues.append(Issue(f"samples[{i}].t_ms", "future_sample",
                            f"{(times[i] - received_ms) / 1000:.0f} s ahead of arrival "
                            f"(clock-skew bound {(future_limit_ms - received_ms) / 1000:.0f} s)"))
        keep[i] = False
    order = np.argsort(t_ms, kind="stable")
    sorted_t = t_ms[order]
    repeated = np.zeros(len(t_ms), dtype=bool)
    repeated[order[1:][sorted_t[1:] == sorted_t[:-1]]] = True
    for i in np.flatnonzero(repeated & keep).tolist():
        issues.append(Issue(f"samples[{i}].t_ms", "duplicate_time",
                            "same t_ms twice in one upload"))
    return keep & ~repeated


def _values(raw: list[Any], keys: set[str], issues: list[Issue]) -> npt.NDArray[np.float64]:
    """The value matrix (one row per field); out-of-range values become NaN and issues."""
    rows = [[s.get(name) for s in raw] if name in keys else None for name in FLOAT_FIELDS]
    present = [row for row in rows if row is not None]
    if present and not set(map(type, chain.from_iterable(present))) <= NUMBER_TYPES:
        raise _Unusual
    if rows[1] is not None and float in set(map(type, rows[1])):
        raise _Unusual  # steps must be whole numbers
    nan_row = [None] * len(raw)
    try:
        values = np.array([row if row is not None else nan_row for row in rows], dtype=np.float64)
    except OverflowError:
        raise _Unusual from None  # an integer too large for a float
    missing = np.isnan(values)
    if np.count_nonzero(missing) != sum(row.count(None) for row in present) + (
            len(FLOAT_FIELDS) - len(present)) * len(raw) or np.isinf(values).any():
        raise _Unusual  # NaN or Infinity (the fallback parser's): named one by one
    bad = (values < LOW_BOUNDS) | (values > HIGH_BOUNDS)
    if bad.any():
        for f, i in zip(*np.nonzero(bad), strict=True):
            name = FLOAT_FIELDS[int(f)]
            issues.append(_out_of_range(f"samples[{i}].{name}", name, rows[int(f)][i]))  # type: ignore[index]
        values[bad] = np.nan
    return values


def _beats(raw: list[Any], keys: set[str], issues: list[Issue]) -> tuple[IntArray, IntArray]:
    counts = np.zeros(len(raw), dtype=np.int64)
    if "rr_ms" not in keys:
        return np.zeros(0, dtype=np.int64), counts
    lists = [s.get("rr_ms") for s in raw]
    if not all(type(x) is list and len(x) <= MAX_RR_PER_SAMPLE for x in lists if x is not None):
        raise _Unusual
    flat = list(chain.from_iterable(x for x in lists if x))
    if flat and set(map(type, flat)) != {int}:
        raise _Unusual
    sizes = np.array([len(x) if x else 0 for x in lists], dtype=np.int64)
    try:
        rr = np.array(flat, dtype=np.int64)
    except OverflowError:
        raise _Unusual from None
    bad = (rr < RR_RANGE.low) | (rr > RR_RANGE.high)
    if bad.any():
        owner = np.repeat(np.arange(len(raw)), sizes)
        position = np.arange(len(rr)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        for j in np.flatnonzero(bad).tolist():
            issues.append(Issue(f"samples[{owner[j]}].rr_ms[{position[j]}]", "out_of_range",
                                f"rr_ms={flat[j]} outside {RR_RANGE.low:g}-{RR_RANGE.high:g} ms"))
        counts = np.bincount(owner[~bad], minlength=len(raw)).astype(np.int64)
        return rr[~bad], counts
    return rr, sizes


def _out_of_range(path: str, name: str, value: object) -> Issue:
    bounds = SAMPLE_RANGES[name]
    return Issue(path, "out_of_range",
                 f"{name}={value} outside the plausible {bounds.low:g}-{bounds.high:g} "
                 f"{bounds.unit}")


# --- one sample at a time (unusual uploads) ----------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_value(path: str, name: str, value: object, issues: list[Issue]) -> float | None:
    """Return the value if valid; otherwise record an issue and return None."""
    bounds = SAMPLE_RANGES[name]
    if value is None:
        return None
    if not _is_number(value):
        issues.append(Issue(path, "wrong_type", f"{name} must be a number"))
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError:  # an integer too large for a float
        issues.append(_out_of_range(path, name, value))
        return None
    if not math.isfinite(number):
        issues.append(Issue(path, "not_finite", f"{name} is {value}, not a finite number"))
        return None
    if bounds.integer and not _is_int(value):
        issues.append(Issue(path, "wrong_type", f"{name} must be an integer"))
        return None
    if not bounds.low <= number <= bounds.high:
        issues.append(_out_of_range(path, name, value))
        return None
    return number


def _check_rr(path: str, value: object, issues: list[Issue]) -> list[int]:
    if not isinstance(value, list):
        issues.append(Issue(path, "wrong_type", "rr_ms must be a list of integers"))
        return []
    if len(value) > MAX_RR_PER_SAMPLE:
        issues.append(Issue(path, "too_many_values", f"more than {MAX_RR_PER_SAMPLE} intervals"))
        return []
    kept = []
    for i, rr in enumerate(value):
        if not _is_int(rr):
            issues.append(Issue(f"{path}[{i}]", "wrong_type", "interval must be an integer (ms)"))
        elif not RR_RANGE.low <= rr <= RR_RANGE.high:
            issues.append(
                Issue(f"{path}[{i}]", "out_of_range",
                      f"rr_ms={rr} outside {RR_RANGE.low:g}-{RR_RANGE.high:g} ms")
            )
        else:
            kept.append(int(rr))
    return kept


def _per_sample(raw: list[Any], received_ms: int, future_limit_ms: int, skew_ms: int,
                issues: list[Issue]) -> list[Sample]:
    by_time: dict[int, Sample] = {}
    for index, item in enumerate(raw):
        base = f"samples[{index}]"
        if not isinstance(item, dict):
            issues.append(Issue(base, "wrong_type", "a sample must be an object"))
            continue
        t_ms = item.get("t_ms")
        if not _is_int(t_ms) or t_ms < 0 or t_ms >= 2**63:  # type: ignore[operator]
            issues.append(Issue(f"{base}.t_ms", "missing_field" if t_ms is None else "wrong_type",
                                "t_ms (integer ms since epoch, UTC) is required"))
            continue
        assert isinstance(t_ms, int)
        if t_ms > future_limit_ms:
            issues.append(
                Issue(f"{base}.t_ms", "future_sample",
                      f"{(t_ms - received_ms) / 1000:.0f} s ahead of arrival (clock-skew bound "
                      f"{skew_ms / 1000:.0f} s)")
            )
            continue
        if t_ms in by_time:
            issues.append(Issue(f"{base}.t_ms", "duplicate_time", "same t_ms twice in one upload"))
            continue
        for key in item.keys() - SAMPLE_KEYS:
            issues.append(Issue(f"{base}.{key_name(key)}", "unknown_field",
                                "not in contract v1; ignored"))
        sample = Sample(t_ms=t_ms)
        sample.hr_bpm = _check_value(f"{base}.hr_bpm", "hr_bpm", item.get("hr_bpm"), issues)
        steps = _check_value(f"{base}.steps", "steps", item.get("steps"), issues)
        sample.steps = None if steps is None else int(steps)
        sample.spo2_pct = _check_value(f"{base}.spo2_pct", "spo2_pct", item.get("spo2_pct"), issues)
        sample.resp_rate_brpm = _check_value(
            f"{base}.resp_rate_brpm", "resp_rate_brpm", item.get("resp_rate_brpm"), issues
        )
        sample.skin_temp_c = _check_value(
            f"{base}.skin_temp_c", "skin_temp_c", item.get("skin_temp_c"), issues
        )
        if "rr_ms" in item:
            sample.rr_ms = _check_rr(f"{base}.rr_ms", item["rr_ms"], issues)
        if sample.rr_ms or any(getattr(sample, name) is not None for name in SAMPLE_RANGES):
            by_time[t_ms] = sample
    return [by_time[t] for t in sorted(by_time)]
