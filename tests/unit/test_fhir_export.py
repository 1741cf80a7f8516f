"""The FHIR exporter's pure steps: alert events → one Flag per alert whose status follows the
alert, care-team messages → Communications, both valid FHIR (``fhir.resources``) without vitals
or names; a batch → conditional updates (latest state per alert); refusals → dead letters; the
SMART backend-services assertion; the settings."""

from __future__ import annotations

import asyncio
import base64
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.flag import Flag
from tenacity import RetryCallState

from wearmon.models.base import Severity
from wearmon.stream.alerts.lifecycle import SYSTEM, Action, AlertEvent, AlertState, Category
from wearmon.stream.config import ConfigError, FhirSettings, variables_only
from wearmon.stream.export.auth import FhirOutage, NoAuth, SmartBackend, signing_key
from wearmon.stream.export.client import FhirClient, FhirRefused, outcome_of, retry_after_s
from wearmon.stream.export.plan import ALERTS, DELIVERIES, escaped, plan
from wearmon.stream.export.resources import (
    ALERT_SYSTEM,
    ESCALATION_EXTENSION,
    MESSAGE_SYSTEM,
    PRIORITY_EXTENSION,
    SNOOZED_UNTIL_EXTENSION,
    STATE_EXTENSION,
    communication,
    flag,
    not_exported,
)
from wearmon.stream.export.service import refused_letter
from wearmon.stream.gateway.interop.fhir import PATIENT_SYSTEM
from wearmon.stream.notify.deliver import DeliveryResult, DeliveryStatus
from wearmon.stream.notify.outbox import Audience, idempotency_key
from wearmon.stream.sinks.decode import Received

PATIENT = "p-0042"
ALERT = f"{PATIENT}:tachycardia_at_rest:1772452200000"
OPENED_MS = 1_772_452_800_000
EXPLANATION = "Heart rate 150 bpm at rest for 3 min (baseline 62 bpm)"
KINDS = {"alerts": ALERTS, "deliveries": DELIVERIES}


def event(state: AlertState, action: Action, step: int, at_ms: int, *, level: int = 0,
          actor: str = SYSTEM, note: str = "", due_ms: int | None = None,
          severity: Severity = Severity.CRITICAL,
          category: Category = Category.CLINICAL) -> AlertEvent:
    return AlertEvent(ALERT, PATIENT, "tachycardia_at_rest", severity, state, at_ms, actor,
                      note, step, action, category, level=level, explanation=EXPLANATION,
                      opened_ms=OPENED_MS, due_ms=due_ms, event_ms=OPENED_MS - 60_000)


LIFE = [
    event(AlertState.OPEN, Action.OPENED, 0, OPENED_MS, note=EXPLANATION),
    event(AlertState.ESCALATED, Action.ESCALATED, 1, OPENED_MS + 300_000, level=1,
          note="not acknowledged in time"),
    event(AlertState.ACKNOWLEDGED, Action.ACKNOWLEDGED, 2, OPENED_MS + 400_000, level=1,
          actor="nurse.jo", note="on my way; HR 150"),
    event(AlertState.SNOOZED, Action.SNOOZED, 3, OPENED_MS + 500_000, level=1, actor="nurse.jo",
          due_ms=OPENED_MS + 1_400_000),
    event(AlertState.RESOLVED, Action.RESOLVED, 4, OPENED_MS + 900_000, level=1,
          actor="dr.lee", note="fine"),
]


def extension(doc: dict[str, Any], url: str) -> Any:
    values = [{k: v for k, v in x.items() if k != "url"} for x in doc["extension"]
              if x["url"] == url]
    return next(iter(values[0].values())) if values else None


def test_the_flag_follows_the_alert_through_its_life() -> None:
    docs = [flag(e) for e in LIFE]
    assert [d["status"] for d in docs] == ["active"] * 4 + ["inactive"]
    assert [extension(d, STATE_EXTENSION) for d in docs] == [
        "open", "escalated", "acknowledged", "snoozed", "resolved"]
    assert [extension(d, ESCALATION_EXTENSION) for d in docs] == [1, 2, 2, 2, 2]
    assert extension(docs[3], SNOOZED_UNTIL_EXTENSION) == "2026-03-02T12:23:20.000Z"
    assert [extension(d, SNOOZED_UNTIL_EXTENSION) for d in docs].count(None) == 4
    assert [d["period"] for d in docs] == [{"start": "2026-03-02T12:00:00.000Z"}] * 4 + [
        {"start": "2026-03-02T12:00:00.000Z", "end": "2026-03-02T12:15:00.000Z"}]
    for doc in docs:  # one identity, valid FHIR R4 every time
        assert doc["identifier"] == [{"system": ALERT_SYSTEM, "value": ALERT}]
        assert Flag.model_validate(doc).status == doc["status"]


def test_the_flag_names_the_alert_and_the_patient_by_pseudonym_only() -> None:
    doc = flag(LIFE[2])
    assert doc["subject"] == {"type": "Patient",
                              "identifier": {"system": PATIENT_SYSTEM, "value": PATIENT}}
    assert doc["code"]["coding"][0]["code"] == "tachycardia_at_rest"
    assert doc["code"]["text"] == "Tachycardia at rest (critical)"
    assert extension(doc, PRIORITY_EXTENSION)["coding"][0]["code"] == "PH"
    assert [c["coding"][0]["code"] for c in doc["category"]] == ["clinical", "clinical"]
    text = orjson.dumps(doc).decode()
    for secret in ("150", "bpm", "baseline", "nurse.jo", "on my way", "Sam"):
        assert secret not in text, secret  # no vitals, notes or actors in the record


@pytest.mark.parametrize(("severity", "priority"), [
    (Severity.CRITICAL, "PH"), (Severity.WARNING, "PM"), (Severity.INFO, "PL")])
def test_the_severity_is_the_flag_priority(severity: Severity, priority: str) -> None:
    doc = flag(replace(LIFE[0], severity=severity))
    assert extension(doc, PRIORITY_EXTENSION)["coding"][0]["code"] == priority


def test_a_device_alert_is_not_a_clinical_flag() -> None:
    doc = flag(replace(LIFE[0], kind="device_offline", category=Category.DEVICE))
    assert [c["coding"][0] for c in doc["category"]] == [
        {"system": "https://wearmon.dev/fhir/CodeSystem/alert-category", "code": "device"}]
    Flag.model_validate(doc)


def delivery(step: int, recipient: str = "nurse", status: DeliveryStatus = DeliveryStatus.SENT,
             audience: Audience = Audience.CARE_TEAM) -> DeliveryResult:
    return DeliveryResult(idempotency_key(ALERT, recipient, step), ALERT, PATIENT, recipient,
                          audience, step, status, 1, OPENED_MS + step * 1000, 800)


def test_a_care_team_message_sent_is_a_communication_about_the_flag() -> None:
    doc = communication(delivery(2, "oncall"))
    assert Communication.model_validate(doc).status == "completed"
    assert doc["identifier"] == [{"system": MESSAGE_SYSTEM, "value": f"{ALERT}|oncall|2"}]
    assert doc["about"] == [{"type": "Flag",
                             "identifier": {"system": ALERT_SYSTEM, "value": ALERT}}]
    assert doc["subject"]["identifier"] == {"system": PATIENT_SYSTEM, "value": PATIENT}
    assert doc["recipient"][0]["identifier"]["value"] == "oncall"
    assert doc["sent"] == "2026-03-02T12:00:02.000Z"
    assert "payload" not in doc  # the message's text (the explanation, vitals) stays out


def test_only_care_team_messages_about_alerts_that_were_sent_are_exported() -> None:
    assert not_exported(delivery(0)) is None
    assert not_exported(delivery(0, status=DeliveryStatus.FAILED)) == "care_team_failed"
    assert not_exported(delivery(0, status=DeliveryStatus.DUPLICATE)) == "care_team_duplicate"
    assert not_exported(delivery(0, "phone", audience=Audience.PATIENT)) == "patient_sent"
    notice = replace(delivery(0), alert_id="monitoring:Ward 7:1772452800000",
                     key="monitoring:Ward 7:1772452800000|oncall|0")
    assert not_exported(notice) == "monitoring_notice"


def records(items: list[tuple[str, bytes | None]]) -> list[Received]:
    return [Received(topic, 0, offset, OPENED_MS + offset, value)
            for offset, (topic, value) in enumerate(items)]


def as_record(item: AlertEvent | DeliveryResult) -> bytes:
    return orjson.dumps(item.to_json())


def test_a_batch_writes_each_alert_once_in_its_latest_state_and_each_message_once() -> None:
    batch = [("alerts", as_record(e)) for e in (LIFE[1], LIFE[0], LIFE[2])]  # out of order
    batch += [("deliveries", as_record(delivery(0))), ("deliveries", as_record(delivery(0))),
              ("deliveries", as_record(delivery(1, "oncall"))),
              ("deliveries", as_record(delivery(1, "phone", audience=Audience.PATIENT))),
              ("deliveries", as_record(delivery(2, status=DeliveryStatus.FAILED))),
              ("alerts", b"{not json"), ("deliveries", None), ("alerts", b'{"alert_id": 1}')]
    planned = plan(records(batch), KINDS)
    flags = [w for w in planned.writes if w.resource_type == "Flag"]
    assert len(flags) == 1 and extension(flags[0].body, STATE_EXTENSION) == "acknowledged"
    assert flags[0].search == {"identifier": f"{ALERT_SYSTEM}|{ALERT}"}
    messages = [w for w in planned.writes if w.resource_type == "Communication"]
    assert [w.value for w in messages] == [f"{ALERT}|nurse|0", f"{ALERT}|oncall|1"]
    assert messages[0].search == {"identifier": f"{MESSAGE_SYSTEM}|{ALERT}\\|nurse\\|0"}
    assert planned.skipped == {"superseded_event": 2, "patient_sent": 1,
                               "care_team_failed": 1, "unreadable_alerts": 2,
                               "unreadable_deliveries": 1}
    assert planned.dead_letters == []


def test_search_values_are_escaped() -> None:
    assert escaped("a,b$c|d\\e") == "a\\,b\\$c\\|d\\\\e"


def test_a_refused_resource_becomes_a_dead_letter_with_the_servers_diagnostics() -> None:
    [write] = plan(records([("alerts", as_record(LIFE[0]))]), KINDS).writes
    body = orjson.dumps({"resourceType": "OperationOutcome", "issue": [
        {"severity": "information", "code": "informational", "diagnostics": "checked"},
        {"severity": "error", "code": "invalid", "expression": ["Flag.code.coding[0].system"],
         "diagnostics": "Unknown code system\n  https://wearmon.dev/fhir/CodeSystem/alert-kind"}]})
    element, diagnostics = outcome_of(body)
    letter = refused_letter(write, FhirRefused(422, element, diagnostics)).to_record(65_536)
    assert (letter["reason"], letter["field"], letter["patient_id"]) == (
        "fhir_refused", "Flag.code.coding[0].system", PATIENT)
    assert letter["issues"][0]["detail"] == (
        "the FHIR server refused this Flag (HTTP 422): Unknown code system "
        "https://wearmon.dev/fhir/CodeSystem/alert-kind")
    original = orjson.loads(base64.b64decode(letter["original_b64"]))
    assert original == write.body and "150" not in orjson.dumps(original).decode()
    blank = refused_letter(write, FhirRefused(400, *outcome_of(b"<html>no</html>")))
    assert (blank.field, blank.issues[0].detail) == (
        "Flag", "the FHIR server refused this Flag (HTTP 400)")


def test_retry_after_is_read_in_seconds_only() -> None:
    assert retry_after_s("0") == 0.0 and retry_after_s("-3") == 0.0
    assert retry_after_s("soon") is None


def private_key_file(tmp_path: Path, key: Any) -> Path:
    path = tmp_path / "client.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def smart_settings(path: Path) -> FhirSettings:
    return FhirSettings(base_url="https://ehr.example.org/fhir", client_id="wearmon-export",
                        private_key_file=str(path), key_id="key-1",
                        token_url="https://ehr.example.org/auth/token")


@pytest.mark.parametrize(("key", "algorithm"), [
    (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS384"),
    (ec.generate_private_key(ec.SECP384R1()), "ES384"),
    (ec.generate_private_key(ec.SECP256R1()), "ES256")])
def test_the_smart_assertion_is_a_short_lived_jwt_signed_with_the_clients_key(
        tmp_path: Path, key: Any, algorithm: str) -> None:
    config = smart_settings(private_key_file(tmp_path, key))
    smart = asyncio.run(make_backend(config))
    first, second = smart.assertion(1_772_452_800.0), smart.assertion(1_772_452_800.0)
    header = jwt.get_unverified_header(first)
    assert (header["alg"], header["kid"]) == (algorithm, "key-1")
    claims = jwt.decode(first, key.public_key(), algorithms=[algorithm],
                        audience=config.token_url, options={"verify_exp": False})
    assert claims["iss"] == claims["sub"] == "wearmon-export"
    assert claims["exp"] - claims["iat"] == 300  # SMART: at most five minutes
    assert claims["jti"] != jwt.decode(second, options={"verify_signature": False})["jti"]


async def make_backend(config: FhirSettings) -> SmartBackend:
    return SmartBackend(config, None)  # type: ignore[arg-type]  # no request is made


def test_a_key_that_cannot_sign_stops_with_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "not-a-key.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="WEARMON_FHIR_PRIVATE_KEY_FILE"):
        signing_key(str(path))


def test_the_settings_take_one_way_to_authenticate(tmp_path: Path) -> None:
    key = private_key_file(tmp_path, ec.generate_private_key(ec.SECP384R1()))
    base = {"WEARMON_FHIR_BASE_URL": "https://ehr.example.org/fhir/"}
    assert variables_only(base).fhir.base_url == "https://ehr.example.org/fhir"
    assert variables_only({}).fhir.base_url == ""  # off by default
    assert variables_only({**base, "WEARMON_FHIR_TOKEN": ""}).fhir.token is None  # compose's
    smart = {**base, "WEARMON_FHIR_CLIENT_ID": "c", "WEARMON_FHIR_PRIVATE_KEY_FILE": str(key),
             "WEARMON_FHIR_TOKEN_URL": "https://ehr.example.org/token"}
    assert variables_only(smart).fhir.smart
    with pytest.raises(ConfigError, match="WEARMON_FHIR_TOKEN_URL"):
        variables_only({**base, "WEARMON_FHIR_CLIENT_ID": "c"})
    with pytest.raises(ConfigError, match="not both"):
        variables_only({**smart, "WEARMON_FHIR_TOKEN": "t"})
    with pytest.raises(ConfigError, match="no such file"):
        variables_only({**smart, "WEARMON_FHIR_PRIVATE_KEY_FILE": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match="WEARMON_FHIR_BASE_URL"):
        variables_only({"WEARMON_FHIR_BASE_URL": "ehr.example.org"})
    settings = variables_only({**base, "WEARMON_APP_ID": "ward"})
    assert settings.fhir_group == "ward-fhir-export"


def test_retries_back_off_up_to_the_limit_unless_the_server_asks_for_longer() -> None:
    client = FhirClient(FhirSettings(base_url="http://127.0.0.1:9", retry_max_s=5.0),
                        None, NoAuth())  # type: ignore[arg-type]  # no request is made

    def wait_after(attempt: int, error: BaseException) -> float:
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = attempt
        failed: Future[None] = Future()
        failed.set_exception(error)
        state.outcome = failed  # type: ignore[assignment]
        return client.wait_s(state)

    assert [wait_after(n, FhirOutage("away")) for n in (1, 2, 3)] == pytest.approx([0.2, 0.4, 0.8])
    assert wait_after(20, FhirOutage("away")) == 5.0  # capped
    assert wait_after(1, FhirOutage("busy", 429, retry_after_s=12.0)) == 12.0
    assert wait_after(1, FhirOutage("busy", 503, retry_after_s=86_400.0)) == 300.0
