"""``wearmon fhir-export`` against a real local FHIR server (``fhir_server.FhirServer``: every
resource it receives is validated with ``fhir.resources``; conditional update by identifier) and
a running worker whose alerts are opened by crafted uploads, acknowledged and resolved through
its API:

* each alert is one Flag whose status follows acknowledge and resolve; each care-team message
  sent is one Communication (patient messages are not exported); SMART backend-services tokens,
  renewed after a 401; an exporter killed and replaced by one that replays everything from the
  start creates nothing new;
* an unreachable server is waited out (``/ready`` says why) while paging goes on, then
  everything arrives;
* a resource the server refuses is dead-lettered (``fhir_refused``) and the rest goes on;
* refused credentials stop the exporter at start-up with one line.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from tests.conftest import REPO, Services, Worker, group_backlog, new_worker
from tests.integration.conftest import consume, send_messages, settings_of
from tests.integration.fhir_server import FhirServer
from tests.integration.receivers import Inbox, WebhookServer
from tests.integration.test_alert_notifications import TOKEN, api, listed_alert, uploads
from tests.waiting import await_until, wait_until
from wearmon.stream.config import Settings
from wearmon.stream.core.patients import AlertPolicy, PatientSettings, Recipient
from wearmon.stream.export.resources import STATE_EXTENSION
from wearmon.stream.tools.services import free_port
from wearmon.stream.views.patients import publish_patient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MIN = 60_000
ARRIVAL_S = 120.0  # the first alert waits for the worker's start-up
CLIENT_ID = "wearmon-export"


@dataclass
class Ward:
    """One running worker (no sink: InfluxDB plays no part) and the care team's webhooks."""

    worker: Worker
    settings: Settings
    inbox: Inbox
    receiver: WebhookServer


@pytest.fixture(scope="module")
def ward(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ward]:
    worker = new_worker(services, tmp_path_factory.mktemp("fhir"), WEARMON_API_TOKEN=TOKEN)
    worker.sink = False
    inbox = Inbox()
    receiver = WebhookServer(inbox)
    receiver.start()
    worker.start()
    try:
        yield Ward(worker, settings_of(worker), inbox, receiver)
    finally:
        worker.stop()
        receiver.stop()


@dataclass
class Exporter:
    """A real ``wearmon fhir-export`` process."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return int(self.env["WEARMON_FHIR_PORT"])

    @property
    def group(self) -> str:
        return self.env["WEARMON_FHIR_GROUP"]

    def start(self) -> Exporter:
        self.proc = subprocess.Popen([sys.executable, "-m", "wearmon", "fhir-export"],
                                     env=self.env, cwd=REPO, stdout=self.log_path.open("ab"),
                                     stderr=subprocess.STDOUT)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(timeout=30)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def ready(self) -> tuple[int, dict[str, Any]] | None:
        """``GET /ready`` (None until it answers); fails at once if the process has exited."""
        assert self.proc is not None and self.proc.poll() is None, self.log_tail()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ready", timeout=5) as r:
                return r.status, orjson.loads(r.read())
        except urllib.error.HTTPError as error:
            return error.code, orjson.loads(error.read())
        except OSError:
            return None


def assert_private(made: Exporter, *secrets: str) -> None:
    """The exporter's log names no patient, alert, token or identifier URL."""
    log = made.log_path.read_text(errors="replace")
    for secret in (*secrets, "p-81", "identifier=", "Bearer"):
        assert secret not in log, (secret, log[-2000:])


def exporter(ward: Ward, server: FhirServer, tmp_path: Path, **overrides: str) -> Exporter:
    """An exporter of the ward's topics in a consumer group of its own (it reads from the
    start), retrying at least every second."""
    env = {**ward.worker.env, "WEARMON_FHIR_BASE_URL": server.base_url,
           "WEARMON_FHIR_PORT": str(free_port()), "WEARMON_FHIR_RETRY_MAX_S": "1",
           "WEARMON_FHIR_GROUP": f"fhir-{uuid.uuid4().hex[:8]}", **overrides}
    return Exporter(env, tmp_path / f"exporter-{env['WEARMON_FHIR_GROUP']}.log")


def started(made: Exporter) -> Exporter:
    made.start()
    wait_until(made.ready, "the exporter's /ready", 60, until=lambda r: r is not None
               and r[0] == 200, detail=made.log_tail)
    return made


async def open_alert(ward: Ward, patient: str) -> str:
    """Enrol the patient (a nurse, an on-call, the patient's phone), send three minutes of heart
    rate 150 at rest: the alert opens and the nurse is paged. Returns the alert id."""
    hook = ward.receiver
    settings = PatientSettings(
        patient_id=patient, devices=[f"watch-{patient}"], display_name="Sam",
        care_team=[Recipient(id="nurse", url=SecretStr(hook.url(f"nurse-{patient}"))),
                   Recipient(id="oncall", url=SecretStr(hook.url(f"oncall-{patient}")))],
        patient_recipients=[Recipient(id="phone", url=SecretStr(hook.url(f"phone-{patient}")))],
        policy=AlertPolicy(ack_timeout_critical_s=3600, ack_timeout_warning_s=3600))
    await publish_patient(ward.settings, patient, settings.to_json())
    t0 = int(time.time() * 1000) - 10 * MIN
    await send_messages(ward.settings, uploads(patient, t0, 3, 150.0, f"fhir-{patient}"))
    alert = await listed_alert(ward.worker.web_port, patient=patient, timeout_s=ARRIVAL_S)
    return str(alert["alert_id"])


async def act(ward: Ward, alert_id: str, action: str) -> None:
    status, doc = await api(ward.worker.web_port, "POST", f"/alerts/{alert_id}/{action}",
                            body={"actor": "nurse.jo", "note": "HR 150, seen"})
    assert status == 200, doc


def state(resource: dict[str, Any] | None) -> tuple[str, str] | None:
    """A Flag's (status, Wearmon alert state)."""
    if resource is None:
        return None
    [value] = [x["valueCode"] for x in resource["extension"] if x["url"] == STATE_EXTENSION]
    return resource["status"], value


async def flag_in(server: FhirServer, alert_id: str, wanted: tuple[str, str],
                  made: Exporter, timeout_s: float = 60.0) -> dict[str, Any]:
    found = await await_until(lambda: server.find("Flag", alert_id), f"the Flag {wanted}",
                              timeout_s, until=lambda doc: state(doc) == wanted,
                              detail=made.log_tail)
    return dict(found)


def messages_about(server: FhirServer, alert_id: str) -> list[dict[str, Any]]:
    return [doc for doc in server.resources("Communication")
            if doc["about"][0]["identifier"]["value"] == alert_id]


async def communications(server: FhirServer, alert_id: str, count: int,
                         made: Exporter) -> list[dict[str, Any]]:
    return list(await await_until(lambda: messages_about(server, alert_id),
                                  f"{count} Communications", 60.0,
                                  until=lambda docs: len(docs) >= count, detail=made.log_tail))


def client_key(tmp_path: Path) -> tuple[ec.EllipticCurvePrivateKey, dict[str, str]]:
    """A SMART client's key (P-384: ES384) and the exporter's settings that use it."""
    key = ec.generate_private_key(ec.SECP384R1())
    path = tmp_path / f"client-{uuid.uuid4().hex[:6]}.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return key, {"WEARMON_FHIR_CLIENT_ID": CLIENT_ID, "WEARMON_FHIR_PRIVATE_KEY_FILE": str(path),
                 "WEARMON_FHIR_KEY_ID": "k1"}


def smart_server(tmp_path: Path) -> tuple[FhirServer, dict[str, str]]:
    """A server whose token endpoint knows the client's key, and the exporter's settings."""
    key, env = client_key(tmp_path)
    server = FhirServer(client_id=CLIENT_ID, public_key=key.public_key())
    return server, {**env, "WEARMON_FHIR_TOKEN_URL": server.token_url}


async def test_each_alert_is_one_flag_that_follows_it_and_a_replay_duplicates_nothing(
        ward: Ward, tmp_path: Path) -> None:
    server, smart = smart_server(tmp_path)
    server.start()
    made = started(exporter(ward, server, tmp_path, **smart))
    try:
        alert_id = await open_alert(ward, "p-8101")
        opened = await flag_in(server, alert_id, ("active", "open"), made)
        assert opened["subject"]["identifier"]["value"] == "p-8101"
        await communications(server, alert_id, 1, made)  # the nurse's page

        server.revoke_tokens()  # the next request is answered 401: a new token, then on
        await act(ward, alert_id, "ack")
        await flag_in(server, alert_id, ("active", "acknowledged"), made)
        assert server.tokens_issued >= 2
        await act(ward, alert_id, "resolve")
        resolved = await flag_in(server, alert_id, ("inactive", "resolved"), made)
        assert set(resolved["period"]) == {"start", "end"}
        # opened, acknowledged (by someone else: she is told), resolved: the nurse's messages
        sent = await communications(server, alert_id, 3, made)
        assert sorted(d["recipient"][0]["identifier"]["value"] for d in sent) == ["nurse"] * 3

        flags = [d for d in server.resources("Flag") if d["identifier"][0]["value"] == alert_id]
        assert len(flags) == 1 and server.invalid == []
        text = orjson.dumps(server.resources("Flag") + sent).decode().lower()
        for private in ("bpm", "heart rate", "hr 150", "seen", "sam", "phone", "nurse.jo"):
            assert private not in text, private  # no vitals, notes, names, actors, addresses
        assert "refuses the credentials" in made.log_tail()  # the revoked token, said once
        assert_private(made, alert_id)
        # everything on the topics exported (other alerts' messages too, and any still on the way)
        await await_until(lambda: group_backlog(ward.settings, made.group, [
            ward.settings.topics.alerts, ward.settings.topics.deliveries]),
            "the exporter to commit everything", 90,
            until=lambda left: left == 0, detail=made.log_tail)
    finally:
        made.stop(kill=True)  # killed: a successor replays (here: everything, a new group)

    creates, updates = dict(server.creates), server.updates["Flag"]
    replay = started(exporter(ward, server, tmp_path, **smart))
    try:
        await await_until(lambda: group_backlog(ward.settings, replay.group, [
            ward.settings.topics.alerts, ward.settings.topics.deliveries]),
            "the replaying exporter to commit everything", 90,
            until=lambda left: left == 0, detail=replay.log_tail)
    finally:
        replay.stop()
    assert dict(server.creates) == creates, [  # what the replay created, with what it is about
        (d["identifier"][0]["value"], d["about"][0]["identifier"]["value"], d["sent"])
        for d in server.resources("Communication")]
    assert server.updates["Flag"] > updates
    assert state(server.find("Flag", alert_id)) == ("inactive", "resolved")
    assert len(messages_about(server, alert_id)) == 3 and server.invalid == []
    server.stop()


async def test_an_unreachable_server_is_waited_out_while_paging_goes_on(
        ward: Ward, tmp_path: Path) -> None:
    server = FhirServer(token="the-ehr-token")
    server.start()
    made = started(exporter(ward, server, tmp_path, WEARMON_FHIR_TOKEN="the-ehr-token"))
    try:
        server.stop()  # gone before the alert
        alert_id = await open_alert(ward, "p-8102")
        page = await asyncio.to_thread(ward.inbox.next, ARRIVAL_S)
        while page.channel != "/nurse-p-8102":  # (other tests' late messages are skipped)
            page = await asyncio.to_thread(ward.inbox.next, 30.0)
        assert "new alert" in page.title  # paging went on without the FHIR server
        await act(ward, alert_id, "ack")
        _, doc = await await_until(made.ready, "/ready to say the server is away", 60,
                                   until=lambda r: r is not None and r[0] == 503,
                                   detail=made.log_tail)
        assert any("unreachable" in reason for reason in doc["reasons"]), doc
        assert server.find("Flag", alert_id) is None

        server.start()  # back (the same resources): everything arrives
        await flag_in(server, alert_id, ("active", "acknowledged"), made)
        await communications(server, alert_id, 1, made)
        await await_until(made.ready, "/ready to be 200 again", 60,
                          until=lambda r: r is not None and r[0] == 200, detail=made.log_tail)
        assert server.invalid == [] and server.creates["Flag"] == len(server.resources("Flag"))
        assert_private(made, alert_id, "the-ehr-token")
    finally:
        made.stop()
        server.stop()


async def test_a_refused_resource_is_dead_lettered_and_the_rest_goes_on(
        ward: Ward, tmp_path: Path) -> None:
    server = FhirServer()
    server.refuse = lambda kind, doc: ("this server takes no Flag of this patient"
                                       if kind == "Flag" and doc["subject"]["identifier"]["value"]
                                       == "p-8103" else None)
    server.start()
    made = started(exporter(ward, server, tmp_path))
    try:
        refused_id = await open_alert(ward, "p-8103")
        taken_id = await open_alert(ward, "p-8104")
        await flag_in(server, taken_id, ("active", "open"), made)
        await communications(server, refused_id, 1, made)  # its messages still go
        await communications(server, taken_id, 1, made)
        letters = await consume(
            ward.settings, ward.settings.topics.rejected, 1,
            keep=lambda r: r["reason"] == "fhir_refused" and r["patient_id"] == "p-8103")
        assert letters, "no fhir_refused dead letter"
        letter = letters[0]
        assert letter["field"] == "Flag.subject"
        assert letter["issues"][0]["detail"] == (  # type: ignore[index]
            "the FHIR server refused this Flag (HTTP 422): this server takes no Flag of this "
            "patient")
        assert server.find("Flag", refused_id) is None and server.refused
        assert made.ready() == (200, {"ready": True, "exporter": made.ready()[1]["exporter"],
                                      "reasons": []})  # a refusal is no outage
        assert server.invalid == [] and "the FHIR server refused 1 of" in made.log_tail()
        assert_private(made, refused_id, "this patient")
    finally:
        made.stop()
        server.stop()


def test_refused_credentials_stop_the_exporter_at_start_with_one_line(
        ward: Ward, tmp_path: Path) -> None:
    bearer = FhirServer(token="the-ehr-token")
    smart, _ = smart_server(tmp_path)
    _, other_key = client_key(tmp_path)  # a key the SMART server does not know
    for server, overrides, said in (
            (bearer, {"WEARMON_FHIR_TOKEN": "wrong"}, "refuses the credentials"),
            (smart, {**other_key, "WEARMON_FHIR_TOKEN_URL": smart.token_url},
             "the SMART token endpoint refuses client 'wearmon-export' (invalid_client, "
             "HTTP 401)")):
        server.start()
        try:
            made = exporter(ward, server, tmp_path, **overrides)
            result = subprocess.run([sys.executable, "-m", "wearmon", "fhir-export"],
                                    env=made.env, cwd=REPO, capture_output=True, timeout=60)
        finally:
            server.stop()
        lines = result.stderr.decode().strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr.decode()
        assert said in lines[0] and "wrong" not in lines[0], lines
