"""Answers in FHIR's terms: an ``OperationOutcome`` (built and validated with ``fhir.resources``)
whose issues name the element (``expression``) and the reason (``details.coding``, the same
reason codes as the native answers and the dead-letter topic).

>>> from wearmon.stream.gateway.admission import refuse
>>> doc = refused(refuse(400, "Observation.valueQuantity.code", "unknown_unit", "'mmHg'"))
>>> issue = doc["issue"][0]
>>> issue["severity"], issue["code"], issue["expression"], issue["details"]["coding"][0]["code"]
('error', 'code-invalid', ['Observation.valueQuantity.code'], 'unknown_unit')
"""

from __future__ import annotations

from typing import Any, Final

from fhir.resources.R4B.operationoutcome import OperationOutcome

from wearmon.stream.core.issues import Issue
from wearmon.stream.gateway.admission import MAX_ISSUES_SHOWN, Refusal

REASON_SYSTEM: Final = "https://wearmon.dev/fhir/CodeSystem/reason"
UPLOAD_SYSTEM: Final = "https://wearmon.dev/fhir/NamingSystem/upload-id"
#: Wearmon's reason → FHIR's IssueType (http://hl7.org/fhir/issue-type); anything else: invalid
ISSUE_TYPES: Final[dict[str, str]] = {
    "unknown_code": "code-invalid", "unknown_unit": "code-invalid",
    "unknown_schema": "not-supported", "unsupported_bundle_type": "not-supported",
    "unsupported_resource": "not-supported", "unsupported_request": "not-supported",
    "wrong_resource": "not-supported",
    "missing_field": "required", "missing_value": "required", "empty": "required",
    "not_json": "structure", "wrong_type": "structure", "too_deep": "structure",
    "bad_text": "structure", "bad_body": "structure",
    "out_of_range": "value", "not_finite": "value", "imprecise_time": "value",
    "bad_time": "value", "inexact_value": "value", "unusable_status": "business-rule",
    "future_sample": "business-rule", "late_sample": "business-rule",
    "duplicate_time": "duplicate",
    "patient_not_granted": "forbidden", "device_not_granted": "forbidden",
    "unauthorized": "login", "busy": "throttled", "device_busy": "throttled",
    "address_busy": "throttled", "body_too_slow": "timeout", "too_large": "too-costly",
    "too_many_samples": "too-costly", "broker_unavailable": "transient",
}


def issue(severity: str, problem: Issue) -> dict[str, Any]:
    return {"severity": severity, "code": ISSUE_TYPES.get(problem.reason, "invalid"),
            "details": {"coding": [{"system": REASON_SYSTEM, "code": problem.reason}],
                        "text": problem.detail},
            "expression": [problem.field]}


def outcome(issues: list[dict[str, Any]]) -> dict[str, Any]:
    resource = OperationOutcome.model_validate({"resourceType": "OperationOutcome",
                                                "issue": issues})
    return resource.model_dump(mode="json", exclude_none=True, by_alias=True)


def refused(refusal: Refusal) -> dict[str, Any]:
    """Every issue of a refusal as an error (the first is the reason)."""
    return outcome([issue("error", i) for i in refusal.issues[:MAX_ISSUES_SHOWN]])


def accepted(upload_id: str, partition: int, offset: int,
             issues: tuple[Issue, ...]) -> dict[str, Any]:
    """The upload id (``details.coding`` of system ``UPLOAD_SYSTEM``) and where the upload is,
    then a warning per value the worker will drop.

    >>> doc = accepted("fhir-1a2b", 0, 7, ())
    >>> doc["issue"][0]["details"]["coding"][0]["code"], doc["issue"][0]["diagnostics"]
    ('fhir-1a2b', 'accepted as upload fhir-1a2b: partition 0, offset 7')
    """
    first = {"severity": "information", "code": "informational",
             "details": {"coding": [{"system": UPLOAD_SYSTEM, "code": upload_id}],
                         "text": "accepted"},
             "diagnostics": f"accepted as upload {upload_id}: partition {partition}, "
                            f"offset {offset}"}
    return outcome([first, *(issue("warning", i) for i in issues[:MAX_ISSUES_SHOWN])])
