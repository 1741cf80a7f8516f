"""Bytes → clean ``Upload`` or ``Rejection`` naming the field and the reason. Never raises.

Whole-upload problems (not JSON, nested too deep, text that is not valid Unicode, wrong types,
missing or malformed ids, unknown version, too large) reject the upload. Bad values inside a
sample drop only that value (or that sample) and are reported as ``Issue``s
(``core.sample_columns``); the worker sends them to the dead-letter topic together with the
upload's bytes, so nothing disappears silently. Per-patient checks (duplicates, lateness) are in
``core.pipeline``.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from wearmon.stream.core.issues import Issue, Reject, as_bytes, key_name, safe_text
from wearmon.stream.core.sample_batch import parse_many
from wearmon.stream.core.sample_columns import parse_samples
from wearmon.stream.core.schema import (
    BATTERY_RANGE,
    ID_PATTERN,
    PATIENT_ID_PATTERN,
    SCHEMA_VERSION,
    Columns,
    Upload,
)

__all__ = ["Issue", "Limits", "Rejection", "Validated", "validate", "validate_many"]

ID_RE = re.compile(ID_PATTERN)
PATIENT_RE = re.compile(PATIENT_ID_PATTERN)
UPLOAD_KEYS = frozenset(
    ("schema_version", "upload_id", "device_id", "patient_id", "uploaded_at_ms", "battery_pct",
     "samples")
)


@dataclass(frozen=True, slots=True)
class Limits:
    max_upload_bytes: int = 1_000_000
    max_samples: int = 5_000
    max_clock_skew_ms: int = 300_000


@dataclass(frozen=True, slots=True)
class Rejection:
    """A whole upload (or part of one) that was not accepted, for the dead-letter topic."""

    issues: tuple[Issue, ...]
    original: bytes | None  # None: a tombstone
    received_ms: int
    patient_id: str | None = None
    upload_id: str | None = None
    partial: bool = False  # True: the rest of the upload was processed

    @property
    def reason(self) -> str:
        return safe_text(self.issues[0].reason) if self.issues else "unknown"

    @property
    def field(self) -> str:
        return safe_text(self.issues[0].field) if self.issues else "$"

    def to_record(self, max_original_bytes: int) -> dict[str, Any]:
        """The dead-letter record; never fails, whatever the rejection holds (the original may
        be a tombstone's ``None``, text may hold lone surrogates)."""
        original = as_bytes(self.original)
        kept = original[:max(0, max_original_bytes)]
        return {
            "reason": self.reason,
            "field": self.field,
            "partial": bool(self.partial),
            "issues": [
                {"field": safe_text(i.field), "reason": safe_text(i.reason),
                 "detail": safe_text(i.detail)}
                for i in self.issues[:100]
            ],
            "issue_count": len(self.issues),
            "patient_id": None if self.patient_id is None else safe_text(self.patient_id),
            "upload_id": None if self.upload_id is None else safe_text(self.upload_id),
            "received_ms": self.received_ms,
            "original_b64": base64.b64encode(kept).decode("ascii"),
            "original_bytes": len(original),
            "original_truncated": len(kept) < len(original),
        }


@dataclass(slots=True)
class Validated:
    upload: Upload
    issues: list[Issue] = field(default_factory=list)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _all_text_encodable(doc: Any) -> bool:
    """Every string (keys too) is valid Unicode (no lone surrogates from ``\\ud800`` escapes)."""
    stack = [doc]
    while stack:
        item = stack.pop()
        try:
            if isinstance(item, str):
                item.encode("utf-8")
            elif isinstance(item, dict):
                for key in item:
                    key.encode("utf-8")
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        except UnicodeEncodeError:
            return False
    return True


def parse_json(raw: bytes) -> Any:
    """orjson; the standard parser only for what orjson refuses (NaN, Infinity), so that the
    field can be named — with its depth and its text checked."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise Reject("$", "too_deep", "JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Reject("$", "not_json", f"not valid UTF-8 JSON: {type(exc).__name__}") from None
    if not _all_text_encodable(doc):
        raise Reject("$", "bad_text", "text with invalid Unicode (a lone surrogate)")
    return doc


def _require_str(doc: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    if name not in doc:
        raise Reject(name, "missing_field", f"{name} is required")
    value = doc[name]
    if not isinstance(value, str):
        raise Reject(name, "wrong_type", f"{name} must be a string, got {type(value).__name__}")
    if not pattern.fullmatch(value):
        raise Reject(name, "bad_id", f"{name} must match {pattern.pattern}")
    return value


def _require_time(doc: dict[str, Any], name: str) -> int:
    if name not in doc:
        raise Reject(name, "missing_field", f"{name} is required")
    value = doc[name]
    if not _is_int(value) or not 0 <= value < 2**63:
        raise Reject(name, "wrong_type", f"{name} must be a non-negative integer (ms since epoch)")
    return int(value)


def _known_id(doc: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str | None:
    value = doc.get(name)
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


@dataclass(slots=True)
class _Envelope:
    """An upload whose envelope (everything but the samples) has been read so far."""

    raw: bytes
    received_ms: int
    issues: list[Issue] = field(default_factory=list)
    patient_id: str | None = None  # known as soon as the document is read (for a Rejection)
    upload_id: str | None = None
    ids: tuple[str, str, str] = ("", "", "")  # upload, device, patient
    uploaded_at_ms: int = 0
    battery_pct: float | None = None
    samples: object = None

    def rejection(self, rejected: Reject) -> Rejection:
        return Rejection(
            issues=(rejected.issue, *self.issues), original=self.raw,
            received_ms=self.received_ms, patient_id=self.patient_id, upload_id=self.upload_id,
        )


def _read(env: _Envelope, limits: Limits) -> None:
    """Fill in the envelope; raises ``Reject``."""
    raw = env.raw
    if not raw:
        raise Reject("$", "empty", "the record holds no upload (an empty value or a tombstone)")
    if len(raw) > limits.max_upload_bytes:
        raise Reject("$", "too_large", f"{len(raw)} bytes > limit {limits.max_upload_bytes}")
    doc = parse_json(raw)
    if not isinstance(doc, dict):
        raise Reject("$", "wrong_type", "an upload must be a JSON object")
    env.patient_id = _known_id(doc, "patient_id", PATIENT_RE)
    env.upload_id = _known_id(doc, "upload_id", ID_RE)
    version = doc.get("schema_version")
    if version is None:
        raise Reject("schema_version", "missing_field", "schema_version is required")
    if version != SCHEMA_VERSION or not _is_int(version):
        raise Reject("schema_version", "unknown_schema_version",
                     f"version {str(version)[:20]!r} is not supported (this worker reads "
                     f"{SCHEMA_VERSION})")
    env.ids = (_require_str(doc, "upload_id", ID_RE), _require_str(doc, "device_id", ID_RE),
               _require_str(doc, "patient_id", PATIENT_RE))
    env.uploaded_at_ms = _require_time(doc, "uploaded_at_ms")
    for key in doc.keys() - UPLOAD_KEYS:
        env.issues.append(Issue(key_name(key), "unknown_field", "not in contract v1; ignored"))
    if doc.get("battery_pct") is not None:
        battery = doc["battery_pct"]
        if (isinstance(battery, int | float) and not isinstance(battery, bool)
                and math.isfinite(battery)
                and BATTERY_RANGE.low <= battery <= BATTERY_RANGE.high):
            env.battery_pct = float(battery)
        else:
            env.issues.append(Issue("battery_pct", "out_of_range", "battery_pct must be 0-100"))
    env.samples = doc.get("samples")


def _envelope(raw: bytes, received_ms: int, limits: Limits) -> _Envelope | Rejection:
    """The upload's envelope, or why the whole upload is refused."""
    env = _Envelope(raw, received_ms)
    try:
        _read(env, limits)
    except Reject as rejected:
        return env.rejection(rejected)
    return env


def _finish(env: _Envelope, columns: Columns | None, limits: Limits) -> Validated | Rejection:
    """The upload with ``columns`` (``None``: its samples are checked here, one upload)."""
    try:
        if columns is None:
            columns = parse_samples(env.samples, env.received_ms, limits.max_samples,
                                    limits.max_clock_skew_ms, env.issues)
    except Reject as rejected:
        return env.rejection(rejected)
    upload = Upload(*env.ids, env.uploaded_at_ms, env.received_ms, columns, env.battery_pct)
    return Validated(upload, env.issues)


def validate(raw: bytes, received_ms: int, limits: Limits) -> Validated | Rejection:
    """Validate one upload. Never raises on bad input.

    >>> raw = (b'{"schema_version":1,"upload_id":"u1","device_id":"d1","patient_id":"p-0001",'
    ...        b'"uploaded_at_ms":1000,"samples":[{"t_ms":1000,"hr_bpm":300}]}')
    >>> ok = validate(raw, 2000, Limits())
    >>> isinstance(ok, Rejection), ok.field, ok.reason
    (True, 'samples', 'no_valid_samples')
    >>> validate(raw.replace(b'"p-0001"', b'"p-0001\\\\n"'), 2000, Limits()).reason
    'bad_id'
    """
    env = _envelope(raw, received_ms, limits)
    return env if isinstance(env, Rejection) else _finish(env, None, limits)


def validate_many(raws: Sequence[bytes], received_ms: Sequence[int],
                  limits: Limits) -> list[Validated | Rejection]:
    """``[validate(raw, t, limits) for raw, t in zip(raws, received_ms)]``, faster: the
    samples of the clean uploads are checked as one set of arrays (``parse_many``); the others
    are checked one by one as ``validate`` does. Never raises on bad input.

    >>> raw = (b'{"schema_version":1,"upload_id":"u1","device_id":"d1","patient_id":"p-0001",'
    ...        b'"uploaded_at_ms":1000,"samples":[{"t_ms":1000,"hr_bpm":%d}]}')
    >>> [type(r).__name__ for r in validate_many([raw % 70, raw % 300], [2000, 2000], Limits())]
    ['Validated', 'Rejection']
    """
    envs = [_envelope(raw, t, limits) for raw, t in zip(raws, received_ms, strict=True)]
    read = [env for env in envs if isinstance(env, _Envelope)]
    columns = parse_many([env.samples for env in read], [env.received_ms for env in read],
                         limits.max_samples, limits.max_clock_skew_ms)
    finished = iter([_finish(env, c, limits) for env, c in zip(read, columns, strict=True)])
    return [next(finished) if isinstance(env, _Envelope) else env for env in envs]
