"""Who hears what, end to end (broker → worker → alert policy → outbox → Apprise → a real SMTP
server and a real HTTP server):

* a colleague acknowledges: the nurse paged at step 1 is told who has it; the on-call doctor,
  never paged, hears nothing of it, nor of its end;
* a low battery that recovers a second later pages nobody, and nobody gets a "resolved" for it.

Every wait awaits an arrival queue or a topic with a timeout; silence is checked over a window
after the events that would have caused a message are on the alerts topic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from tests.integration.conftest import consume, send_messages, settings_of
from tests.integration.receivers import Inbox, MailServer, WebhookServer, running_receivers
from tests.integration.test_alert_notifications import TOKEN, api, listed_alert, uploads
from wearmon.stream.core.patients import AlertPolicy, PatientSettings, Recipient
from wearmon.stream.views.patients import publish_patient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MIN = 60_000
START_S = 120.0  # the worker starts up before the first message


@pytest.fixture
def receivers() -> Iterator[tuple[Inbox, MailServer, WebhookServer]]:
    with running_receivers() as running:
        yield running


def team(mail: MailServer, hooks: WebhookServer) -> list[Recipient]:
    return [Recipient(id="nurse", label="Ward 3 nurse", user="nurse.jo",
                      url=SecretStr(mail.url("nurse@example.org"))),
            Recipient(id="oncall", label="On-call doctor", url=SecretStr(hooks.url("oncall")))]


async def test_a_colleagues_acknowledgement_reaches_the_nurse_paged_at_step_1(
        receivers: tuple[Inbox, MailServer, WebhookServer], make_worker: Any) -> None:
    inbox, mail, hooks = receivers
    patient = "p-7301"
    worker = make_worker(WEARMON_API_TOKEN=TOKEN, WEARMON_ALERT_TICK_S="1")
    settings = settings_of(worker)
    await publish_patient(settings, patient, PatientSettings(
        patient_id=patient, devices=[f"watch-{patient}"], care_team=team(mail, hooks),
        policy=AlertPolicy(ack_timeout_critical_s=600, ack_timeout_warning_s=600)).to_json())
    await send_messages(settings, uploads(patient, int(time.time() * 1000) - 10 * MIN, 3, 150.0,
                                          "episode"))
    await asyncio.to_thread(worker.start)
    paged = await asyncio.to_thread(inbox.next, START_S)
    assert paged.channel == "nurse@example.org" and "new alert" in paged.title, paged

    alert = await listed_alert(worker.web_port)
    status, doc = await api(worker.web_port, "POST", f"/alerts/{alert['alert_id']}/ack",
                            token=TOKEN, body={"actor": "nurse.al", "note": "I have him"})
    assert status == 200, doc
    told = await asyncio.to_thread(inbox.next, 30)
    assert told.channel == "nurse@example.org", told
    assert "acknowledged" in told.title and told.text.startswith("Acknowledged by nurse.al.")
    assert "Note (nurse.al): I have him" in told.text

    status, doc = await api(worker.web_port, "POST", f"/alerts/{alert['alert_id']}/resolve",
                            token=TOKEN, body={"actor": "nurse.al", "note": "settled"})
    assert status == 200, doc
    ended = await asyncio.to_thread(inbox.next, 30)
    assert ended.channel == "nurse@example.org" and "resolved" in ended.title, ended
    # the on-call doctor was never paged: no acknowledgement, no resolution for them
    await asyncio.to_thread(inbox.silent_for, 5)
    assert [a.channel for a in inbox.seen] == ["nurse@example.org"] * 3


async def test_a_short_lived_info_alert_pages_nobody_not_even_its_resolution(
        receivers: tuple[Inbox, MailServer, WebhookServer], make_worker: Any) -> None:
    inbox, mail, hooks = receivers
    patient = "p-7302"
    worker = make_worker(WEARMON_API_TOKEN=TOKEN, WEARMON_ALERT_TICK_S="1")
    settings = settings_of(worker)
    await publish_patient(settings, patient, PatientSettings(
        patient_id=patient, devices=[f"watch-{patient}"], care_team=team(mail, hooks)).to_json())
    start_ms = int(time.time() * 1000) - 2 * MIN
    messages = []
    for k, battery in enumerate((40.0, 9.0, 90.0)):  # low, and charged a second later
        t_ms = start_ms + k * 1000
        messages.append((patient.encode(), orjson.dumps({
            "schema_version": 1, "upload_id": f"battery-{k}", "device_id": f"watch-{patient}",
            "patient_id": patient, "uploaded_at_ms": t_ms, "battery_pct": battery,
            "samples": [{"t_ms": t_ms, "hr_bpm": 70.0, "steps": 0}]})))
    await send_messages(settings, messages)
    await asyncio.to_thread(worker.start)

    events = await consume(settings, settings.topics.alerts, 2, timeout_s=START_S,
                           keep=lambda e: e["patient"] == patient and e["kind"] == "battery_low")
    assert [(e["action"], e["notify_levels"], e["notify_patient"]) for e in events] == [
        ("opened", [], False), ("resolved", [], False)], events
    await asyncio.to_thread(inbox.silent_for, 8)  # the outbox and deliverer had their turn
    outbox = await consume(settings, settings.topics.outbox, 1, timeout_s=3,
                           keep=lambda r: r["patient"] == patient)
    assert outbox == [] and inbox.seen == []
