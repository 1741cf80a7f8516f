"""The gateway's FHIR and Open mHealth ways in (``admission.Format``): a request → the
contract-v1 upload of its measurements, answers as ``OperationOutcome``s."""

from __future__ import annotations

from typing import Any, Final

from wearmon.stream.core.issues import Issue
from wearmon.stream.gateway.admission import Converted, Refusal
from wearmon.stream.gateway.interop import fhir, omh, outcome
from wearmon.stream.gateway.interop.measurements import Refused, to_upload
from wearmon.stream.gateway.tokens import Grant

FHIR_JSON: Final = "application/fhir+json"


class FhirFormat:
    """``POST /fhir/r4/Bundle`` (``kind="Bundle"``) or ``POST /fhir/r4/Observation``."""

    content_type = FHIR_JSON

    def __init__(self, kind: fhir.Kind) -> None:
        self.kind = kind

    def convert(self, body: bytes, grant: Grant, received_ms: int) -> Converted | Refusal:
        try:
            found = fhir.read(body, self.kind, grant)
            return to_upload(found, grant, received_ms, "fhir",
                             "Bundle.entry" if self.kind == "Bundle" else "Observation")
        except Refused as exc:
            return exc.refusal

    def kept(self, body: bytes) -> bytes:
        return fhir.kept(body)

    def refused(self, refusal: Refusal) -> dict[str, Any]:
        return outcome.refused(refusal)

    def accepted(self, upload_id: str, partition: int, offset: int,
                 issues: tuple[Issue, ...]) -> dict[str, Any]:
        return outcome.accepted(upload_id, partition, offset, issues)


class OmhFormat:
    """``POST /omh/v1/datapoints``: one data point or an array of them."""

    content_type = "application/json"

    def convert(self, body: bytes, grant: Grant, received_ms: int) -> Converted | Refusal:
        try:
            return to_upload(omh.read(body, grant), grant, received_ms, "omh", "$")
        except Refused as exc:
            return exc.refusal

    def kept(self, body: bytes) -> bytes:
        return omh.kept(body)

    def refused(self, refusal: Refusal) -> dict[str, Any]:
        return outcome.refused(refusal)

    def accepted(self, upload_id: str, partition: int, offset: int,
                 issues: tuple[Issue, ...]) -> dict[str, Any]:
        return outcome.accepted(upload_id, partition, offset, issues)
