"""FHIR R4 and Open mHealth through a running ``wearmon gateway`` and a running worker (issue
26): the same vitals sent three ways for three enrolled patients are stored in InfluxDB with the
same values and times; a bradycardia sent as FHIR opens the same alert as the native one;
malformed or unknown codes and units get a 400 OperationOutcome naming the element, are
dead-lettered, and nothing else is lost.

Points in InfluxDB: the worker of ``tests.conftest.new_worker`` (``WEARMON_INFLUX_URL``) writes
them; this module relies on that fixture as it is."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import Services, Worker, influx_query, new_worker
from tests.integration.conftest import consume, enrolment, settings_of
from tests.integration.receivers import Inbox, WebhookServer
from tests.integration.test_log_privacy import Process, launch
from tests.unit.test_gateway_interop import iso, omh_point
from tests.waiting import wait_until
from wearmon.stream.config import Settings, load_settings
from wearmon.stream.gateway.devices import issue_tokens
from wearmon.stream.tools.services import free_port
from wearmon.stream.views.patients import publish_patient

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SAME = {"native": "p-int-0001", "fhir": "p-int-0002", "omh": "p-int-0003"}
BRADY = {"native": "p-int-0004", "fhir": "p-int-0005"}
UCUM = "http://unitsofmeasure.org"
VITALS = {"hr_bpm": ("8867-4", "/min"), "spo2_pct": ("59408-5", "%"),
          "steps": ("55423-8", "{steps}")}


def device_of(patient: str) -> str:
    return f"watch-{patient}"


def series(end_ms: int, count: int, every_ms: int, hr: float) -> list[dict[str, Any]]:
    """Samples ending a little before ``end_ms`` (at rest: no steps)."""
    start_ms = end_ms - count * every_ms - 5_000
    return [{"t_ms": start_ms + i * every_ms, "hr_bpm": hr + (i % 3), "spo2_pct": 96.0 + i % 2,
             "steps": i % 2 if hr > 50 else 0} for i in range(count)]


def native(patient: str, samples: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"schema_version": 1, "upload_id": f"n-{uuid.uuid4().hex[:10]}",
                         "device_id": device_of(patient), "patient_id": patient,
                         "uploaded_at_ms": int(time.time() * 1000), "samples": samples})


def fhir_bundle(patient: str, samples: list[dict[str, Any]],
                only: tuple[str, ...] = tuple(VITALS)) -> bytes:
    entries = []
    for sample in samples:
        for name in only:
            code, unit = VITALS[name]
            resource = {"resourceType": "Observation", "status": "final",
                        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                        "subject": {"reference": f"Patient/{patient}"},
                        "device": {"reference": f"Device/{device_of(patient)}"},
                        "effectiveDateTime": iso(sample["t_ms"]),
                        "valueQuantity": {"value": sample[name], "unit": unit, "system": UCUM,
                                          "code": unit}}
            entries.append({"resource": resource,
                            "request": {"method": "POST", "url": "Observation"}})
    return orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})


def omh_batch(samples: list[dict[str, Any]]) -> bytes:
    points = []
    for sample in samples:
        frame = {"date_time": iso(sample["t_ms"])}
        points += [
            omh_point("heart-rate", {"heart_rate": {"value": sample["hr_bpm"],
                                                    "unit": "beats/min"},
                                     "effective_time_frame": frame}),
            omh_point("oxygen-saturation", {"oxygen_saturation": {"value": sample["spo2_pct"],
                                                                  "unit": "%"},
                                            "effective_time_frame": frame}),
            omh_point("step-count", {"step_count": {"value": sample["steps"], "unit": "steps"},
                                     "effective_time_frame": frame})]
    return orjson.dumps(points)


@dataclass
class Interop:
    worker: Worker
    settings: Settings
    influx_url: str
    samples: list[dict[str, Any]]
    answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)


async def post_all(url: str, tokens: dict[str, str],
                   requests: list[tuple[str, str, str, bytes]]
                   ) -> dict[str, tuple[int, dict[str, Any]]]:
    answers = {}
    async with aiohttp.ClientSession() as http:
        for name, path, patient, body in requests:
            headers = {"Authorization": f"Bearer {tokens[device_of(patient)]}",
                       "Content-Type": "application/fhir+json"}
            async with http.post(url + path, data=body, headers=headers) as resp:
                answers[name] = (resp.status, orjson.loads(await resp.read()))
    return answers


def requests_to_send(samples: list[dict[str, Any]], brady: list[dict[str, Any]]
                     ) -> list[tuple[str, str, str, bytes]]:
    bad_unit = fhir_bundle(SAME["fhir"], samples[:2]).replace(b'"%"', b'"mm[Hg]"', 2)
    bad_code = fhir_bundle(SAME["fhir"], samples[:1]).replace(b'"8867-4"', b'"8480-6"')
    bad_omh = omh_batch(samples[:1]).replace(b'"beats/min"', b'"beats/s"')
    return [
        ("native", "/v1/uploads", SAME["native"], native(SAME["native"], samples)),
        ("fhir", "/fhir/r4/Bundle", SAME["fhir"], fhir_bundle(SAME["fhir"], samples)),
        ("omh", "/omh/v1/datapoints", SAME["omh"], omh_batch(samples)),
        ("fhir again", "/fhir/r4/Bundle", SAME["fhir"], fhir_bundle(SAME["fhir"], samples)),
        ("bad unit", "/fhir/r4/Bundle", SAME["fhir"], bad_unit),
        ("bad code", "/fhir/r4/Bundle", SAME["fhir"], bad_code),
        ("bad omh unit", "/omh/v1/datapoints", SAME["omh"], bad_omh),
        ("not json", "/fhir/r4/Observation", SAME["fhir"], b"<Observation/>"),
        ("brady native", "/v1/uploads", BRADY["native"], native(BRADY["native"], brady)),
        ("brady fhir", "/fhir/r4/Bundle", BRADY["fhir"],
         fhir_bundle(BRADY["fhir"], brady, only=("hr_bpm", "steps"))),
    ]


@pytest.fixture(scope="module")
def interop(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Interop]:
    directory = tmp_path_factory.mktemp("interop")
    worker = new_worker(services, directory)
    env = {**worker.env, "WEARMON_GATEWAY_PORT": str(free_port()),
           "WEARMON_GATEWAY_IDEMPOTENT": "false",
           "WEARMON_TOPIC_DEVICES": f"devices-{uuid.uuid4().hex[:8]}"}
    settings = load_settings({k: v for k, v in env.items() if k.startswith("WEARMON_")})
    receiver = WebhookServer(Inbox())
    receiver.start()
    gateway: Process | None = None
    try:
        patients = [*SAME.values(), *BRADY.values()]
        for patient in patients:
            asyncio.run(publish_patient(settings, patient,
                                        enrolment(patient, device_of(patient), receiver)))
        tokens = asyncio.run(issue_tokens(settings, {device_of(p): p for p in patients}))
        gateway = launch("gateway", env, settings.gateway.port, directory)
        worker.start()
        now_ms = int(time.time() * 1000)
        samples = series(now_ms, 12, 5_000, 70.0)
        brady = series(now_ms, 18, 10_000, 30.0)
        run = Interop(worker, settings_of(worker), services.influx_url, samples)
        run.answers = asyncio.run(post_all(f"http://127.0.0.1:{settings.gateway.port}", tokens,
                                           requests_to_send(samples, brady)))
        accepted = sum(status == 202 for status, _ in run.answers.values())
        worker.wait_processed(accepted)
        yield run
    finally:
        if gateway is not None:
            gateway.stop()
        worker.stop()
        receiver.stop()


def stored(run: Interop, patient: str) -> list[list[Any]]:
    query = (f"SELECT hr_bpm, spo2_pct, steps FROM vitals WHERE patient = '{patient}' "
             f"AND time > now() - 1h")

    def rows() -> list[list[Any]]:  # the sink writes them after the worker's commit
        series_ = influx_query(run.influx_url, run.worker.env["WEARMON_INFLUX_DB"], query)
        return [row for s in series_ for row in s["values"]]  # type: ignore[union-attr]

    return wait_until(rows, f"{len(run.samples)} rows of {query}", 60,
                      until=lambda found: len(found) >= len(run.samples))


def test_fhir_and_omh_are_stored_as_the_native_upload(interop: Interop) -> None:
    for name in ("native", "fhir", "omh"):
        assert interop.answers[name][0] == 202, interop.answers[name]
    expected = [[s["t_ms"], s["hr_bpm"], s["spo2_pct"], s["steps"]] for s in interop.samples]
    for name, patient in SAME.items():
        assert stored(interop, patient) == expected, name
    fhir, again = interop.answers["fhir"][1], interop.answers["fhir again"][1]
    assert fhir["resourceType"] == "OperationOutcome"
    upload_id = fhir["issue"][0]["details"]["coding"][0]["code"]
    assert upload_id.startswith("fhir-")
    assert again["issue"][0]["details"]["coding"][0]["code"] == upload_id  # re-sent: a duplicate
    assert (interop.worker.health() or {})["duplicates"] == 1


def test_unknown_codes_and_units_are_refused_naming_the_element(interop: Interop) -> None:
    refused = {name: interop.answers[name] for name in
               ("bad unit", "bad code", "bad omh unit", "not json")}
    found = {name: (status, doc["resourceType"], doc["issue"][0]["expression"][0],
                    doc["issue"][0]["details"]["coding"][0]["code"])
             for name, (status, doc) in refused.items()}
    assert found == {
        "bad unit": (400, "OperationOutcome", "Bundle.entry[1].resource.valueQuantity.code",
                     "unknown_unit"),
        "bad code": (400, "OperationOutcome", "Bundle.entry[0].resource.code.coding[0].code",
                     "unknown_code"),
        "bad omh unit": (400, "OperationOutcome", "$[0].body.heart_rate.unit", "unknown_unit"),
        "not json": (400, "OperationOutcome", "Observation", "not_json"),
    }
    letters = asyncio.run(consume(
        interop.settings, interop.settings.topics.rejected, 4,
        keep=lambda r: r["patient_id"] in (SAME["fhir"], SAME["omh"])
        and r["reason"] != "duplicate_upload"))
    assert sorted(r["reason"] for r in letters) == sorted(
        ["unknown_unit", "unknown_code", "unknown_unit", "not_json"])
    assert {r["field"] for r in letters} >= {"$[0].body.heart_rate.unit", "Observation"}
    # nothing else lost: every accepted sample is stored, nothing from a refused request is
    assert len(stored(interop, SAME["fhir"])) == len(interop.samples)


def test_a_bradycardia_in_fhir_opens_the_same_alert(interop: Interop) -> None:
    assert interop.answers["brady fhir"][0] == 202, interop.answers["brady fhir"]
    opened = asyncio.run(consume(
        interop.settings, interop.settings.topics.alerts, 2, timeout_s=90,
        keep=lambda r: r["patient"] in BRADY.values() and r["action"] == "opened",
        until=lambda rs: {r["patient"] for r in rs} == set(BRADY.values())))
    alerts = {r["patient"]: (r["kind"], r["severity"], r["state"]) for r in opened}
    assert set(alerts) == set(BRADY.values()), opened
    assert alerts[BRADY["fhir"]] == alerts[BRADY["native"]]
    assert alerts[BRADY["fhir"]][0] == "bradycardia"
