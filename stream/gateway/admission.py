"""One upload at the gateway: accept it, or refuse it with a status, the field and the reason.

The check is the worker's own ``core.validation.validate`` (same code, same reasons), plus the
token's binding: a device uploads only as itself, only for its patient. Uploads that the worker
would dead-letter as a whole are refused here, so the device learns at once; problems inside single
samples are accepted and reported back (the worker dead-letters those values, as for Kafka input).

>>> from wearmon.stream.gateway.tokens import Grant
>>> grant = Grant("watch-1", "p-0001", "0" * 64, 0)
>>> raw = (b'{"schema_version":1,"upload_id":"u1","device_id":"watch-1","patient_id":"p-0002",'
...        b'"uploaded_at_ms":1000,"samples":[{"t_ms":1000,"hr_bpm":60}]}')
>>> refusal = admit(raw, grant, 2000, Limits())
>>> refusal.status, refusal.field, refusal.reason
(403, 'patient_id', 'patient_not_granted')
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from wearmon.stream.core.validation import Issue, Limits, Rejection, Validated, validate
from wearmon.stream.gateway.tokens import Grant

MAX_ISSUES_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Refusal:
    """A 4xx answer: HTTP status and the issues (the first one is the reason)."""

    status: int
    issues: tuple[Issue, ...]

    @property
    def field(self) -> str:
        return self.issues[0].field

    @property
    def reason(self) -> str:
        return self.issues[0].reason

    def to_json(self) -> dict[str, Any]:
        first = self.issues[0]
        return {"error": first.reason, "field": first.field, "detail": first.detail,
                "issues": issues_json(self.issues)}

    def relabel(self, origin: dict[str, str]) -> Refusal:
        """The same refusal with contract fields named as the request's elements."""
        return Refusal(self.status, relabel(self.issues, origin))


def relabel(issues: tuple[Issue, ...] | list[Issue], origin: dict[str, str]
            ) -> tuple[Issue, ...]:
    """Issues whose contract field (``samples[3].hr_bpm``) came from another element."""
    return tuple(replace(i, field=origin.get(i.field, i.field)) for i in issues)


@dataclass(frozen=True, slots=True)
class Converted:
    """A request turned into a contract-v1 upload (``raw``) for the telemetry topic.

    ``origin`` names the request's element each contract field came from (for answers).
    """

    raw: bytes
    origin: dict[str, str] = field(default_factory=dict)


class Format(Protocol):
    """A way in: how requests are read and how answers are written."""

    content_type: str

    def convert(self, body: bytes, grant: Grant, received_ms: int) -> Converted | Refusal:
        """The request as a contract-v1 upload, or why it cannot be one."""

    def kept(self, body: bytes) -> bytes:
        """What the dead letter of a refused request keeps of it."""

    def refused(self, refusal: Refusal) -> dict[str, Any]:
        """The body of a 4xx/5xx answer."""

    def accepted(self, upload_id: str, partition: int, offset: int,
                 issues: tuple[Issue, ...]) -> dict[str, Any]:
        """The body of the 202 answer (``issues``: single values the worker will drop)."""


class NativeFormat:
    """Contract v1 (``POST /v1/uploads``): the bytes go on unchanged."""

    content_type = "application/json"

    def convert(self, body: bytes, grant: Grant, received_ms: int) -> Converted | Refusal:
        return Converted(body)

    def kept(self, body: bytes) -> bytes:
        return body

    def refused(self, refusal: Refusal) -> dict[str, Any]:
        return refusal.to_json()

    def accepted(self, upload_id: str, partition: int, offset: int,
                 issues: tuple[Issue, ...]) -> dict[str, Any]:
        return {"upload_id": upload_id, "partition": partition, "offset": offset,
                "issues": issues_json(issues)}


def issues_json(issues: tuple[Issue, ...] | list[Issue]) -> list[dict[str, str]]:
    return [{"field": i.field, "reason": i.reason, "detail": i.detail}
            for i in issues[:MAX_ISSUES_SHOWN]]


def refuse(status: int, field: str, reason: str, detail: str) -> Refusal:
    return Refusal(status, (Issue(field, reason, detail),))


def admit(raw: bytes, grant: Grant, received_ms: int, limits: Limits) -> Validated | Refusal:
    """Validate ``raw`` as the worker will, then check it against the token's grant."""
    checked = validate(raw, received_ms, limits)
    if isinstance(checked, Rejection):
        return Refusal(413 if checked.reason == "too_large" else 400, checked.issues)
    upload = checked.upload
    if upload.device_id != grant.device_id:
        return refuse(403, "device_id", "device_not_granted",
                      "this token belongs to another device")
    if upload.patient_id != grant.patient_id:
        return refuse(403, "patient_id", "patient_not_granted",
                      "this device is not enrolled for that patient")
    return checked
