"""``validate_many`` gives exactly what ``validate`` gives upload by upload."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wearmon.stream.core.validation import Limits, Rejection, Validated, validate, validate_many
from wearmon.stream.datasets.simulator import Simulator

NOW_MS = 1_800_000_000_000
SKEW_MS = Limits().max_clock_skew_ms


def same(batch: Validated | Rejection, alone: Validated | Rejection) -> bool:
    """Equal results: a Rejection in every field; a Validated in its upload's fields, its
    columns' arrays (dtype, shape and values, NaN equal to NaN) and its issues."""
    if isinstance(alone, Rejection) or isinstance(batch, Rejection):
        return batch == alone
    up, expected = batch.upload, alone.upload
    for f in dataclasses.fields(up):
        if f.name != "columns" and getattr(up, f.name) != getattr(expected, f.name):
            return False
    for name in ("t_ms", "values", "rr_ms", "rr_count"):
        got, want = getattr(up.columns, name), getattr(expected.columns, name)
        if got.dtype != want.dtype or not np.array_equal(got, want, equal_nan=True):
            return False
    return batch.issues == alone.issues


def check_batch(raws: list[bytes], received: list[int], limits: Limits) -> None:
    batch = validate_many(raws, received, limits)
    alone = [validate(raw, t, limits) for raw, t in zip(raws, received, strict=True)]
    assert len(batch) == len(alone)
    for k, (got, want) in enumerate(zip(batch, alone, strict=True)):
        assert same(got, want), (k, raws[k], got, want)


# --- uploads: mostly clean, some with one thing wrong ------------------------------------------

GOOD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "hr_bpm": st.floats(30, 220).map(lambda x: round(x, 1)) | st.integers(30, 220),
    "steps": st.integers(0, 300),
    "spo2_pct": st.floats(70, 100).map(lambda x: round(x, 1)),
    "resp_rate_brpm": st.integers(4, 60),
    "skin_temp_c": st.floats(25, 42).map(lambda x: round(x, 2)),
}
BAD_VALUES = st.sampled_from([
    999, -1, 2.5, 1e308, 10**30, 10**400, "72", True, False, [], {}, float("nan"),
    float("inf"), float("-inf"), None,
])
GOOD_RR = st.lists(st.integers(250, 2500), max_size=4)
BAD_RR = st.sampled_from([
    [50], [800, 5000], "800", 800, [800.0], [True], [10**30], [800] * 200, None, [],
])
BAD_TIMES = st.sampled_from([
    "dup", "back", "future", -5, 2**63, 2**64, "1000", 1000.0, None, True, "missing",
])


@st.composite
def sample(draw: st.DrawFn, t_ms: int) -> Any:
    """One sample at ``t_ms`` (usually clean)."""
    fields = draw(st.sets(st.sampled_from(sorted(GOOD_VALUES)), min_size=1))
    doc: dict[str, Any] = {"t_ms": t_ms, **{name: draw(GOOD_VALUES[name]) for name in fields}}
    if draw(st.booleans()):
        doc["rr_ms"] = draw(GOOD_RR)
    flaw = draw(st.sampled_from(["none"] * 6 + ["value", "rr", "key", "not_object", "empty"]))
    if flaw == "value":
        doc[draw(st.sampled_from(sorted(GOOD_VALUES)))] = draw(BAD_VALUES)
    elif flaw == "rr":
        doc["rr_ms"] = draw(BAD_RR)
    elif flaw == "key":
        doc[draw(st.sampled_from(["colour", "HR", "\u00e9"]))] = 1
    elif flaw == "not_object":
        return draw(st.sampled_from([1, "s", None, [], [doc]]))
    elif flaw == "empty":
        return {"t_ms": t_ms}
    return doc


@st.composite
def samples(draw: st.DrawFn, received_ms: int) -> list[Any]:
    """An ordered list of samples ending before ``received_ms``, perhaps with a bad time."""
    n = draw(st.integers(1, 12))
    start = received_ms - draw(st.integers(0, 3_600_000))
    gaps = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n))
    times = [start - sum(gaps[i:]) for i in range(n)]
    docs = [draw(sample(t)) for t in times]
    if draw(st.integers(0, 3)) == 0:
        i = draw(st.integers(0, n - 1))
        if isinstance(docs[i], dict):
            flaw = draw(BAD_TIMES)
            if flaw == "missing":
                del docs[i]["t_ms"]
            elif flaw == "dup":
                docs[i]["t_ms"] = times[max(i - 1, 0)] if i else times[-1]
            elif flaw == "back":
                docs[i]["t_ms"] = times[0] - 1
            elif flaw == "future":
                docs[i]["t_ms"] = received_ms + SKEW_MS + draw(st.sampled_from([0, 1, 60_000]))
            else:
                docs[i]["t_ms"] = flaw
    return docs


@st.composite
def upload(draw: st.DrawFn, received_ms: int) -> bytes:
    """One upload's bytes (usually a well-formed envelope)."""
    doc: dict[str, Any] = {
        "schema_version": 1, "upload_id": f"u-{draw(st.integers(0, 9))}", "device_id": "d-1",
        "patient_id": draw(st.sampled_from(["p-0001", "p-0002"])),
        "uploaded_at_ms": received_ms - 1000, "battery_pct": 50,
        "samples": draw(samples(received_ms)),
    }
    flaw = draw(st.sampled_from(["none"] * 8 + [
        "not_json", "bytes", "version", "patient", "battery", "extra", "samples", "no_samples",
        "empty"]))
    if flaw == "not_json":
        return draw(st.sampled_from([b"not json", b"\xff\xfe", b"[]", b"", b"{}", b"[1"]))
    if flaw == "bytes":
        return draw(st.binary(max_size=40))
    if flaw == "version":
        doc["schema_version"] = draw(st.sampled_from([2, "1", None, True, 1.0]))
    elif flaw == "patient":
        doc["patient_id"] = draw(st.sampled_from([42, "Jane Doe", None]))
    elif flaw == "battery":
        doc["battery_pct"] = draw(st.sampled_from([101, "x", float("nan"), None]))
    elif flaw == "extra":
        doc["colour"] = "red"
    elif flaw == "samples":
        doc["samples"] = draw(st.sampled_from([{"t_ms": 1}, "x", None, 1]))
    elif flaw == "no_samples":
        del doc["samples"]
    elif flaw == "empty":
        doc["samples"] = []
    return json.dumps(doc).encode()  # NaN and Infinity as the standard parser writes them


@st.composite
def batch(draw: st.DrawFn) -> tuple[list[bytes], list[int]]:
    received = draw(st.lists(st.sampled_from([NOW_MS, NOW_MS - 600_000]), max_size=12))
    return [draw(upload(t)) for t in received], received


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch(), st.sampled_from([Limits(), Limits(max_samples=6), Limits(max_upload_bytes=600)]))
def test_validate_many_is_validate_upload_by_upload(
        uploads: tuple[list[bytes], list[int]], limits: Limits) -> None:
    check_batch(*uploads, limits)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=8))
def test_validate_many_never_raises_on_bytes(raws: list[bytes]) -> None:
    check_batch(raws, [NOW_MS] * len(raws), Limits())


def test_simulated_uploads_validate_the_same_in_a_batch() -> None:
    sim = Simulator(4, NOW_MS - 3_600_000, 3600, seed=5, samples_per_upload=10)
    raws = [value for _, value, _ in sim.uploads_until(NOW_MS)]
    bad = orjson.dumps({**orjson.loads(raws[0]), "samples": [{"t_ms": NOW_MS, "hr_bpm": 999}]})
    raws = [*raws[:50], bad, *raws[50:100]]
    check_batch(raws, [NOW_MS] * len(raws), Limits())
    assert all(isinstance(r, Validated) and not r.issues
               for r in validate_many(raws[:50], [NOW_MS] * 50, Limits()))


def test_empty_batch() -> None:
    assert validate_many([], [], Limits()) == []


SINGLE_FLAWS: list[tuple[str, Any]] = [
    ("hr_bpm", 999), ("hr_bpm", 19.9), ("steps", 2.5), ("steps", 2.0), ("steps", True),
    ("spo2_pct", "97"), ("hr_bpm", float("nan")), ("skin_temp_c", float("inf")),
    ("hr_bpm", 10**400), ("hr_bpm", 10**30), ("rr_ms", [800, 5000]), ("rr_ms", [199]),
    ("rr_ms", [800] * 401), ("rr_ms", [800.0]), ("rr_ms", [2**70]), ("rr_ms", "800"),
    ("t_ms", NOW_MS + SKEW_MS + 1), ("t_ms", NOW_MS + SKEW_MS), ("t_ms", 2**63),
    ("t_ms", -1), ("t_ms", 1.5), ("colour", 1), ("hr_bpm", None),
]


def test_one_flaw_in_the_last_sample_of_one_upload_of_a_batch() -> None:
    """Each flaw alone, in the last sample of an upload amid clean ones (so that it is not
    hidden by another problem)."""
    sim = Simulator(2, NOW_MS - 600_000, 600, seed=7, samples_per_upload=5)
    clean = [value for _, value, _ in sim.uploads_until(NOW_MS)][:6]
    for name, value in SINGLE_FLAWS:
        doc = orjson.loads(clean[2])
        doc["samples"][-1][name] = value
        raws = [*clean[:2], json.dumps(doc).encode(), *clean[2:]]
        check_batch(raws, [NOW_MS] * len(raws), Limits())
    empty = orjson.loads(clean[2])
    empty["samples"][-1] = {"t_ms": empty["samples"][-1]["t_ms"]}
    check_batch([clean[0], orjson.dumps(empty), clean[1]], [NOW_MS] * 3, Limits())
