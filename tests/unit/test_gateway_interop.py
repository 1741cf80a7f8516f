"""FHIR R4 and Open mHealth → contract-v1 uploads: pure translation, codes, units, refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from wearmon.stream.core.validation import Limits
from wearmon.stream.gateway.admission import Converted, Refusal, admit, relabel
from wearmon.stream.gateway.interop.formats import FhirFormat, OmhFormat
from wearmon.stream.gateway.tokens import Grant

GRANT = Grant("watch-1", "p-0001", "0" * 64, 0)
T0_MS = 1_746_093_600_000  # 2025-05-01T10:00:00Z
UNITS = {"8867-4": "/min", "59408-5": "%", "2708-6": "%", "9279-1": "/min", "8310-5": "Cel",
         "55423-8": "{steps}", "41950-7": "{steps}"}


def iso(t_ms: int) -> str:
    return datetime.fromtimestamp(t_ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def observation(loinc: str, value: float, t_ms: int, unit: str | None = None,
                **changes: Any) -> dict[str, Any]:
    code = loinc
    doc = {"resourceType": "Observation", "status": "final",
           "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                               "observation-category", "code": "vital-signs"}]}],
           "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
           "subject": {"reference": "Patient/p-0001", "display": "Jane Doe"},
           "device": {"reference": "Device/watch-1"},
           "effectiveDateTime": iso(t_ms),
           "valueQuantity": {"value": value, "unit": unit or UNITS[code],
                             "system": "http://unitsofmeasure.org", "code": unit or UNITS[code]}}
    return {**doc, **changes}


def bundle(*resources: dict[str, Any], kind: str = "transaction") -> bytes:
    entries = [{"fullUrl": f"urn:uuid:{i:08d}-0000-0000-0000-000000000000", "resource": r,
                "request": {"method": "POST", "url": r["resourceType"]}}
               for i, r in enumerate(resources)]
    return orjson.dumps({"resourceType": "Bundle", "type": kind, "entry": entries})


def omh_point(name: str, body: dict[str, Any], version: str = "2.0",
              **header: Any) -> dict[str, Any]:
    return {"header": {"id": f"id-{name}", "creation_date_time": iso(T0_MS),
                       "schema_id": {"namespace": "omh", "name": name, "version": version},
                       **header},
            "body": body}


def samples(converted: Converted | Refusal) -> list[dict[str, Any]]:
    assert isinstance(converted, Converted), converted
    return list(orjson.loads(converted.raw)["samples"])


def refusal(converted: Converted | Refusal) -> tuple[int, str, str]:
    assert isinstance(converted, Refusal), converted
    return converted.status, converted.field, converted.reason


def test_a_fhir_bundle_becomes_the_native_samples() -> None:
    body = bundle(observation("8867-4", 61, T0_MS), observation("59408-5", 97, T0_MS),
                  observation("55423-8", 12, T0_MS + 5000,
                              effectiveDateTime=None,
                              effectivePeriod={"start": iso(T0_MS), "end": iso(T0_MS + 5000)}),
                  observation("9279-1", 14, T0_MS + 5000),
                  observation("8310-5", 98.6, T0_MS + 10_000, "[degF]"),
                  observation("8867-4", 1.05, T0_MS + 10_000, "/s"))
    converted = FhirFormat("Bundle").convert(body, GRANT, T0_MS + 60_000)
    assert samples(converted) == [
        {"t_ms": T0_MS, "hr_bpm": 61.0, "spo2_pct": 97.0},
        {"t_ms": T0_MS + 5000, "steps": 12, "resp_rate_brpm": 14.0},
        {"t_ms": T0_MS + 10_000, "skin_temp_c": pytest.approx(37.0), "hr_bpm": 63.0}]
    doc = orjson.loads(converted.raw)  # type: ignore[union-attr]
    assert (doc["device_id"], doc["patient_id"]) == ("watch-1", "p-0001")  # the token's
    assert "Jane" not in converted.raw.decode()  # type: ignore[union-attr]
    checked = admit(converted.raw, GRANT, T0_MS + 60_000, Limits())  # type: ignore[union-attr]
    assert not isinstance(checked, Refusal) and checked.issues == []


def test_the_same_request_is_the_same_upload() -> None:
    one = bundle(observation("8867-4", 61, T0_MS), observation("8867-4", 62, T0_MS + 5000))
    reordered = bundle(observation("8867-4", 62, T0_MS + 5000), observation("8867-4", 61, T0_MS))
    ids = {orjson.loads(FhirFormat("Bundle").convert(body, GRANT, t).raw)["upload_id"]  # type: ignore[union-attr]
           for body, t in ((one, 1), (one, 2), (reordered, 3))}
    assert len(ids) == 1 and ids.pop().startswith("fhir-")


def test_one_observation_and_collection_bundles() -> None:
    single = orjson.dumps(observation("2708-6", 0.95, T0_MS, "1"))
    assert samples(FhirFormat("Observation").convert(single, GRANT, T0_MS)) == [
        {"t_ms": T0_MS, "spo2_pct": 95.0}]
    collection = bundle(observation("41950-7", 800, T0_MS), kind="collection")
    assert samples(FhirFormat("Bundle").convert(collection, GRANT, T0_MS)) == [
        {"t_ms": T0_MS, "steps": 800}]
    assert refusal(FhirFormat("Observation").convert(collection, GRANT, T0_MS)) == (
        400, "Observation.resourceType", "wrong_resource")


@pytest.mark.parametrize(("resource", "expected"), [
    (observation("8480-6", 120, T0_MS, "mm[Hg]"),
     (400, "Bundle.entry[1].resource.code.coding[0].code", "unknown_code")),
    (observation("8867-4", 61, T0_MS, "mm[Hg]"),
     (400, "Bundle.entry[1].resource.valueQuantity.code", "unknown_unit")),
    (observation("8310-5", 37, T0_MS, "°C"),
     (400, "Bundle.entry[1].resource.valueQuantity.code", "unknown_unit")),
    (observation("8867-4", 61, T0_MS, valueQuantity={"value": 61, "unit": "/min",
                                                       "system": "http://snomed.info/sct"}),
     (400, "Bundle.entry[1].resource.valueQuantity.system", "unknown_unit")),
    (observation("8867-4", 61, T0_MS, code={"text": "pulse"}),
     (400, "Bundle.entry[1].resource.code", "unknown_code")),
    (observation("8867-4", 61, T0_MS, valueQuantity={"value": "sixty", "unit": "/min"}),
     (400, "Bundle.entry[1].resource.valueQuantity.value", "invalid")),
    (observation("8867-4", 61, T0_MS, valueQuantity=None, valueString="61"),
     (400, "Bundle.entry[1].resource.valueString", "wrong_type")),
    (observation("8867-4", 61, T0_MS, effectiveDateTime="2025-05-01"),
     (400, "Bundle.entry[1].resource.effectiveDateTime", "imprecise_time")),
    (observation("8867-4", 61, T0_MS, effectiveDateTime=None),
     (400, "Bundle.entry[1].resource.effective[x]", "missing_field")),
    (observation("8867-4", 61, T0_MS, status="entered-in-error"),
     (400, "Bundle.entry[1].resource.status", "unusable_status")),
    (observation("8867-4", 61, T0_MS, subject={"reference": "Patient/p-0002"}),
     (403, "Bundle.entry[1].resource.subject", "patient_not_granted")),
    (observation("8867-4", 61, T0_MS, subject={"identifier": {"system": "urn:mrn",
                                                              "value": "12345"}}),
     (403, "Bundle.entry[1].resource.subject", "patient_not_granted")),
    (observation("8867-4", 61, T0_MS, device={"reference": "Device/watch-2"}),
     (403, "Bundle.entry[1].resource.device", "device_not_granted")),
    (observation("8867-4", 62, T0_MS),
     (400, "Bundle.entry[1].resource.valueQuantity", "duplicate_time")),
    ({"resourceType": "Patient", "name": [{"family": "Doe"}]},
     (400, "Bundle.entry[1].resource", "unsupported_resource")),
])
def test_fhir_refusals_name_the_element(resource: dict[str, Any],
                                        expected: tuple[int, str, str]) -> None:
    body = bundle(observation("8867-4", 61, T0_MS), resource)
    assert refusal(FhirFormat("Bundle").convert(body, GRANT, T0_MS)) == expected


def test_fhir_refusals_of_the_whole_request() -> None:
    fmt = FhirFormat("Bundle")
    assert refusal(fmt.convert(b"{oops", GRANT, T0_MS)) == (400, "Bundle", "not_json")
    assert refusal(fmt.convert(bundle(observation("8867-4", 61, T0_MS), kind="batch"), GRANT,
                               T0_MS)) == (400, "Bundle.type", "unsupported_bundle_type")
    assert refusal(fmt.convert(bundle(), GRANT, T0_MS)) == (400, "Bundle.entry", "empty")
    no_request = orjson.loads(bundle(observation("8867-4", 61, T0_MS)))
    del no_request["entry"][0]["request"]
    assert refusal(fmt.convert(orjson.dumps(no_request), GRANT, T0_MS)) == (
        400, "Bundle.entry[0].request", "unsupported_request")


def test_value_problems_are_named_as_the_request_elements() -> None:
    body = bundle(observation("8867-4", 61, T0_MS), observation("8867-4", 400, T0_MS + 5000))
    converted = FhirFormat("Bundle").convert(body, GRANT, T0_MS + 60_000)
    assert isinstance(converted, Converted)
    checked = admit(converted.raw, GRANT, T0_MS + 60_000, Limits())
    assert not isinstance(checked, Refusal)
    assert [(i.field, i.reason) for i in relabel(checked.issues, converted.origin)] == [
        ("Bundle.entry[1].resource.valueQuantity", "out_of_range")]
    future = bundle(observation("8867-4", 61, T0_MS + 3_600_000))
    converted = FhirFormat("Bundle").convert(future, GRANT, T0_MS)
    assert isinstance(converted, Converted)
    refused = admit(converted.raw, GRANT, T0_MS, Limits())
    assert isinstance(refused, Refusal)
    assert [i.field for i in relabel(refused.issues, converted.origin)] == [
        "Bundle.entry", "Bundle.entry[0].resource.effectiveDateTime"]


def test_an_omh_batch_becomes_the_native_samples() -> None:
    batch = [
        omh_point("heart-rate", {"heart_rate": {"value": 61, "unit": "beats/min"},
                                 "effective_time_frame": {"date_time": iso(T0_MS)}}),
        omh_point("oxygen-saturation", {"oxygen_saturation": {"value": 97, "unit": "%"},
                                        "effective_time_frame": {"date_time": iso(T0_MS)}}),
        omh_point("step-count", {"step_count": 12, "effective_time_frame": {"time_interval": {
            "start_date_time": iso(T0_MS), "duration": {"value": 5, "unit": "sec"}}}},
            version="1.0"),
        omh_point("respiratory-rate", {"respiratory_rate": {"value": 14, "unit": "breaths/min"},
                                       "effective_time_frame": {"time_interval": {
                                           "start_date_time": iso(T0_MS),
                                           "end_date_time": iso(T0_MS + 5000)}}}),
        omh_point("body-temperature", {"body_temperature": {"value": 98.6, "unit": "F"},
                                       "effective_time_frame": {"date_time": iso(T0_MS + 10_000)}},
                  user_id="p-0001"),
        omh_point("step-count", {"step_count": {"value": 3, "unit": "steps"},
                                 "effective_time_frame": {"date_time": iso(T0_MS + 10_000)}}),
    ]
    converted = OmhFormat().convert(orjson.dumps(batch), GRANT, T0_MS + 60_000)
    assert samples(converted) == [
        {"t_ms": T0_MS, "hr_bpm": 61.0, "spo2_pct": 97.0},
        {"t_ms": T0_MS + 5000, "steps": 12, "resp_rate_brpm": 14.0},
        {"t_ms": T0_MS + 10_000, "skin_temp_c": pytest.approx(37.0), "steps": 3}]
    assert orjson.loads(converted.raw)["upload_id"].startswith("omh-")  # type: ignore[union-attr]
    one = OmhFormat().convert(orjson.dumps(batch[0]), GRANT, T0_MS)  # a single data point
    assert samples(one) == [{"t_ms": T0_MS, "hr_bpm": 61.0}]


@pytest.mark.parametrize(("point", "expected"), [
    (omh_point("blood-pressure", {}), (400, "$[1].header.schema_id.name", "unknown_schema")),
    (omh_point("heart-rate", {"heart_rate": {"value": 61, "unit": "beats/s"},
                              "effective_time_frame": {"date_time": iso(T0_MS)}}),
     (400, "$[1].body.heart_rate.unit", "unknown_unit")),
    (omh_point("heart-rate", {"heart_rate": {"value": "61", "unit": "beats/min"},
                              "effective_time_frame": {"date_time": iso(T0_MS)}}),
     (400, "$[1].body.heart_rate.value", "wrong_type")),
    (omh_point("heart-rate", {"heart_rate": {"value": 61, "unit": "beats/min"}}),
     (400, "$[1].body.effective_time_frame", "missing_field")),
    (omh_point("heart-rate", {"heart_rate": {"value": 61, "unit": "beats/min"},
                              "effective_time_frame": {"date_time": "2025-05-01T10:00:00"}}),
     (400, "$[1].body.effective_time_frame.date_time", "imprecise_time")),
    (omh_point("heart-rate", {"heart_rate": {"value": 61, "unit": "beats/min"},
                              "effective_time_frame": {"date_time": iso(T0_MS)}},
               user_id="MRN-12345"),
     (403, "$[1].header.user_id", "patient_not_granted")),
    ({"body": {}}, (400, "$[1].header", "missing_field")),
])
def test_omh_refusals_name_the_element(point: dict[str, Any],
                                       expected: tuple[int, str, str]) -> None:
    first = omh_point("heart-rate", {"heart_rate": {"value": 61, "unit": "beats/min"},
                                     "effective_time_frame": {"date_time": iso(T0_MS)}})
    assert refusal(OmhFormat().convert(orjson.dumps([first, point]), GRANT, T0_MS)) == expected


def test_dead_letters_keep_only_what_the_gateway_reads() -> None:
    body = bundle(observation("8867-4", 61, T0_MS, identifier=[{"value": "MRN-77"}]),
                  {"resourceType": "Patient", "name": [{"family": "Doe", "given": ["Jane"]}],
                   "identifier": [{"system": "urn:mrn", "value": "MRN-77"}]})
    kept = FhirFormat("Bundle").kept(body).decode()
    assert "Doe" not in kept and "Jane" not in kept and "MRN" not in kept
    assert "8867-4" in kept and "Patient/p-0001" not in kept and '"Patient"' in kept
    point = omh_point("heart-rate", {"heart_rate": {"value": 61, "unit": "beats/min"},
                                     "effective_time_frame": {"date_time": iso(T0_MS)}},
                      user_id="MRN-12345", acquisition_provenance={"source_name": "Jane's"})
    kept = OmhFormat().kept(orjson.dumps([point])).decode()
    assert "MRN" not in kept and "Jane" not in kept and "heart_rate" in kept
    assert FhirFormat("Bundle").kept(b"\x00not json") == OmhFormat().kept(b"[") == b""
