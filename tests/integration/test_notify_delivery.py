"""Delivery through Apprise to a real SMTP server (aiosmtpd) and a real HTTP server (aiohttp).

Assertions read what actually arrived. Nothing waits on a timer: each test awaits the arrival
queues, and "nothing else arrived" is shown by sending a sentinel on the same channel afterwards
and checking that it is the very next arrival.
"""

from __future__ import annotations

import asyncio
import email
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time
from email.message import EmailMessage
from email.policy import default as email_policy
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr

from wearmon.models.base import Finding, Severity
from wearmon.stream.alerts.policy import Action, PatientAlerts, act, observe, tick
from wearmon.stream.core.patients import PatientDirectory, PatientSettings, QuietHours, Recipient
from wearmon.stream.log_privacy import quiet_libraries
from wearmon.stream.notify.deliver import Deliverer, DeliveryStatus, directory_resolver
from wearmon.stream.notify.outbox import Audience, OutboxRecord, idempotency_key, plan
from wearmon.stream.tools.services import free_port

pytestmark = pytest.mark.integration

MIN = 60_000
T0 = int(datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp() * 1000)
ARRIVAL_TIMEOUT_S = 20.0


# --- a real SMTP server -------------------------------------------------------------------


@dataclass
class Mail:
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())


class _MailHandler:
    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Mail]) -> None:
        self.loop, self.queue = loop, queue

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email_policy)
        assert isinstance(message, EmailMessage)
        mail = Mail(to=list(envelope.rcpt_tos), message=message)
        self.loop.call_soon_threadsafe(self.queue.put_nowait, mail)  # the server has its own loop
        return "250 OK"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"wearmon", b"pw")
    return AuthResult(success=ok)


@dataclass
class SmtpServer:
    port: int
    inbox: asyncio.Queue[Mail]

    def url(self, to: str) -> str:
        return (
            f"mailto://wearmon:pw@127.0.0.1:{self.port}"
            f"?from=wearmon@example.org&to={to}&mode=insecure"
        )

    async def next(self) -> Mail:
        return await asyncio.wait_for(self.inbox.get(), ARRIVAL_TIMEOUT_S)


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    inbox: asyncio.Queue[Mail] = asyncio.Queue()
    port = free_port()
    controller = Controller(
        _MailHandler(asyncio.get_running_loop(), inbox),
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,  # a plain local server, like a hospital relay on localhost
    )
    await asyncio.to_thread(controller.start)
    yield SmtpServer(port, inbox)
    await asyncio.to_thread(controller.stop)


# --- a real HTTP server -------------------------------------------------------------------


@dataclass
class Hook:
    port: int = 0
    arrivals: asyncio.Queue[tuple[str, int, dict[str, Any]]] = field(default_factory=asyncio.Queue)
    fail_next: int = 0  # answer this many requests with HTTP 500

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    async def handle(self, request: web.Request) -> web.Response:
        payload = await request.json()
        status = 200
        if self.fail_next > 0:
            self.fail_next -= 1
            status = 500
        await self.arrivals.put((request.path, status, payload))
        return web.Response(status=status)

    async def next(self) -> tuple[str, int, dict[str, Any]]:
        return await asyncio.wait_for(self.arrivals.get(), ARRIVAL_TIMEOUT_S)


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    server = Hook()
    app = web.Application()
    app.router.add_post("/{name}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server.port = int(runner.addresses[0][1])
    yield server
    await runner.cleanup()


# --- the patient and the pipeline around delivery ----------------------------------------


def enrol(smtp: SmtpServer, hook: Hook, **changes: Any) -> PatientSettings:
    base: dict[str, Any] = {
        "patient_id": "p-0042",
        "devices": ["watch-42"],
        "display_name": "Sam",
        "care_team": [
            Recipient(id="nurse", url=SecretStr(smtp.url("nurse@example.org"))),
            Recipient(id="oncall", url=SecretStr(hook.url("oncall"))),
        ],
        "patient_recipients": [
            Recipient(id="sam-mail", url=SecretStr(smtp.url("sam@example.org"))),
            Recipient(id="sam-phone", url=SecretStr(hook.url("patient"))),
        ],
    }
    base.update(changes)
    return PatientSettings(**base)


@dataclass
class Q:
    t_ms: int
    worn_samples: int = 60
    battery_pct: float | None = None


def desaturation(t_ms: int) -> Finding:
    return Finding(
        detector="clinical_bands",
        t_ms=t_ms,
        severity=Severity.CRITICAL,
        score=3.0,
        observed=85.0,
        baseline=90.0,
        explanation="SpO2 85% is below the limit of 90% (NEWS2 SpO2 sub-score 3).",
        kind="desaturation",
    )


class MemorySentStore:
    """The deliverer's ``SentStore`` in a dict (the worker backs it with a Faust table)."""

    def __init__(self) -> None:
        self.sent: dict[str, int] = {}

    def is_sent(self, key: str) -> bool:
        return key in self.sent

    def mark_sent(self, key: str, at_ms: int) -> None:
        self.sent.setdefault(key, at_ms)


def deliverer(settings: PatientSettings, store: MemorySentStore, **kw: Any) -> Deliverer:
    delays: list[float] = kw.pop("delays", [])

    async def record_delay(seconds: float) -> None:
        delays.append(seconds)  # retries need no real waiting in tests

    return Deliverer(
        directory_resolver(PatientDirectory([settings])),
        store,
        timeout_s=15.0,
        sleep=record_delay,
        **kw,
    )


def sentinel(settings: PatientSettings, recipient_id: str, n: int = 0) -> OutboxRecord:
    audience = Audience.PATIENT if recipient_id.startswith("sam") else Audience.CARE_TEAM
    return OutboxRecord(
        key=idempotency_key("sentinel", recipient_id, n),
        alert_id="sentinel",
        patient=settings.patient_id,
        recipient_id=recipient_id,
        audience=audience,
        step=n,
        title=f"sentinel {n}",
        body="sentinel",
        notify_type="info",
        critical=False,
        created_ms=T0,
    )


VITAL_OR_ID = re.compile(r"\d|p-0042|spo2|desaturation|oxygen|heart|bpm|%", re.IGNORECASE)


# --- tests --------------------------------------------------------------------------------


async def test_alert_lifecycle_delivers_the_right_messages_to_the_right_people(
    smtp: SmtpServer, hook: Hook
) -> None:
    settings = enrol(smtp, hook)
    store = MemorySentStore()
    send = deliverer(settings, store)
    state = PatientAlerts.new(settings.patient_id, T0)

    async def deliver(events: list[Any], now_ms: int) -> list[DeliveryStatus]:
        records = [r for e in events for r in plan(e, settings, now_ms)]
        return [r.status for r in await send.deliver_all(records)]

    # two critical minutes open the alert: the first nurse and the patient hear about it
    events = []
    for i in range(2):
        t = T0 + i * MIN
        events += observe(state, settings, [desaturation(t)], Q(t), t)
    [opened] = events
    assert await deliver(events, T0 + MIN) == [DeliveryStatus.SENT] * 3

    nurse_mail, patient_mail = sorted([await smtp.next(), await smtp.next()], key=lambda m: m.to)
    assert nurse_mail.to == ["nurse@example.org"]
    assert nurse_mail.subject.startswith("[CRITICAL] Desaturation · patient p-0042 · new alert")
    assert "SpO2 85% is below the limit of 90%" in nurse_mail.text
    assert f"wearmon alerts ack {opened.alert_id}" in nurse_mail.text

    assert patient_mail.to == ["sam@example.org"]
    path, _, phone = await hook.next()
    assert path == "/patient" and phone["type"] == "warning"  # calm: amber, never red
    for title, text in (
        (patient_mail.subject, patient_mail.text),
        (phone["title"], phone["message"]),
    ):
        assert text.startswith("Hi Sam. Your care team has been alerted")
        assert "call emergency services" in text
        assert not VITAL_OR_ID.search(title + text), title + text

    # not acknowledged within 5 minutes: the next person on the list, exactly once
    escalated = tick(state, settings, T0 + 6 * MIN)
    assert [e.action for e in escalated] == [Action.ESCALATED]
    assert await deliver(escalated, T0 + 6 * MIN) == [DeliveryStatus.SENT]
    path, _, oncall = await hook.next()
    assert path == "/oncall" and "escalated to you" in oncall["title"]
    assert "SpO2 85%" in oncall["message"]  # the escalation carries the explanation too

    # acknowledged: both people paged so far are told, and escalation stops
    acked = act(state, settings, opened.alert_id, "ack", "nurse.jo", T0 + 7 * MIN, "on my way")
    assert await deliver(acked, T0 + 7 * MIN) == [DeliveryStatus.SENT] * 2
    ack_mail = await smtp.next()
    assert "acknowledged" in ack_mail.subject and "Note (nurse.jo): on my way" in ack_mail.text
    path, _, _ = await hook.next()
    assert path == "/oncall"
    assert tick(state, settings, T0 + 60 * MIN) == []

    # recovery: fifteen minutes of normal worn data bring the all-clear to everyone involved
    events = []
    for i in range(2, 18):
        t = T0 + i * MIN
        events += observe(state, settings, [], Q(t), t)
    [resolved] = events
    assert resolved.action is Action.RESOLVED
    assert await deliver(events, T0 + 17 * MIN) == [DeliveryStatus.SENT] * 4
    mails = sorted([await smtp.next(), await smtp.next()], key=lambda m: m.to)
    assert "resolved" in mails[0].subject
    assert mails[1].subject == "All clear" and "back to your usual range" in mails[1].text
    posts = sorted([await hook.next(), await hook.next()], key=lambda a: a[0])
    assert [p[0] for p in posts] == ["/oncall", "/patient"]
    assert posts[1][2]["title"] == "All clear" and posts[1][2]["type"] == "success"


async def test_redelivery_never_sends_twice(smtp: SmtpServer, hook: Hook) -> None:
    settings = enrol(smtp, hook)
    store = MemorySentStore()
    state = PatientAlerts.new(settings.patient_id, T0)
    events = []
    for i in range(2):
        t = T0 + i * MIN
        events += observe(state, settings, [desaturation(t)], Q(t), t)
    records = plan(events[0], settings, T0 + MIN)
    assert len({r.key for r in records}) == 3

    first = await deliverer(settings, store).deliver_all(records)
    assert [r.status for r in first] == [DeliveryStatus.SENT] * 3

    # the same records again: sequentially, concurrently, and from a restarted deliverer
    again = await deliverer(settings, store).deliver_all(records)
    one = deliverer(settings, store)
    racing = await asyncio.gather(*(one.deliver(r) for r in records + records))
    assert {r.status for r in again + list(racing)} == {DeliveryStatus.DUPLICATE}

    # a record nobody delivered yet, raced by two callers: exactly one sends it
    fresh = sentinel(settings, "oncall", 1)
    both = await asyncio.gather(one.deliver(fresh), one.deliver(fresh))
    assert sorted(r.status for r in both) == [DeliveryStatus.DUPLICATE, DeliveryStatus.SENT]

    # what arrived: one mail each for the nurse and the patient, one post each, nothing more
    mails = sorted([await smtp.next(), await smtp.next()], key=lambda m: m.to)
    assert [m.to for m in mails] == [["nurse@example.org"], ["sam@example.org"]]
    assert sorted([(await hook.next())[0], (await hook.next())[0]]) == ["/oncall", "/patient"]
    await one.deliver(sentinel(settings, "nurse", 2))
    assert (await smtp.next()).subject == "sentinel 2"
    await one.deliver(sentinel(settings, "oncall", 3))
    assert (await hook.next())[2]["title"] == "sentinel 3"


async def test_retries_with_backoff_until_the_receiver_recovers(
    smtp: SmtpServer, hook: Hook
) -> None:
    settings = enrol(smtp, hook)
    store = MemorySentStore()
    delays: list[float] = []
    send = deliverer(settings, store, delays=delays, max_attempts=4, backoff_s=1.0)
    hook.fail_next = 2
    result = await send.deliver(sentinel(settings, "oncall"))
    assert (result.status, result.attempts, result.error) == (DeliveryStatus.SENT, 3, "")
    assert delays == [1.0, 2.0]
    assert [(await hook.next())[1] for _ in range(3)] == [500, 500, 200]
    assert store.is_sent(result.key)


async def test_a_failed_delivery_is_recorded_and_can_be_retried_later(
    smtp: SmtpServer, hook: Hook
) -> None:
    settings = enrol(smtp, hook)
    store = MemorySentStore()
    send = deliverer(settings, store, max_attempts=2)
    hook.fail_next = 2
    record = sentinel(settings, "oncall")
    failed = await send.deliver(record)
    assert (failed.status, failed.attempts, failed.error) == (DeliveryStatus.FAILED, 2, "FAILURE")
    assert failed.to_json()["status"] == "failed" and not store.is_sent(record.key)
    assert [(await hook.next())[1] for _ in range(2)] == [500, 500]
    retried = await send.deliver(record)  # e.g. the worker offers failed records again later
    assert retried.status is DeliveryStatus.SENT
    assert (await hook.next())[1] == 200


async def test_an_unreachable_mail_server_fails_cleanly(smtp: SmtpServer, hook: Hook) -> None:
    dead = SmtpServer(free_port(), asyncio.Queue())  # nothing listens there
    settings = enrol(
        smtp, hook, care_team=[Recipient(id="nurse", url=SecretStr(dead.url("n@example.org")))]
    )
    result = await deliverer(settings, MemorySentStore(), max_attempts=2).deliver(
        sentinel(settings, "nurse")
    )
    assert result.status is DeliveryStatus.FAILED and result.attempts == 2


async def test_quiet_hours_defer_non_critical_patient_messages(
    smtp: SmtpServer, hook: Hook
) -> None:
    quiet = QuietHours(start=time(22), end=time(7))
    settings = enrol(smtp, hook, quiet_hours=quiet)
    night = int(datetime(2026, 3, 2, 23, 0, tzinfo=UTC).timestamp() * 1000)
    morning = int(datetime(2026, 3, 3, 7, 0, tzinfo=UTC).timestamp() * 1000)
    state = PatientAlerts.new(settings.patient_id, night)
    [low] = observe(state, settings, [], Q(night, battery_pct=9), night)  # battery: patient only
    assert not low.notify_patient  # the policy holds it back already ...
    forced = [
        r
        for r in plan(replace(low, notify_patient=True), settings, night)
        if r.audience == "patient"
    ]
    assert forced and all(r.not_before_ms == morning for r in forced)  # ... and so does the plan

    store = MemorySentStore()
    at_night = deliverer(settings, store, clock_ms=lambda: night)
    assert {r.status for r in await at_night.deliver_all(forced)} == {DeliveryStatus.DEFERRED}
    await at_night.deliver(sentinel(settings, "sam-phone"))
    assert (await hook.next())[2]["title"] == "sentinel 0"  # nothing else reached the patient

    in_the_morning = deliverer(settings, store, clock_ms=lambda: morning)
    assert {r.status for r in await in_the_morning.deliver_all(forced)} == {DeliveryStatus.SENT}
    mail = await smtp.next()
    assert mail.subject == "Battery low" and mail.text.strip() == (
        "Hi Sam. Your device battery is low. Please charge it soon so that monitoring can continue."
    )
    assert (await hook.next())[2]["title"] == "Battery low"


async def test_a_removed_recipient_is_reported_not_sent(smtp: SmtpServer, hook: Hook) -> None:
    settings = enrol(smtp, hook)
    record = sentinel(settings, "former-nurse")
    result = await deliverer(settings, MemorySentStore()).deliver(record)
    assert result.status is DeliveryStatus.NO_RECIPIENT and result.attempts == 0


async def test_no_recipient_address_reaches_the_logs(smtp: SmtpServer,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Apprise logs "Sent Email to <address>" at INFO: Wearmon keeps it out of every log."""
    quiet_libraries()
    caplog.set_level(logging.DEBUG)  # even with everything else at DEBUG
    address = "nurse.jones@example.org"
    settings = PatientSettings(
        patient_id="p-0042", care_team=[Recipient(id="ward", url=smtp.url(address))])
    result = await deliverer(settings, MemorySentStore()).deliver(sentinel(settings, "ward"))
    assert result.status is DeliveryStatus.SENT
    assert address in (await smtp.next()).to  # it was really sent to that address

    def wearmon_side() -> str:  # everything but the test's own mail server (aiosmtpd)
        return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail."))

    assert address not in wearmon_side() and "mailto://" not in wearmon_side()
    logging.getLogger("apprise").warning("Failed to send to %s", smtp.url(address))
    assert address not in wearmon_side() and "<redacted>" in wearmon_side()
