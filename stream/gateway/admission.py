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

from dataclasses import dataclass
from typing import Any

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
