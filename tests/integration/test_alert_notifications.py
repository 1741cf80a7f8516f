"""End to end: broker → worker → alert policy → outbox → Apprise → real SMTP and HTTP servers.

A patient is enrolled on the patients topic with a care team (an e-mail to the SMTP server, then
a webhook) and a patient recipient (a webhook). Crafted uploads (heart rate 150 at rest) are the
clinical event. Assertions read what the servers received; every wait awaits an arrival queue
(or the deliveries topic) with a timeout, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import aiohttp
import orjson
import pytest
from pydantic import SecretStr

from tests.conftest import influx_query
from tests.integration.conftest import consume, send_messages, settings_of
from tests.integration.test_notify_delivery import Hook, Mail, SmtpServer
from tests.waiting import await_until
from wearmon.stream.config import Settings
from wearmon.stream.core.patients import AlertPolicy, PatientSettings, Recipient
from wearmon.stream.tools.services import free_port, start_influxd
from wearmon.stream.views.patients import publish_patient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "wearmon-test-token"
MIN = 60_000
SLOW_ARRIVAL_S = 120.0  # escalation waits for the ack timeout; a restart adds Faust start-up


def enrol(smtp: SmtpServer, hook: Hook, patient: str, escalate_s: float) -> PatientSettings:
    return PatientSettings(
        patient_id=patient,
        devices=[f"watch-{patient}"],
        display_name="Sam",
        care_team=[
            Recipient(id="nurse", url=SecretStr(smtp.url("nurse@example.org"))),
            Recipient(id="oncall", url=SecretStr(hook.url("oncall"))),
        ],
        patient_recipients=[Recipient(id="sam-phone", url=SecretStr(hook.url("patient")))],
        policy=AlertPolicy(
            ack_timeout_critical_s=escalate_s,
            ack_timeout_warning_s=escalate_s,
            all_clear_after_s=120,
        ),
    )


def uploads(patient: str, start_ms: int, minutes: int, hr: float, tag: str
            ) -> list[tuple[bytes | None, bytes]]:
    """One upload per minute, a sample every 10 s, at rest (no steps)."""
    out: list[tuple[bytes | None, bytes]] = []
    for m in range(minutes):
        t0 = start_ms + m * MIN
        samples = [{"t_ms": t0 + k * 10_000, "hr_bpm": hr, "steps": 0} for k in range(6)]
        doc = {
            "schema_version": 1,
            "upload_id": f"{tag}-{m}",
            "device_id": f"watch-{patient}",
            "patient_id": patient,
            "uploaded_at_ms": t0 + 50_000,
            "samples": samples,
        }
        out.append((patient.encode(), orjson.dumps(doc)))
    return out


async def api(worker_port: int, method: str, path: str, token: str | None = TOKEN,
              body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.request(
        method, f"http://127.0.0.1:{worker_port}{path}", json=body, headers=headers
    ) as resp:
        return resp.status, dict(await resp.json())


async def listed_alert(worker_port: int, ready: Any = lambda alert: True,
                       timeout_s: float = 15.0, patient: str | None = None) -> dict[str, Any]:
    """The one alert the worker's API lists (of ``patient``, if given), once ``ready(alert)``:
    the API's view follows the alerts topic, which can trail a message that the same event
    caused by a fetch or two."""

    async def listed() -> list[dict[str, Any]]:
        status, doc = await api(worker_port, "GET", "/alerts")
        assert status == 200, doc
        return [a for a in doc["alerts"] if patient in (None, a["patient"])]

    [alert] = await await_until(
        listed, "one listed alert" + (f" of {patient}" if patient else "") + " that is ready",
        timeout_s, until=lambda alerts: len(alerts) == 1 and ready(alerts[0]), interval_s=0.1)
    return dict(alert)


async def next_post(hook: Hook, timeout_s: float = 30.0) -> tuple[str, dict[str, Any]]:
    path, _, payload = await asyncio.wait_for(hook.arrivals.get(), timeout_s)
    return path, payload


async def next_mail(smtp: SmtpServer, timeout_s: float = 30.0) -> Mail:
    return await asyncio.wait_for(smtp.inbox.get(), timeout_s)


async def deliveries(settings: Settings, sent: int, timeout_s: float = 60.0
                     ) -> list[dict[str, Any]]:
    """The delivery results on the topic, read until ``sent`` of them say "sent"."""

    def sent_count(records: list[dict[str, Any]]) -> int:
        return sum(r["status"] == "sent" for r in records)

    records = await consume(settings, settings.topics.deliveries, sent, timeout_s,
                            until=lambda records: sent_count(records) >= sent)
    assert sent_count(records) >= sent, records
    return records


def no_vitals(patient: str) -> re.Pattern[str]:
    return re.compile(rf"\d|{patient}|heart|bpm|tachy|pulse|%", re.IGNORECASE)


async def open_episode(smtp: SmtpServer, hook: Hook, worker: Any, patient: str,
                       escalate_s: float) -> tuple[Settings, int]:
    """Enrol, inject the event, start the worker; the first two messages have arrived."""
    settings = settings_of(worker)
    await publish_patient(settings, patient, enrol(smtp, hook, patient, escalate_s).to_json())
    t0 = int(time.time() * 1000) - 10 * MIN
    await send_messages(settings, uploads(patient, t0, 3, 150.0, "episode"))
    await asyncio.to_thread(worker.start)

    nurse = await next_mail(smtp, SLOW_ARRIVAL_S)  # the worker starts up first
    assert nurse.to == ["nurse@example.org"]
    assert nurse.subject.startswith(
        f"[CRITICAL] Tachycardia at rest · patient {patient} · new alert"), nurse.subject
    assert "150" in nurse.text and "wearmon alerts ack" in nurse.text  # the explanation
    path, phone = await next_post(hook)
    assert path == "/patient" and phone["type"] == "warning"  # calm: amber, never red
    assert phone["message"].startswith("Hi Sam. Your care team has been alerted")
    assert not no_vitals(patient).search(phone["title"] + phone["message"]), phone
    return settings, t0


async def test_event_escalates_until_acknowledged_then_all_clear(
    smtp: SmtpServer, hook: Hook, make_worker: Any
) -> None:
    patient = "p-7101"
    worker = make_worker(WEARMON_API_TOKEN=TOKEN, WEARMON_ALERT_TICK_S="1")
    settings, t0 = await open_episode(smtp, hook, worker, patient, escalate_s=8)

    # nobody acknowledged: the second person on the list, with the explanation
    path, oncall = await next_post(hook, SLOW_ARRIVAL_S)
    assert path == "/oncall" and "escalated to you" in oncall["title"], oncall
    assert "150" in oncall["message"]

    # the API refuses requests without the token, and lists the open alert with it
    assert (await api(worker.web_port, "GET", "/alerts", token=None))[0] == 401
    assert (await api(worker.web_port, "GET", "/alerts", token="wrong"))[0] == 401
    alert = await listed_alert(worker.web_port, lambda a: a["state"] == "escalated")
    assert (alert["patient"], alert["state"], alert["level"]) == (patient, "escalated", 1)
    status, doc = await api(worker.web_port, "POST", f"/alerts/{alert['alert_id']}/ack",
                            body={"note": "no actor"})
    assert status == 400

    # acknowledged through the API: both people paged so far hear it; no further escalation
    status, doc = await api(worker.web_port, "POST", f"/alerts/{alert['alert_id']}/ack",
                            body={"actor": "nurse.jo", "note": "on my way"})
    assert status == 200, doc
    assert [e["action"] for e in doc["events"]] == ["acknowledged"]
    ack_mail = await next_mail(smtp)
    assert "acknowledged" in ack_mail.subject and "Note (nurse.jo): on my way" in ack_mail.text
    path, oncall = await next_post(hook)
    assert path == "/oncall" and "acknowledged" in oncall["title"]
    status, doc = await api(worker.web_port, "GET", "/alerts")
    [alert] = doc["alerts"]
    assert alert["state"] == "acknowledged" and alert["due_ms"] is None  # nothing scheduled

    # recovery: normal worn data after the episode brings the all-clear to everyone involved
    await send_messages(settings, uploads(patient, t0 + 3 * MIN, 4, 70.0, "recovery"))
    resolved = await next_mail(smtp, SLOW_ARRIVAL_S)
    assert "resolved" in resolved.subject
    posts = sorted([await next_post(hook), await next_post(hook)], key=lambda p: p[0])
    assert [p[0] for p in posts] == ["/oncall", "/patient"]
    assert "resolved" in posts[0][1]["title"]
    assert posts[1][1]["title"] == "All clear" and posts[1][1]["type"] == "success"
    assert not no_vitals(patient).search(posts[1][1]["message"])

    # exactly these eight messages, each recorded once as sent (topic and InfluxDB)
    records = await deliveries(settings, 8)
    sent = [r["key"] for r in records if r["status"] == "sent"]
    assert len(sent) == len(set(sent)) == 8, records
    assert smtp.inbox.empty() and hook.arrivals.empty()


@pytest.mark.fault
async def test_worker_killed_during_escalation_sends_each_step_once(
    smtp: SmtpServer, hook: Hook, make_worker: Any
) -> None:
    patient = "p-7102"
    worker = make_worker(WEARMON_API_TOKEN=TOKEN, WEARMON_ALERT_TICK_S="1")
    settings, _ = await open_episode(smtp, hook, worker, patient, escalate_s=20)
    await deliveries(settings, 2)  # both results recorded: the sent marks are durable
    await asyncio.to_thread(worker.stop, True)  # SIGKILL while the escalation is pending

    restarted = make_worker(**worker.same_settings())
    await asyncio.to_thread(restarted.start)

    # the next arrival is the escalation: the opening messages were not sent again
    path, oncall = await next_post(hook, SLOW_ARRIVAL_S)
    assert path == "/oncall" and "escalated to you" in oncall["title"], oncall
    alert = await listed_alert(restarted.web_port)
    status, doc = await api(restarted.web_port, "POST", f"/alerts/{alert['alert_id']}/ack",
                            body={"actor": "nurse.jo"})
    assert status == 200, doc
    assert "acknowledged" in (await next_mail(smtp)).subject  # the nurse's next mail
    path, oncall = await next_post(hook)
    assert path == "/oncall" and "acknowledged" in oncall["title"]

    records = await deliveries(settings, 5)
    sent = [r["key"] for r in records if r["status"] == "sent"]
    assert len(sent) == len(set(sent)) == 5, records
    assert smtp.inbox.empty() and hook.arrivals.empty()


def test_patients_cli_enrols_shows_lists_and_removes(services: Any, tmp_path: Any) -> None:
    from click.testing import CliRunner

    from wearmon.stream.cli import main

    env = {"WEARMON_BROKER": services.broker_url, "WEARMON_PARTITIONS": "2",
           "WEARMON_TOPIC_PATIENTS": f"patients-cli-{free_port()}"}
    url = "mailto://u:secret@127.0.0.1:2525?from=w@example.org&to=n@example.org"
    doc = {"patient_id": "p-7201", "devices": ["w-7201"],
           "care_team": [{"id": "nurse", "url": url}]}
    path = tmp_path / "p.json"
    path.write_text(orjson.dumps(doc).decode())
    runner = CliRunner()
    assert runner.invoke(main, ["patients", "set", "--file", str(path)], env=env).output \
        == "enrolled p-7201\n"
    clash = tmp_path / "clash.json"
    clash.write_text(orjson.dumps({**doc, "patient_id": "p-7202"}).decode())
    result = runner.invoke(main, ["patients", "set", "--file", str(clash)], env=env)
    assert result.exit_code == 1 and "devices: ['w-7201'] already enrolled" in result.output
    shown = runner.invoke(main, ["patients", "show", "p-7201"], env=env).output
    assert '"patient_id": "p-7201"' in shown and "secret" not in shown  # URLs are masked
    assert runner.invoke(main, ["patients", "list"], env=env).output.startswith("p-7201\t")
    assert runner.invoke(main, ["patients", "remove", "p-7201"], env=env).output \
        == "removed p-7201\n"
    assert runner.invoke(main, ["patients", "list"], env=env).output == ""


async def points(influx_url: str, db: str, query: str, at_least: int,
                 timeout_s: float = 90.0) -> list[list[object]]:
    """Await ``at_least`` rows of an InfluxQL query (the history agents write them)."""

    def rows() -> list[list[object]]:
        try:
            series = influx_query(influx_url, db, query)
        except (OSError, AssertionError):  # InfluxDB starting, the database not yet created
            series = []
        return [row for s in series for row in s["values"]]  # type: ignore[union-attr]

    return await await_until(lambda: asyncio.to_thread(rows), f"{at_least} rows of {query}",
                             timeout_s, until=lambda found: len(found) >= at_least)


@pytest.mark.fault
async def test_escalation_and_acknowledgement_go_on_while_influxdb_is_down(
    smtp: SmtpServer, hook: Hook, make_worker: Any
) -> None:
    """Paging never waits for InfluxDB: with it gone while telemetry keeps coming (the sink
    waits for InfluxDB), the telemetry's anomalies are published, the escalation and the
    acknowledgement still reach people; once it is back, the alert history written meanwhile
    and the telemetry are all there."""
    patient, other = "p-7103", "p-7104"
    influx = await asyncio.to_thread(start_influxd)
    port = int(influx.url.rsplit(":", 1)[1])
    worker = make_worker(WEARMON_API_TOKEN=TOKEN, WEARMON_ALERT_TICK_S="1",
                         WEARMON_INFLUX_URL=influx.url)
    db = worker.env["WEARMON_INFLUX_DB"]
    try:
        # the escalation is due well after the telemetry below has reached the worker
        settings, _ = await open_episode(smtp, hook, worker, patient, escalate_s=20)
        await points(influx.url, db, "SELECT \"code\" FROM alert WHERE \"action\" = 'opened'", 1)
    finally:
        await asyncio.to_thread(influx.stop)  # gone, with the alert open and unacknowledged
    await send_messages(settings, uploads(other, int(time.time() * 1000) - 5 * MIN, 3, 25.0,
                                          "during-outage"))
    anomalies = await consume(settings, settings.topics.anomalies, 1,
                              keep=lambda record: record["patient_id"] == other)
    assert {a["kind"] for a in anomalies} == {"bradycardia"}, anomalies  # not held up

    path, oncall = await next_post(hook, SLOW_ARRIVAL_S)
    assert path == "/oncall" and "escalated to you" in oncall["title"], oncall
    alert = await listed_alert(worker.web_port, patient=patient)  # the other's is open too
    status, doc = await api(worker.web_port, "POST", f"/alerts/{alert['alert_id']}/ack",
                            body={"actor": "nurse.jo", "note": "on my way"})
    assert status == 200, doc
    assert "acknowledged" in (await next_mail(smtp)).subject
    path, oncall = await next_post(hook)
    assert path == "/oncall" and "acknowledged" in oncall["title"]
    # the sink waits (its first write fails after a batch window of its own, which can end
    # after the acknowledgement has already gone out)
    await asyncio.to_thread(worker.wait_logged, "InfluxDB unreachable", 30.0, True)

    influx = await asyncio.to_thread(start_influxd, 60.0, port)  # back, empty: all from retries
    try:
        # the opening may be written first (the sink retries in order): await the two made later
        actions = await points(influx.url, db, "SELECT \"action\", \"code\" FROM alert "
                               "WHERE \"action\" != 'opened'", 2)
        assert {row[1] for row in actions} == {"escalated", "acknowledged"}, actions
        audit = await points(influx.url, db, "SELECT \"actor\", \"note\" FROM alert_audit", 1)
        assert audit[0][1:] == ["nurse.jo", "on my way"], audit
        sent = await points(influx.url, db,
                            "SELECT \"alert_id\" FROM notification WHERE \"status\" = 'sent'", 3)
        assert len(sent) >= 3, sent  # the escalation page and the two acknowledgement messages
        vitals = await points(influx.url, db,
                              f"SELECT hr_bpm FROM vitals WHERE patient = '{other}'", 18)
        assert len(vitals) == 18, vitals  # the telemetry sent during the outage, all of it
    finally:
        await asyncio.to_thread(influx.stop)
