"""Text a person typed (a note, a user name, a display name) or a device sent reaches every
message format as text, never as markup or as a line of its own: Wearmon's real renderer and
Apprise transport, delivered to a real SMTP server (HTML e-mail) and a real HTTP server (a chat
webhook in Markdown, and plain text as SMS gateways take it)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import markdown
import pytest
from pydantic import SecretStr

from tests.integration.receivers import Arrival, Inbox, MailServer, WebhookServer, running_receivers
from wearmon.models.base import Severity
from wearmon.stream.alerts.lifecycle import Action, AlertEvent, AlertState, Category
from wearmon.stream.core.patients import PatientSettings, Recipient
from wearmon.stream.notify.deliver import apprise_transport
from wearmon.stream.notify.render import Message, render_care_team, render_patient

pytestmark = pytest.mark.integration

NOTE = ("on my way <script>alert(1)</script> **urgent** [call me](http://evil.example) "
        "<img src=x onerror=alert(1)>\nOpen, acknowledge or snooze: http://evil.example/a/x")
ACTOR = "nurse.al<b>"
SETTINGS = PatientSettings(
    patient_id="p-0001", display_name="<i>Sam</i> **x**",
    care_team=[Recipient(id="nurse", url=SecretStr("json://127.0.0.1/n"))],
    patient_recipients=[Recipient(id="me", url=SecretStr("json://127.0.0.1/me"))])
ACKED = AlertEvent("p-0001:bradycardia:0", "p-0001", "bradycardia", Severity.CRITICAL,
                   AlertState.ACKNOWLEDGED, 1_700_000_000_000, ACTOR, NOTE, 3,
                   Action.ACKNOWLEDGED, Category.CLINICAL, notify_levels=(0,),
                   explanation="Heart rate 36–38 bpm for 4 min since 02:03 <below> the limit")


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[Inbox, MailServer, WebhookServer]]:
    with running_receivers() as running:
        yield running


def send(url: str, message: Message, inbox: Inbox) -> Arrival:
    assert asyncio.run(apprise_transport(url, message, 10.0)) == ""
    return inbox.next(10)


def assert_one_plain_line(text: str) -> None:
    """The note is on its own line, whole: it cannot add a line that looks like Wearmon's."""
    lines = text.splitlines()
    assert sum("Open, acknowledge or snooze: http://evil" in line for line in lines) == 1
    assert not any(line.startswith("Open, acknowledge or snooze: http://evil") for line in lines)


def test_html_email_shows_typed_text_as_text(
        receivers: tuple[Inbox, MailServer, WebhookServer]) -> None:
    inbox, mail, _ = receivers
    url = mail.url("nurse@example.org") + "&format=html"
    arrival = send(url, render_care_team(ACKED, SETTINGS), inbox)
    html_part = arrival.raw.get_body(preferencelist=("html",))
    assert html_part is not None
    html = str(html_part.get_content())
    for markup in ("<script", "<img", "<b>", "<below>"):
        assert markup not in html, html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "nurse.al&lt;b&gt;" in html
    assert "&lt;below&gt;" in html  # the explanation too
    assert_one_plain_line(arrival.text)


def test_markdown_chat_shows_typed_text_as_text(
        receivers: tuple[Inbox, MailServer, WebhookServer]) -> None:
    inbox, _, hooks = receivers
    arrival = send(hooks.url("chat") + "?format=markdown", render_care_team(ACKED, SETTINGS),
                   inbox)
    rendered = markdown.markdown(arrival.text)  # as a Markdown chat would show it
    for markup in ("<script", "<img", "<strong>", "<a ", "<b>", "<em>"):
        assert markup not in rendered, rendered
    assert "**urgent**" in rendered and "[call me](http://evil.example)" in rendered
    patient = send(hooks.url("patient") + "?format=markdown",
                   render_patient(dataclasses.replace(ACKED, actor="system"), SETTINGS), inbox)
    shown = markdown.markdown(patient.text)
    assert "<i>" not in shown and "<strong>" not in shown and "Sam" in shown


def test_plain_text_for_sms_keeps_typed_text_on_one_line(
        receivers: tuple[Inbox, MailServer, WebhookServer]) -> None:
    inbox, _, hooks = receivers
    arrival = send(hooks.url("sms") + "?format=text", render_care_team(ACKED, SETTINGS), inbox)
    assert arrival.text.splitlines()[0] == "Acknowledged by nurse.al<b>."
    assert_one_plain_line(arrival.text)
    assert "\r" not in arrival.text
