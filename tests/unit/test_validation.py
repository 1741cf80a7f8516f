from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wearmon.stream.core.schema import json_schema
from wearmon.stream.core.validation import Limits, Rejection, Validated, validate
from wearmon.stream.datasets.simulator import Simulator

NOW_MS = 1_800_000_000_000
CONTRACT = (Path(__file__).resolve().parents[2] / "stream" / "core" / "contract"
            / "telemetry-v1.schema.json")


def upload(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "schema_version": 1,
        "upload_id": "u-1",
        "device_id": "d-1",
        "patient_id": "p-0001",
        "uploaded_at_ms": NOW_MS,
        "battery_pct": 50,
        "samples": [
            {"t_ms": NOW_MS - 10_000, "hr_bpm": 70, "steps": 0},
            {"t_ms": NOW_MS - 5_000, "hr_bpm": 72, "steps": 2, "rr_ms": [830, 845]},
        ],
    }
    doc.update(overrides)
    return doc


def check(doc: object, raw: bytes | None = None) -> Validated | Rejection:
    return validate(raw if raw is not None else orjson.dumps(doc), NOW_MS, Limits())


def test_valid_upload_is_clean() -> None:
    result = check(upload())
    assert isinstance(result, Validated) and not result.issues
    assert [s.t_ms for s in result.upload.columns.to_samples()] == [NOW_MS - 10_000, NOW_MS - 5_000]
    assert result.upload.columns.to_samples()[1].rr_ms == [830, 845]


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        (b"not json", "$", "not_json"),
        (b"\xff\xfe", "$", "not_json"),
        (b"[]", "$", "wrong_type"),
        (orjson.dumps(upload(schema_version=2)), "schema_version", "unknown_schema_version"),
        (
            orjson.dumps({k: v for k, v in upload().items() if k != "schema_version"}),
            "schema_version",
            "missing_field",
        ),
        (
            orjson.dumps({k: v for k, v in upload().items() if k != "patient_id"}),
            "patient_id",
            "missing_field",
        ),
        (orjson.dumps(upload(patient_id=42)), "patient_id", "wrong_type"),
        (orjson.dumps(upload(patient_id="Jane Doe")), "patient_id", "bad_id"),
        (orjson.dumps(upload(uploaded_at_ms="yesterday")), "uploaded_at_ms", "wrong_type"),
        (orjson.dumps(upload(samples=[])), "samples", "empty"),
        (orjson.dumps(upload(samples={"t_ms": 1})), "samples", "wrong_type"),
        (
            orjson.dumps(upload(samples=[{"t_ms": NOW_MS, "hr_bpm": 999}])),
            "samples",
            "no_valid_samples",
        ),
    ],
)
def test_whole_upload_rejections_name_field_and_reason(raw: bytes, field: str, reason: str) -> None:
    result = validate(raw, NOW_MS, Limits())
    assert isinstance(result, Rejection)
    assert (result.field, result.reason) == (field, reason)
    record = result.to_record(16)
    assert record["reason"] == reason and record["original_bytes"] == len(raw)
    assert record["original_truncated"] == (len(raw) > 16)


def test_oversized_and_too_many_samples() -> None:
    raw = orjson.dumps(upload())
    too_large = validate(raw, NOW_MS, Limits(max_upload_bytes=len(raw) - 1))
    assert isinstance(too_large, Rejection) and too_large.reason == "too_large"
    many = validate(raw, NOW_MS, Limits(max_samples=1))
    assert isinstance(many, Rejection) and many.reason == "too_many_samples"


@pytest.mark.parametrize(
    ("sample", "field", "reason"),
    [
        ({"hr_bpm": 300}, "samples[1].hr_bpm", "out_of_range"),
        ({"spo2_pct": 40}, "samples[1].spo2_pct", "out_of_range"),
        ({"skin_temp_c": 60}, "samples[1].skin_temp_c", "out_of_range"),
        ({"resp_rate_brpm": 0}, "samples[1].resp_rate_brpm", "out_of_range"),
        ({"steps": 2.5}, "samples[1].steps", "wrong_type"),
        ({"hr_bpm": "72"}, "samples[1].hr_bpm", "wrong_type"),
        ({"hr_bpm": True}, "samples[1].hr_bpm", "wrong_type"),
        ({"rr_ms": [50]}, "samples[1].rr_ms[0]", "out_of_range"),
        ({"rr_ms": "800"}, "samples[1].rr_ms", "wrong_type"),
        ({"colour": "red"}, "samples[1].colour", "unknown_field"),
    ],
)
def test_bad_values_are_dropped_and_reported(
    sample: dict[str, object], field: str, reason: str
) -> None:
    doc = upload()
    doc["samples"][1].update(sample)  # type: ignore[index]
    result = check(doc)
    assert isinstance(result, Validated)
    assert [(i.field, i.reason) for i in result.issues] == [(field, reason)]
    assert len(result.upload.columns) == 2  # the rest of the sample is kept (steps=2)


def test_nan_and_infinity_are_named() -> None:
    raw = orjson.dumps(upload()).replace(b'"hr_bpm":72', b'"hr_bpm":NaN')
    raw = raw.replace(b'"hr_bpm":70', b'"hr_bpm":-Infinity')
    result = validate(raw, NOW_MS, Limits())
    assert isinstance(result, Validated)
    assert {(i.field, i.reason) for i in result.issues} == {
        ("samples[0].hr_bpm", "not_finite"),
        ("samples[1].hr_bpm", "not_finite"),
    }
    assert all(s.hr_bpm is None for s in result.upload.columns.to_samples())


def test_future_samples_beyond_skew_are_dropped() -> None:
    doc = upload()
    doc["samples"].append({"t_ms": NOW_MS + 301_000, "hr_bpm": 70})  # type: ignore[attr-defined]
    doc["samples"].append({"t_ms": NOW_MS + 299_000, "hr_bpm": 70})  # type: ignore[attr-defined]
    result = check(doc)
    assert isinstance(result, Validated)
    assert [(i.field, i.reason) for i in result.issues] == [("samples[2].t_ms", "future_sample")]
    assert len(result.upload.columns) == 3


def test_samples_are_sorted_and_unique() -> None:
    doc = upload(
        samples=[{"t_ms": 3, "hr_bpm": 70}, {"t_ms": 1, "hr_bpm": 71}, {"t_ms": 3, "hr_bpm": 72}]
    )
    result = check(doc)
    assert isinstance(result, Validated)
    assert [s.t_ms for s in result.upload.columns.to_samples()] == [1, 3]
    assert [i.reason for i in result.issues] == ["duplicate_time"]


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    assert isinstance(validate(raw, NOW_MS, Limits()), Validated | Rejection)


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_arbitrary_json_never_raises(value: object) -> None:
    doc = upload(samples=[value]) if not isinstance(value, dict) else {**upload(), **value}
    assert isinstance(validate(json.dumps(doc).encode(), NOW_MS, Limits()), Validated | Rejection)


def test_checked_in_json_schema_is_current() -> None:
    assert json.loads(CONTRACT.read_text()) == json_schema()


def test_simulated_uploads_match_json_schema_and_validate() -> None:
    sim = Simulator(3, NOW_MS - 3_600_000, 3600, seed=3)
    checker = jsonschema.Draft202012Validator(json_schema())
    count = 0
    for _, value, _ in sim.uploads_until(NOW_MS):
        checker.validate(orjson.loads(value))
        result = validate(value, NOW_MS, Limits())
        assert isinstance(result, Validated) and not result.issues
        count += 1
    assert count > 100
