"""Bytes -> clean ``Upload`` or ``Rejection`` naming the field and the reason.

Whole-upload problems (not JSON, wrong types, missing ids, unknown version, too large) reject the
upload. Bad values inside a sample drop only that value (or that sample) and are reported as
``Issue``s; the pipeline sends them to the dead-letter topic together with the upload's bytes, so
nothing disappears silently. Per-patient checks (duplicates, lateness) are in ``stream.ordering``.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from wearmon.stream.core.schema import (
    BATTERY_RANGE,
    ID_PATTERN,
    MAX_RR_PER_SAMPLE,
    PATIENT_ID_PATTERN,
    RR_RANGE,
    SAMPLE_RANGES,
    SCHEMA_VERSION,
    Sample,
    Upload,
)

_ID_RE = re.compile(ID_PATTERN)
_PATIENT_RE = re.compile(PATIENT_ID_PATTERN)
_SAMPLE_KEYS = frozenset(("t_ms", "rr_ms", *SAMPLE_RANGES))
_UPLOAD_KEYS = frozenset(
    ("schema_version", "upload_id", "device_id", "patient_id", "uploaded_at_ms", "battery_pct",
     "samples")
)


@dataclass(frozen=True, slots=True)
class Limits:
    max_upload_bytes: int = 1_000_000
    max_samples: int = 5_000
    max_clock_skew_ms: int = 300_000


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem with one field; ``field`` is a JSON path such as ``samples[3].hr_bpm``."""

    field: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """A whole upload (or part of one) that was not accepted, for the dead-letter topic."""

    issues: tuple[Issue, ...]
    original: bytes
    received_ms: int
    patient_id: str | None = None
    upload_id: str | None = None
    partial: bool = False  # True: the rest of the upload was processed

    @property
    def reason(self) -> str:
        return self.issues[0].reason

    @property
    def field(self) -> str:
        return self.issues[0].field

    def to_record(self, max_original_bytes: int) -> dict[str, Any]:
        kept = self.original[:max_original_bytes]
        return {
            "reason": self.reason,
            "field": self.field,
            "partial": self.partial,
            "issues": [
                {"field": i.field, "reason": i.reason, "detail": i.detail}
                for i in self.issues[:100]
            ],
            "issue_count": len(self.issues),
            "patient_id": self.patient_id,
            "upload_id": self.upload_id,
            "received_ms": self.received_ms,
            "original_b64": base64.b64encode(kept).decode("ascii"),
            "original_bytes": len(self.original),
            "original_truncated": len(kept) < len(self.original),
        }


@dataclass(slots=True)
class Validated:
    upload: Upload
    issues: list[Issue] = field(default_factory=list)


class _Reject(Exception):
    def __init__(self, field_path: str, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.issue = Issue(field_path, reason, detail)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    # orjson rejects NaN/Infinity; the standard parser accepts them so that we can name the field.
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Reject("$", "not_json", f"not valid UTF-8 JSON: {exc}") from None


def _require_str(doc: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    if name not in doc:
        raise _Reject(name, "missing_field", f"{name} is required")
    value = doc[name]
    if not isinstance(value, str):
        raise _Reject(name, "wrong_type", f"{name} must be a string, got {type(value).__name__}")
    if not pattern.match(value):
        raise _Reject(name, "bad_id", f"{name} must match {pattern.pattern}")
    return value


def _require_time(doc: dict[str, Any], name: str) -> int:
    if name not in doc:
        raise _Reject(name, "missing_field", f"{name} is required")
    value = doc[name]
    if not _is_int(value) or value < 0:
        raise _Reject(name, "wrong_type", f"{name} must be a non-negative integer (ms since epoch)")
    return int(value)


def _check_value(path: str, name: str, value: object, issues: list[Issue]) -> float | None:
    """Return the value if valid; otherwise record an issue and return None."""
    bounds = SAMPLE_RANGES[name]
    if value is None:
        return None
    if not _is_number(value):
        issues.append(Issue(path, "wrong_type", f"{name} must be a number"))
        return None
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        issues.append(Issue(path, "not_finite", f"{name} is {value}, not a finite number"))
        return None
    if bounds.integer and not _is_int(value):
        issues.append(Issue(path, "wrong_type", f"{name} must be an integer"))
        return None
    if not bounds.low <= number <= bounds.high:
        issues.append(
            Issue(path, "out_of_range",
                  f"{name}={value} outside the plausible {bounds.low:g}-{bounds.high:g} "
                  f"{bounds.unit}")
        )
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


def _parse_samples(
    raw_samples: object, received_ms: int, limits: Limits, issues: list[Issue]
) -> list[Sample]:
    if not isinstance(raw_samples, list):
        raise _Reject("samples", "wrong_type", "samples must be a list")
    if not raw_samples:
        raise _Reject("samples", "empty", "an upload needs at least one sample")
    if len(raw_samples) > limits.max_samples:
        raise _Reject("samples", "too_many_samples",
                      f"{len(raw_samples)} samples > limit {limits.max_samples}")
    future_limit_ms = received_ms + limits.max_clock_skew_ms
    by_time: dict[int, Sample] = {}
    for index, item in enumerate(raw_samples):
        base = f"samples[{index}]"
        if not isinstance(item, dict):
            issues.append(Issue(base, "wrong_type", "a sample must be an object"))
            continue
        t_ms = item.get("t_ms")
        if not _is_int(t_ms) or t_ms < 0:  # type: ignore[operator]
            issues.append(Issue(f"{base}.t_ms", "missing_field" if t_ms is None else "wrong_type",
                                "t_ms (integer ms since epoch, UTC) is required"))
            continue
        assert isinstance(t_ms, int)
        if t_ms > future_limit_ms:
            issues.append(
                Issue(f"{base}.t_ms", "future_sample",
                      f"{(t_ms - received_ms) / 1000:.0f} s ahead of arrival (clock-skew bound "
                      f"{limits.max_clock_skew_ms / 1000:.0f} s)")
            )
            continue
        if t_ms in by_time:
            issues.append(Issue(f"{base}.t_ms", "duplicate_time", "same t_ms twice in one upload"))
            continue
        for key in item.keys() - _SAMPLE_KEYS:
            issues.append(Issue(f"{base}.{key}", "unknown_field", "not in contract v1; ignored"))
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
    if not by_time:
        raise _Reject("samples", "no_valid_samples", "no sample passed validation")
    return [by_time[t] for t in sorted(by_time)]


def validate(raw: bytes, received_ms: int, limits: Limits) -> Validated | Rejection:
    """Validate one upload. Never raises on bad input.

    >>> raw = (b'{"schema_version":1,"upload_id":"u1","device_id":"d1","patient_id":"p-0001",'
    ...        b'"uploaded_at_ms":1000,"samples":[{"t_ms":1000,"hr_bpm":300}]}')
    >>> ok = validate(raw, 2000, Limits())
    >>> isinstance(ok, Rejection), ok.field, ok.reason
    (True, 'samples', 'no_valid_samples')
    """
    patient_id: str | None = None
    upload_id: str | None = None
    issues: list[Issue] = []
    try:
        if len(raw) > limits.max_upload_bytes:
            raise _Reject("$", "too_large", f"{len(raw)} bytes > limit {limits.max_upload_bytes}")
        doc = _parse(raw)
        if not isinstance(doc, dict):
            raise _Reject("$", "wrong_type", "an upload must be a JSON object")
        if isinstance(doc.get("patient_id"), str) and _PATIENT_RE.match(doc["patient_id"]):
            patient_id = doc["patient_id"]
        if isinstance(doc.get("upload_id"), str) and _ID_RE.match(doc["upload_id"]):
            upload_id = doc["upload_id"]
        version = doc.get("schema_version")
        if version is None:
            raise _Reject("schema_version", "missing_field", "schema_version is required")
        if version != SCHEMA_VERSION or not _is_int(version):
            raise _Reject("schema_version", "unknown_schema_version",
                          f"version {version!r} is not supported (this worker reads "
                          f"{SCHEMA_VERSION})")
        upload = Upload(
            upload_id=_require_str(doc, "upload_id", _ID_RE),
            device_id=_require_str(doc, "device_id", _ID_RE),
            patient_id=_require_str(doc, "patient_id", _PATIENT_RE),
            uploaded_at_ms=_require_time(doc, "uploaded_at_ms"),
            received_ms=received_ms,
            samples=[],
        )
        for key in doc.keys() - _UPLOAD_KEYS:
            issues.append(Issue(key, "unknown_field", "not in contract v1; ignored"))
        if doc.get("battery_pct") is not None:
            battery = doc["battery_pct"]
            if (_is_number(battery) and math.isfinite(battery)
                    and BATTERY_RANGE.low <= battery <= BATTERY_RANGE.high):
                upload.battery_pct = float(battery)
            else:
                issues.append(Issue("battery_pct", "out_of_range", "battery_pct must be 0-100"))
        upload.samples = _parse_samples(doc.get("samples"), received_ms, limits, issues)
    except _Reject as rejected:
        return Rejection(
            issues=(rejected.issue, *issues), original=raw, received_ms=received_ms,
            patient_id=patient_id, upload_id=upload_id,
        )
    return Validated(upload, issues)
