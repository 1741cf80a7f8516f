"""HL7 FHIR R4 Observations (vital signs) → measurements of the device's patient.

Requests are parsed and validated with the ``fhir.resources`` models (its ``R4B`` package, whose
Observation, Bundle, Quantity, Period and Reference are R4's), then checked for what the models
leave open and Wearmon needs: a usable status, a known LOINC code, a quantity in a convertible
UCUM unit, a precise time, and a subject and device that are the token's. Each refusal names the
element (``Bundle.entry[2].resource.valueQuantity.code``) and the reason.

The subject is never stored: it must name the token's patient by the pseudonymous id
(``Patient/p-0001``, or an identifier of system ``PATIENT_SYSTEM``), and only that id travels on;
a subject that is anything else (an MRN, another patient, a name) is refused, and not echoed.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final, Literal

import orjson
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.reference import Reference
from pydantic import ValidationError

from wearmon.stream.gateway.interop.codes import LOINC, LOINC_SYSTEM, UCUM_SYSTEM
from wearmon.stream.gateway.interop.measurements import Measurement, Refused, epoch_ms
from wearmon.stream.gateway.tokens import Grant

Kind = Literal["Bundle", "Observation"]
PATIENT_SYSTEM: Final = "https://wearmon.dev/fhir/NamingSystem/patient-id"
DEVICE_SYSTEM: Final = "https://wearmon.dev/fhir/NamingSystem/device-id"
USABLE_STATUS: Final = frozenset({"final", "amended", "corrected", "preliminary"})
BUNDLE_TYPES: Final = frozenset({"transaction", "collection"})
_PATIENT_REF = re.compile(r"(?:^|/)Patient/([^/]+)(?:/_history/[^/]+)?")
_DEVICE_REF = re.compile(r"(?:^|/)Device/([^/]+)(?:/_history/[^/]+)?")
_OTHER_VALUES = ("valueCodeableConcept", "valueString", "valueBoolean", "valueInteger",
                 "valueRange", "valueRatio", "valueSampledData", "valueTime", "valueDateTime",
                 "valuePeriod")


def element_path(kind: str, loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a FHIR element path.

    >>> element_path("Bundle", ("entry", 0, "resource", "valueQuantity", "value"))
    'Bundle.entry[0].resource.valueQuantity.value'
    """
    return kind + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def parse(body: bytes, kind: Kind) -> Bundle | Observation:
    """The request's resource, validated by the FHIR models; ``Refused`` naming the element."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Refused(kind, "not_json", "not valid UTF-8 JSON") from None
    if not isinstance(doc, dict):
        raise Refused(kind, "wrong_type", f"a {kind} resource (a JSON object) is needed")
    if doc.get("resourceType") != kind:
        raise Refused(f"{kind}.resourceType", "wrong_resource",
                      f"this endpoint takes a {kind}")
    model = Bundle if kind == "Bundle" else Observation
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = " ".join(str(first["msg"]).split())[:200]
        raise Refused(element_path(kind, tuple(first["loc"])), "invalid", message) from None


def observations(resource: Bundle | Observation) -> list[tuple[str, Observation]]:
    """The request's Observations, each with its element path."""
    if isinstance(resource, Observation):
        return [("Observation", resource)]
    if resource.type not in BUNDLE_TYPES:
        raise Refused("Bundle.type", "unsupported_bundle_type",
                      "a transaction or collection Bundle is needed")
    if not resource.entry:
        raise Refused("Bundle.entry", "empty", "the Bundle has no entries")
    found = []
    for index, entry in enumerate(resource.entry):
        path = f"Bundle.entry[{index}]"
        if not isinstance(entry.resource, Observation):
            raise Refused(f"{path}.resource", "unsupported_resource",
                          "only Observation resources are taken")
        if resource.type == "transaction" and not (
                entry.request is not None and entry.request.method in ("POST", "PUT")
                and str(entry.request.url).startswith("Observation")):
            raise Refused(f"{path}.request", "unsupported_request",
                          "transaction entries must POST or PUT an Observation")
        found.append((f"{path}.resource", entry.resource))
    return found


def names(reference: Reference | None, pattern: re.Pattern[str], system: str, wanted: str
          ) -> bool:
    """Whether a Reference names ``wanted`` (by ``Type/id`` or by an identifier of ``system``)."""
    if reference is None:
        return False
    if reference.reference:
        match = pattern.search(reference.reference)
        return match is not None and match.group(1) == wanted
    identifier = reference.identifier
    return identifier is not None and identifier.system == system and identifier.value == wanted


def check_parties(path: str, obs: Observation, grant: Grant) -> None:
    """The subject and device, when given, must be the token's patient and device."""
    if obs.subject is not None and not names(obs.subject, _PATIENT_REF, PATIENT_SYSTEM,
                                              grant.patient_id):
        raise Refused(f"{path}.subject", "patient_not_granted",
                      "the subject must be this device's patient, as Patient/<pseudonymous id>",
                      403)
    if obs.device is not None and not names(obs.device, _DEVICE_REF, DEVICE_SYSTEM,
                                            grant.device_id):
        raise Refused(f"{path}.device", "device_not_granted",
                      "the device must be this token's, as Device/<device id>", 403)


def measure_of(path: str, obs: Observation) -> tuple[str, Any]:
    """The field and measure of the Observation's LOINC code."""
    codings = list(enumerate(obs.code.coding or [])) if obs.code is not None else []
    loinc = [(i, c) for i, c in codings if c.system == LOINC_SYSTEM]
    for _, coding in loinc:
        if coding.code in LOINC:
            return coding.code, LOINC[coding.code]
    if not loinc:
        raise Refused(f"{path}.code", "unknown_code", f"no coding of system {LOINC_SYSTEM}")
    index, coding = loinc[0]
    raise Refused(f"{path}.code.coding[{index}].code", "unknown_code",
                  f"LOINC {str(coding.code)[:20]!r} is not taken (known: {', '.join(LOINC)})")


def quantity_of(path: str, obs: Observation, code: str) -> float:
    """The value, in the contract field's unit."""
    q = obs.valueQuantity
    if q is None:
        other = next((name for name in _OTHER_VALUES if getattr(obs, name) is not None), None)
        if other is not None:
            raise Refused(f"{path}.{other}", "wrong_type", "a valueQuantity is needed")
        raise Refused(f"{path}.valueQuantity", "missing_value", "the Observation has no value")
    if q.value is None:
        raise Refused(f"{path}.valueQuantity.value", "missing_value", "the quantity has no value")
    if q.comparator is not None:
        raise Refused(f"{path}.valueQuantity.comparator", "inexact_value",
                      "a measured value is needed, not a bound")
    if q.system is not None and q.system != UCUM_SYSTEM:
        raise Refused(f"{path}.valueQuantity.system", "unknown_unit",
                      f"units must be UCUM ({UCUM_SYSTEM})")
    unit, where = (q.code, "code") if q.code is not None else (q.unit, "unit")
    measure = LOINC[code]
    value = None if unit is None else measure.value(float(q.value), unit)
    if value is None:
        raise Refused(f"{path}.valueQuantity.{where}", "unknown_unit",
                      f"{str(unit)[:20]!r} is not a UCUM unit of {measure.name} this gateway "
                      f"converts (known: {', '.join(measure.units)})")
    return value


def time_of(path: str, obs: Observation) -> tuple[int, str]:
    """Milliseconds since the epoch: the date-time or instant, or the end (else the start) of
    the period; and the element it came from."""
    moment: object = None
    if obs.effectiveDateTime is not None:
        moment, where = obs.effectiveDateTime, f"{path}.effectiveDateTime"
    elif obs.effectiveInstant is not None:
        moment, where = obs.effectiveInstant, f"{path}.effectiveInstant"
    elif obs.effectivePeriod is not None:
        period = obs.effectivePeriod
        end = "end" if period.end is not None else "start"
        moment, where = getattr(period, end), f"{path}.effectivePeriod.{end}"
    elif obs.effectiveTiming is not None:
        raise Refused(f"{path}.effectiveTiming", "imprecise_time",
                      "effectiveDateTime, effectiveInstant or effectivePeriod is needed")
    else:
        raise Refused(f"{path}.effective[x]", "missing_field", "the Observation has no time")
    if not isinstance(moment, datetime):
        raise Refused(where, "imprecise_time", "a date-time with a time zone is needed")
    return epoch_ms(moment, where), where


def measurement(path: str, obs: Observation, grant: Grant) -> Measurement:
    if obs.status not in USABLE_STATUS:
        raise Refused(f"{path}.status", "unusable_status",
                      f"the status must be one of {', '.join(sorted(USABLE_STATUS))}")
    check_parties(path, obs, grant)
    code, measure = measure_of(path, obs)
    value = quantity_of(path, obs, code)
    t_ms, time_element = time_of(path, obs)
    return Measurement(t_ms, measure.field, value, f"{path}.valueQuantity", time_element)


def read(body: bytes, kind: Kind, grant: Grant) -> list[Measurement]:
    """Every measurement of the request, or ``Refused`` at the first element that is not one."""
    return [measurement(path, obs, grant) for path, obs in observations(parse(body, kind))]


def kept(body: bytes) -> bytes:
    """What a dead letter keeps of a refused FHIR request: only the elements the gateway reads
    (code, value, time, status, device reference) of each Observation; never the subject, names,
    identifiers, narrative or other resources. Not JSON: nothing."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return b""
    if not isinstance(doc, dict):
        return b""
    if doc.get("resourceType") != "Bundle":
        return orjson.dumps(pruned(doc))
    entries = doc["entry"] if isinstance(doc.get("entry"), list) else []
    return orjson.dumps({"resourceType": "Bundle", "type": str(doc.get("type"))[:20],
                         "entry": [{"resource": pruned(e.get("resource"))} if isinstance(e, dict)
                                   else {} for e in entries]})


def pruned(resource: object) -> dict[str, Any]:
    if not isinstance(resource, dict):
        return {}
    if resource.get("resourceType") != "Observation":
        return {"resourceType": str(resource.get("resourceType"))[:40]}
    keep: dict[str, Any] = {"resourceType": "Observation"}
    for name in ("status", "effectiveDateTime", "effectiveInstant", "effectivePeriod"):
        if name in resource:
            keep[name] = resource[name]
    code = resource.get("code")
    if isinstance(code, dict) and isinstance(code.get("coding"), list):
        keep["code"] = {"coding": [{k: c.get(k) for k in ("system", "code")}
                                   for c in code["coding"] if isinstance(c, dict)]}
    quantity = resource.get("valueQuantity")
    if isinstance(quantity, dict):
        keep["valueQuantity"] = {k: quantity[k] for k in ("value", "unit", "system", "code",
                                                          "comparator") if k in quantity}
    device = resource.get("device")
    if isinstance(device, dict) and "reference" in device:
        keep["device"] = {"reference": device["reference"]}
    return keep
