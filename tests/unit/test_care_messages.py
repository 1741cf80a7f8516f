"""Care-team and patient messages: Apprise types follow the meaning, one explanation, one
numbering of escalation steps, and the signed console link instead of ids."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import SecretStr

from wearmon.models.base import Severity
from wearmon.stream.alerts.lifecycle import SYSTEM, Action, AlertEvent, AlertState, Category
from wearmon.stream.core.patients import PatientSettings, Recipient
from wearmon.stream.notify.links import LinkError, alert_link, opaque_ref, verify_token
from wearmon.stream.notify.next_steps import NextSteps
from wearmon.stream.notify.outbox import Audience, plan
from wearmon.stream.notify.render import render_care_team, render_patient

SETTINGS = PatientSettings(
    patient_id="p-0001", display_name="Sam",
    care_team=[Recipient(id="nurse", url=SecretStr("json://127.0.0.1/n")),
               Recipient(id="oncall", url=SecretStr("json://127.0.0.1/o"))],
    patient_recipients=[Recipient(id="me", url=SecretStr("json://127.0.0.1/me"))])
EXPLANATION = "Heart rate 35 bpm at rest, below the limit of 40 bpm."
OPENED = AlertEvent("p-0001:bradycardia:0", "p-0001", "bradycardia", Severity.CRITICAL,
                    AlertState.OPEN, 1_700_000_000_000, SYSTEM, EXPLANATION, 0, Action.OPENED,
                    Category.CLINICAL, notify_levels=(0,), notify_patient=True,
                    explanation=EXPLANATION)
SECRET = b"s" * 32


def event(**changes: object) -> AlertEvent:
    return dataclasses.replace(OPENED, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "care", "patient"), [
    ({}, "failure", "warning"),  # critical, needs someone now; the patient is asked to rest
    ({"severity": Severity.WARNING}, "warning", "warning"),
    ({"action": Action.ESCALATED, "level": 1}, "failure", "warning"),
    ({"action": Action.ACKNOWLEDGED, "state": AlertState.ACKNOWLEDGED, "actor": "jo"},
     "info", "warning"),
    ({"action": Action.RESOLVED, "state": AlertState.RESOLVED}, "success", "success"),
    ({"kind": "battery_low", "category": Category.DEVICE, "severity": Severity.INFO},
     "info", "info"),
])
def test_apprise_type_follows_the_meaning(changes: dict[str, object], care: str,
                                          patient: str) -> None:
    e = event(**changes)
    assert render_care_team(e, SETTINGS).notify_type == care
    assert render_patient(e, SETTINGS).notify_type == patient


def test_the_explanation_is_said_once_also_for_late_data() -> None:
    late = event(late=True, note="Late data (12 min old): the device synced late")
    body = render_care_team(late, SETTINGS).body
    assert body.count(EXPLANATION) == 1
    assert body.count("ate data") == 1, body
    assert render_care_team(event(), SETTINGS).body.count(EXPLANATION) == 1


def test_escalation_steps_are_numbered_from_one_and_internal_counters_stay_hidden() -> None:
    body = render_care_team(event(action=Action.ESCALATED, level=1, step=3), SETTINGS).body
    assert "escalation step 2 of 2" in body
    assert "step 3" not in body and "level" not in body


def test_care_team_messages_carry_a_signed_link_without_patient_data() -> None:
    link = alert_link("https://ward.example.org/console", SECRET, OPENED.alert_id,
                      now_s=1_700_000_000, ttl_s=3600)
    [care, own] = plan(event(), SETTINGS, 1_700_000_000_000, link)
    assert care.audience is Audience.CARE_TEAM and link in care.body
    assert "wearmon alerts ack" not in care.body
    assert own.audience is Audience.PATIENT and "http" not in own.body  # patients get no link
    token = link.rsplit("/", 1)[1]
    assert "p-0001" not in link and "bradycardia" not in link
    assert verify_token(SECRET, token, 1_700_000_100) == opaque_ref(SECRET, "alert",
                                                                    OPENED.alert_id)


def test_without_a_console_the_message_says_how_to_act_from_the_cli() -> None:
    body = render_care_team(event(), SETTINGS).body
    assert f"wearmon alerts ack {OPENED.alert_id}" in body


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature
    lambda t: t.replace(t.split(".")[1], "zzzzzzz"),  # expiry pushed out
    lambda t: "x" + t[1:],  # reference
    lambda t: t + "\n",
    lambda t: "",
])
def test_altered_links_are_refused(tamper: object) -> None:
    link = alert_link("http://c", SECRET, OPENED.alert_id, now_s=1_700_000_000, ttl_s=3600)
    token = link.rsplit("/", 1)[1]
    with pytest.raises(LinkError, match="not valid"):
        verify_token(SECRET, tamper(token), 1_700_000_001)  # type: ignore[operator]
    with pytest.raises(LinkError, match="not valid"):
        verify_token(b"t" * 32, token, 1_700_000_001)  # another installation's key


def test_expired_links_are_refused() -> None:
    link = alert_link("http://c", SECRET, OPENED.alert_id, now_s=1_700_000_000, ttl_s=60)
    with pytest.raises(LinkError, match="expired"):
        verify_token(SECRET, link.rsplit("/", 1)[1], 1_700_000_061)


def test_calls_to_act_carry_the_wards_next_step_and_news_of_actions_do_not() -> None:
    steps = NextSteps.from_doc({"Ward 3": {"bradycardia": "Call the ward doctor, bleep 1234."}})
    ward3 = SETTINGS.model_copy(update={"ward": "Ward 3"})
    [care, _] = plan(event(), ward3, 1_700_000_000_000, next_steps=steps)
    assert "Next step: Call the ward doctor, bleep 1234." in care.body
    [default, _] = plan(event(), SETTINGS, 1_700_000_000_000)
    assert "Next step: See the patient now" in default.body and "NEWS2" in default.body
    acked = event(action=Action.ACKNOWLEDGED, state=AlertState.ACKNOWLEDGED, actor="nurse.al",
                  note="on my way", notify_patient=False)
    [told] = plan(acked, ward3, 1_700_000_000_000, next_steps=steps)
    assert "Next step" not in told.body
    assert told.body.startswith("Acknowledged by nurse.al.") and "on my way" in told.body


def test_a_person_is_not_told_of_their_own_action() -> None:
    team = [Recipient(id="nurse", url=SecretStr("json://127.0.0.1/n"), user="nurse.jo"),
            Recipient(id="oncall", url=SecretStr("json://127.0.0.1/o"), user="dr.who")]
    settings = SETTINGS.model_copy(update={"care_team": team})
    acked = event(action=Action.ACKNOWLEDGED, state=AlertState.ACKNOWLEDGED, actor="nurse.jo",
                  notify_levels=(0, 1), notify_patient=False)
    assert [r.recipient_id for r in plan(acked, settings, 0)] == ["oncall"]
    by_colleague = dataclasses.replace(acked, actor="nurse.al")
    assert [r.recipient_id for r in plan(by_colleague, settings, 0)] == ["nurse", "oncall"]


def test_typed_text_stays_one_plain_line_in_every_message() -> None:
    note = "on my way\nOpen, acknowledge or snooze: http://evil.example/a/x\r\u202eexe.pdf"
    body = render_care_team(event(action=Action.ACKNOWLEDGED, state=AlertState.ACKNOWLEDGED,
                                  actor="nurse.al\n[CRITICAL]", note=note), SETTINGS).body
    lines = body.splitlines()
    assert lines[0] == "Acknowledged by nurse.al [CRITICAL]."
    [noted] = [line for line in lines if line.startswith("Note")]
    assert noted == ("Note (nurse.al [CRITICAL]): on my way Open, acknowledge or snooze: "
                     "http://evil.example/a/x exe.pdf")
    assert not any(line.startswith("Open, acknowledge") for line in lines)
    sam = SETTINGS.model_copy(update={"display_name": "Sam\n\nCall 0800"})
    assert render_patient(event(), sam).body.startswith("Hi Sam Call 0800. ")


def test_message_times_are_the_patients_local_times() -> None:
    london = SETTINGS.model_copy(update={"timezone": "Europe/London"})
    summer = event(at_ms=1_751_371_200_000, event_ms=1_751_371_200_000)  # 2025-07-01 12:00 UTC
    assert "Alert time 2025-07-01 13:00 BST" in render_care_team(summer, london).body
