"""The alert policy on timelines: persistence, flapping, gaps, late data, quiet hours, escalation.

Time is always passed in; ``MIN`` is one minute in ms. Uploads arrive once a minute unless a test
says otherwise, and ``now_ms`` equals the data's event time unless the test is about late data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from wearmon.models.base import Finding, Severity, Status
from wearmon.stream.alerts.policy import (
    Action,
    ActionError,
    AlertEvent,
    AlertState,
    Category,
    PatientAlerts,
    StateVersionError,
    act,
    assessment,
    next_due_ms,
    observe,
    tick,
)
from wearmon.stream.core.patients import AlertPolicy, PatientSettings, QuietHours, Recipient

MIN = 60_000
HOUR = 60 * MIN
T0 = int(datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp() * 1000)  # a Monday, noon UTC
PATIENT = "p-0001"


def make_settings(
    care_team: int = 3,
    patient: bool = True,
    quiet: QuietHours | None = None,
    **policy: Any,
) -> PatientSettings:
    return PatientSettings(
        patient_id=PATIENT,
        devices=["watch-1"],
        care_team=[
            Recipient(id=f"nurse{i}", url=SecretStr(f"json://127.0.0.1/n{i}"))
            for i in range(care_team)
        ],
        patient_recipients=[Recipient(id="me", url=SecretStr("json://127.0.0.1/me"))]
        if patient
        else [],
        quiet_hours=quiet,
        policy=AlertPolicy(**policy),
    )


@dataclass
class Q:
    """Duck-typed ``pipeline.Quality``."""

    t_ms: int
    worn_samples: int = 60
    battery_pct: float | None = None


def finding(
    t_ms: int, severity: Severity = Severity.WARNING, kind: str = "tachycardia_at_rest"
) -> Finding:
    return Finding(
        detector="clinical_bands",
        t_ms=t_ms,
        severity=severity,
        score=2.0,
        observed=131.0,
        baseline=120.0,
        explanation="Heart rate 131 bpm at rest is above the limit of 120 bpm.",
        kind=kind,
    )


def of(events: list[AlertEvent], kind: str = "tachycardia_at_rest") -> list[AlertEvent]:
    return [e for e in events if e.kind == kind]


@dataclass
class Sim:
    """Drives one patient's alert state through a timeline and keeps every event."""

    settings: PatientSettings = field(default_factory=make_settings)
    state: PatientAlerts = field(default_factory=lambda: PatientAlerts.new(PATIENT, T0))
    events: list[AlertEvent] = field(default_factory=list)

    def upload(
        self,
        t_ms: int,
        *findings: Finding,
        now_ms: int | None = None,
        worn: bool = True,
        battery: float | None = None,
    ) -> list[AlertEvent]:
        quality = Q(t_ms, 60 if worn else 0, battery)
        out = observe(self.state, self.settings, list(findings), quality, now_ms or t_ms)
        self.events += out
        return out

    def minutes(
        self, start_ms: int, count: int, severity: Severity | None = None, **kw: Any
    ) -> list[AlertEvent]:
        """One upload a minute for ``count`` minutes, each with a finding if ``severity``."""
        out = []
        for i in range(count):
            t = start_ms + i * MIN
            fs = [finding(t, severity, **kw)] if severity else []
            out += self.upload(t, *fs)
        return out

    def tick(self, now_ms: int) -> list[AlertEvent]:
        out = tick(self.state, self.settings, now_ms)
        self.events += out
        return out

    def act(self, alert_id: str, action: Any, now_ms: int, **kw: Any) -> list[AlertEvent]:
        out = act(self.state, self.settings, alert_id, action, "nurse.jo", now_ms, **kw)
        self.events += out
        return out

    def actions(self) -> list[tuple[str, str]]:
        return [(e.kind, str(e.action)) for e in self.events]


# --- persistence, hysteresis, dedup ------------------------------------------------------------


def test_one_finding_is_not_an_alert_three_persistent_minutes_are() -> None:
    sim = Sim()
    assert sim.minutes(T0, 2, Severity.WARNING) == []
    [opened] = sim.minutes(T0 + 2 * MIN, 1, Severity.WARNING)
    assert opened.action is Action.OPENED and opened.state is AlertState.OPEN
    assert opened.severity is Severity.WARNING and opened.category is Category.CLINICAL
    assert opened.notify_levels == (0,) and opened.notify_patient
    assert opened.alert_id == f"{PATIENT}:tachycardia_at_rest:{T0}"
    assert "131 bpm" in opened.note and opened.event_ms == T0 + 2 * MIN
    # the episode continues: still one alert, no more events
    assert sim.minutes(T0 + 3 * MIN, 10, Severity.WARNING) == []


def test_critical_opens_after_two_windows_and_outranks_warning() -> None:
    sim = Sim()
    sim.upload(T0, finding(T0, Severity.CRITICAL))
    [opened] = sim.upload(T0 + MIN, finding(T0 + MIN, Severity.CRITICAL))
    assert opened.severity is Severity.CRITICAL


def test_two_detectors_in_one_window_count_once() -> None:
    sim = Sim()
    for i in range(2):
        t = T0 + i * MIN
        assert sim.upload(t, finding(t), finding(t + 1000)) == []


def test_flapping_every_third_minute_never_opens() -> None:
    sim = Sim()
    for i in range(60):
        t = T0 + i * MIN
        sim.upload(t, *([finding(t)] if i % 3 == 0 else []))
    assert sim.events == []


def test_flapping_every_other_minute_is_one_alert_not_many() -> None:
    sim = Sim()
    for i in range(60):
        t = T0 + i * MIN
        sim.upload(t, *([finding(t)] if i % 2 == 0 else []))
    assert [a for _, a in sim.actions()] == ["opened"]


def test_all_clear_needs_fifteen_minutes_of_normal_worn_data() -> None:
    sim = Sim()
    sim.minutes(T0, 3, Severity.WARNING)
    last_finding = T0 + 2 * MIN
    assert sim.minutes(last_finding + MIN, 14) == []
    [resolved] = sim.upload(last_finding + 15 * MIN)
    assert resolved.action is Action.RESOLVED and resolved.actor == "system"
    assert resolved.notify_levels == (0,) and resolved.notify_patient
    assert "all clear" in resolved.note


def test_a_single_abnormal_minute_restarts_the_all_clear_clock() -> None:
    sim = Sim()
    sim.minutes(T0, 3, Severity.WARNING)
    sim.minutes(T0 + 3 * MIN, 10)
    sim.upload(T0 + 13 * MIN, finding(T0 + 13 * MIN))  # hysteresis: not over yet
    assert sim.minutes(T0 + 14 * MIN, 14) == []
    assert [e.action for e in sim.upload(T0 + 28 * MIN)] == [Action.RESOLVED]


def test_severity_only_goes_up_while_active() -> None:
    sim = Sim()
    sim.minutes(T0, 3, Severity.WARNING)
    [raised] = sim.minutes(T0 + 3 * MIN, 2, Severity.CRITICAL)
    assert raised.action is Action.SEVERITY_RAISED and raised.severity is Severity.CRITICAL
    assert sim.minutes(T0 + 5 * MIN, 5, Severity.WARNING) == []
    assert sim.state.active()[0].severity is Severity.CRITICAL


def test_info_findings_never_alert_by_default() -> None:
    sim = Sim()
    assert sim.minutes(T0, 30, Severity.INFO) == []
    sim = Sim(settings=make_settings(persist_info=5))
    assert [e.severity for e in sim.minutes(T0, 5, Severity.INFO)] == [Severity.INFO]


def test_kinds_are_separate_alerts() -> None:
    sim = Sim()
    for i in range(3):
        t = T0 + i * MIN
        sim.upload(t, finding(t), finding(t, kind="desaturation"))
    assert sorted(k for k, _ in sim.actions()) == ["desaturation", "tachycardia_at_rest"]


# --- gaps and can't assess ------------------------------------------------------------------


def test_missing_data_is_never_an_all_clear() -> None:
    sim = Sim()
    sim.minutes(T0, 3, Severity.WARNING)
    # nothing for 3 hours: the alert stays open; the device is reported offline
    events = sim.tick(T0 + 2 * MIN + HOUR)
    assert [(e.kind, e.action) for e in events if e.action is Action.OPENED] == [
        ("device_offline", Action.OPENED)
    ]
    back = T0 + 3 * HOUR
    events = sim.upload(back)
    assert [(e.kind, e.action) for e in events] == [("device_offline", Action.RESOLVED)]
    assert sim.state.active()[0].kind == "tachycardia_at_rest"
    # the normal streak starts when worn data returns, not before the gap
    assert sim.minutes(back + MIN, 14) == []
    assert [e.kind for e in sim.upload(back + 15 * MIN)] == ["tachycardia_at_rest"]


def test_gap_inside_the_normal_streak_restarts_it() -> None:
    sim = Sim()
    sim.minutes(T0, 3, Severity.WARNING)
    sim.minutes(T0 + 3 * MIN, 10)
    resume = T0 + 12 * MIN + 10 * MIN  # a 10-minute hole (> data_gap_s = 5 min)
    assert sim.minutes(resume, 15) == []
    assert [e.action for e in sim.upload(resume + 15 * MIN)] == [Action.RESOLVED]


def test_not_worn_is_cant_assess_not_normal() -> None:
    sim = Sim()
    sim.minutes(T0, 10)
    assert assessment(sim.state, sim.settings, T0 + 10 * MIN) is Status.OK
    for i in range(10, 200, 5):  # uploads keep coming, but nothing is worn
        sim.upload(T0 + i * MIN, worn=False)
    now = T0 + 200 * MIN
    assert assessment(sim.state, sim.settings, now) is Status.CANT_ASSESS
    [opened] = sim.tick(now)
    assert (opened.kind, opened.category, opened.severity) == (
        "cant_assess",
        Category.ASSESS,
        Severity.INFO,
    )
    # info: held back for policy.info_hold_s, then announced to the care team and the patient
    assert not opened.notify_patient and opened.notify_levels == ()
    assert sim.tick(now + 9 * MIN) == []
    [announced] = sim.tick(now + 10 * MIN)
    assert announced.action is Action.ANNOUNCED and announced.state is AlertState.OPEN
    assert announced.notify_patient and announced.notify_levels == (0,)
    [back] = sim.upload(now + 11 * MIN)
    assert (back.kind, back.action, back.notify_patient) == ("cant_assess", Action.RESOLVED, True)
    assert back.notify_levels == (0,)


def test_not_worn_findings_cannot_resolve_an_alert() -> None:
    sim = Sim()
    sim.minutes(T0, 3, Severity.WARNING)
    for i in range(3, 60):
        sim.upload(T0 + i * MIN, worn=False)
    assert [a for _, a in sim.actions()] == ["opened"]
    assert assessment(sim.state, sim.settings, T0 + 60 * MIN) is Status.ALERT


# --- late data ------------------------------------------------------------------------------


def test_late_findings_open_a_late_alert_the_patient_is_not_told_about() -> None:
    sim = Sim()
    now = T0 + 3 * HOUR
    for i in range(3):
        t = T0 + i * MIN
        sim.upload(t, finding(t), now_ms=now)
    [opened] = sim.events
    assert opened.late and not opened.notify_patient and opened.notify_levels == (0,)
    assert opened.note == "Late data (178 min old): the device synced late"
    assert opened.explanation not in opened.note  # the explanation is said once, elsewhere
    assert opened.at_ms == now and opened.event_ms == T0 + 2 * MIN


def test_out_of_order_findings_do_not_build_persistence() -> None:
    sim = Sim()
    sim.upload(T0 + 10 * MIN, finding(T0 + 10 * MIN))
    for i in range(3):
        t = T0 + i * MIN
        sim.upload(t, finding(t), now_ms=T0 + 11 * MIN)
    assert sim.events == []


def test_offline_then_a_late_batch_recovers_the_device_and_reports_the_episode() -> None:
    sim = Sim()
    sim.minutes(T0, 5)
    sim.tick(T0 + 5 * MIN + HOUR)
    now = T0 + 3 * HOUR
    for i in range(5, 40):  # three hours of buffered data arrive at once
        t = T0 + i * MIN
        fs = [finding(t)] if 10 <= i < 14 else []
        sim.upload(t, *fs, now_ms=now)
    kinds = [(e.kind, e.action) for e in sim.events]
    assert kinds == [
        ("device_offline", Action.OPENED),
        ("device_offline", Action.RESOLVED),
        ("tachycardia_at_rest", Action.OPENED),
        ("tachycardia_at_rest", Action.RESOLVED),
    ]
    opened, resolved = sim.events[2:]
    assert opened.late and not opened.notify_patient and not resolved.notify_patient


# --- escalation, acknowledgement, snooze --------------------------------------------------


def test_escalation_walks_the_care_team_then_repeats_then_stops() -> None:
    sim = Sim(settings=make_settings(care_team=3, max_repeats=2))
    [opened] = sim.minutes(T0, 3, Severity.WARNING)
    t = opened.at_ms
    assert sim.tick(t + 29 * MIN) == []
    steps = []
    for k in range(1, 6):
        steps += of(sim.tick(t + k * 30 * MIN))
    assert [(e.action, e.level, e.notify_levels) for e in steps] == [
        (Action.ESCALATED, 1, (1,)),
        (Action.ESCALATED, 2, (2,)),
        (Action.REPEATED, 2, (2,)),
        (Action.REPEATED, 2, (2,)),
        (Action.EXHAUSTED, 2, ()),
    ]
    assert [e.step for e in [opened, *steps]] == [0, 1, 2, 3, 4, 5]
    assert of(sim.tick(t + 10 * HOUR)) == []


def test_critical_escalates_faster() -> None:
    sim = Sim()
    [opened] = sim.minutes(T0, 2, Severity.CRITICAL)
    assert [e.action for e in sim.tick(opened.at_ms + 5 * MIN)] == [Action.ESCALATED]


def test_a_late_tick_escalates_one_step_not_a_burst() -> None:
    sim = Sim()
    [opened] = sim.minutes(T0, 3, Severity.WARNING)
    [step] = of(sim.tick(opened.at_ms + 5 * HOUR))  # the worker was down for hours
    assert step.level == 1
    assert of(sim.tick(opened.at_ms + 5 * HOUR + 29 * MIN)) == []


def test_ack_stops_escalation_and_tells_those_already_paged() -> None:
    sim = Sim()
    [opened] = sim.minutes(T0, 3, Severity.WARNING)
    sim.tick(opened.at_ms + 30 * MIN)
    [ack] = sim.act(opened.alert_id, "ack", opened.at_ms + 31 * MIN, note="calling patient")
    assert ack.state is AlertState.ACKNOWLEDGED and ack.actor == "nurse.jo"
    assert ack.note == "calling patient" and ack.notify_levels == (0, 1)
    assert of(sim.tick(opened.at_ms + 10 * HOUR)) == []
    assert sim.act(opened.alert_id, "ack", opened.at_ms + 32 * MIN) == []  # idempotent


def test_ack_at_first_level_tells_the_person_paged() -> None:
    """A colleague acknowledges: the nurse paged at step 1 hears that someone has it."""
    sim = Sim()
    [opened] = sim.minutes(T0, 3, Severity.WARNING)
    [ack] = sim.act(opened.alert_id, "ack", opened.at_ms + MIN)
    assert ack.notify_levels == (0,) and not ack.notify_patient
    [snoozed] = sim.act(opened.alert_id, "snooze", opened.at_ms + 2 * MIN,
                        until_ms=opened.at_ms + HOUR)
    assert snoozed.notify_levels == (0,)


def test_everyone_paged_so_far_hears_of_the_acknowledgement_and_nobody_else() -> None:
    sim = Sim()
    [opened] = sim.minutes(T0, 2, Severity.CRITICAL)
    [escalated] = sim.tick(opened.at_ms + 5 * MIN)
    assert escalated.notify_levels == (1,)
    [ack] = sim.act(opened.alert_id, "ack", opened.at_ms + 6 * MIN)
    assert ack.notify_levels == (0, 1)  # not the third person of the team: never paged


def test_a_short_info_alert_tells_nobody_not_even_that_it_resolved() -> None:
    sim = Sim(settings=make_settings(patient=False))
    [low] = sim.upload(T0, battery=10)
    assert (low.action, low.notify_levels, low.notify_patient) == (Action.OPENED, (), False)
    [ok] = sim.upload(T0 + 1000, battery=90)  # recovered a second later
    assert (ok.action, ok.notify_levels, ok.notify_patient) == (Action.RESOLVED, (), False)
    assert sim.tick(T0 + HOUR) == []  # and nothing is announced later


def test_an_info_alert_raised_to_warning_during_its_hold_is_told_at_once() -> None:
    sim = Sim(settings=make_settings(persist_info=1))
    [opened] = sim.minutes(T0, 1, Severity.INFO)
    assert opened.severity is Severity.INFO and opened.notify_levels == ()
    [raised] = of(sim.minutes(T0 + MIN, 3, Severity.WARNING))
    assert raised.action is Action.SEVERITY_RAISED and raised.notify_levels == (0,)
    assert [e.action for e in of(sim.tick(T0 + 20 * MIN))] == []  # no late announcement


def test_snooze_until_then_remind_then_escalate() -> None:
    sim = Sim()
    [opened] = sim.minutes(T0, 3, Severity.WARNING)
    t = opened.at_ms
    until = t + 2 * HOUR
    [snoozed] = sim.act(opened.alert_id, "snooze", t + MIN, until_ms=until, note="reviewing")
    assert snoozed.state is AlertState.SNOOZED
    assert of(sim.tick(until - 1)) == []
    [ended] = of(sim.tick(until))
    assert (ended.action, ended.state, ended.notify_levels) == (
        Action.SNOOZE_ENDED,
        AlertState.OPEN,
        (0,),
    )
    assert [e.action for e in of(sim.tick(until + 30 * MIN))] == [Action.ESCALATED]


def test_worsening_after_ack_pages_again() -> None:
    sim = Sim()
    [opened] = sim.minutes(T0, 3, Severity.WARNING)
    sim.act(opened.alert_id, "ack", T0 + 3 * MIN)
    [raised] = sim.minutes(T0 + 3 * MIN, 2, Severity.CRITICAL)
    assert raised.state is AlertState.OPEN and raised.notify_levels == (0,)
    assert [e.action for e in sim.tick(raised.at_ms + 5 * MIN)] == [Action.ESCALATED]


def test_manual_resolve_with_note_and_patient_hears_it_was_reviewed() -> None:
    sim = Sim()
    [opened] = sim.minutes(T0, 3, Severity.WARNING)
    [done] = sim.act(opened.alert_id, "resolve", T0 + 5 * MIN, note="known arrhythmia")
    assert (done.state, done.actor, done.note, done.notify_patient) == (
        AlertState.RESOLVED,
        "nurse.jo",
        "known arrhythmia",
        True,
    )
    assert of(sim.tick(T0 + 10 * HOUR)) == []


@pytest.mark.parametrize(
    ("action", "kw", "message"),
    [
        ("snooze", {}, "needs 'until'"),
        ("snooze", {"until_ms": T0}, "in the future"),
        ("snooze", {"until_ms": T0 + 3 * MIN + 48 * HOUR}, "limited to 1440 minutes"),
        ("ack", {"note": "x" * 501}, "limited to 500"),
        ("dance", {}, "unknown action"),
    ],
)
def test_invalid_actions_are_rejected(action: str, kw: dict[str, Any], message: str) -> None:
    sim = Sim()
    [opened] = sim.minutes(T0, 3, Severity.WARNING)
    with pytest.raises(ActionError, match=message):
        sim.act(opened.alert_id, action, T0 + 3 * MIN, **kw)


def test_actions_need_a_known_active_alert_and_an_actor() -> None:
    sim = Sim()
    [opened] = sim.minutes(T0, 3, Severity.WARNING)
    with pytest.raises(ActionError, match="no alert"):
        sim.act("p-0001:nope:0", "ack", T0)
    with pytest.raises(ActionError, match="actor"):
        act(sim.state, sim.settings, opened.alert_id, "ack", " ", T0)
    sim.act(opened.alert_id, "resolve", T0 + 4 * MIN)
    with pytest.raises(ActionError, match="already resolved"):
        sim.act(opened.alert_id, "ack", T0 + 5 * MIN)


# --- cooldown and repeat limit --------------------------------------------------------------


def episode(sim: Sim, start_ms: int) -> int:
    """Three abnormal minutes then fifteen normal ones; returns the next free minute."""
    sim.minutes(start_ms, 3, Severity.WARNING)
    sim.minutes(start_ms + 3 * MIN, 15)
    return start_ms + 18 * MIN


def test_recurrence_within_cooldown_reopens_the_same_alert() -> None:
    sim = Sim()
    t = episode(sim, T0)
    t = episode(sim, t + 10 * MIN)
    ids = {e.alert_id for e in sim.events}
    assert len(ids) == 1
    assert [a for _, a in sim.actions()] == ["opened", "resolved", "reopened", "resolved"]
    reopened = sim.events[2]
    assert reopened.step == 2 and reopened.notify_levels == (0,) and reopened.notify_patient


def test_recurrence_after_cooldown_is_a_new_alert() -> None:
    sim = Sim()
    t = episode(sim, T0)
    sim.minutes(t, 61)  # an hour of normal data: the resolved alert ages out
    episode(sim, t + 61 * MIN)
    opened = [e for e in sim.events if e.action is Action.OPENED]
    assert len(opened) == 2 and opened[0].alert_id != opened[1].alert_id
    assert opened[1].step == 0


def test_repeat_limit_silences_a_flapping_warning_but_never_a_critical() -> None:
    sim = Sim(settings=make_settings(max_repeats=2))
    t = T0
    for _ in range(5):
        t = episode(sim, t)
    notified = [e for e in sim.events if e.notify_levels or e.notify_patient]
    assert [e.action for e in notified] == [Action.OPENED, Action.RESOLVED] + [
        Action.REOPENED,
        Action.RESOLVED,
    ] * 2
    assert len(sim.events) == 10  # still recorded: the audit trail is complete
    sim.minutes(t, 2, Severity.CRITICAL)
    assert sim.events[-1].action is Action.REOPENED and sim.events[-1].notify_levels == (0,)


# --- quiet hours ----------------------------------------------------------------------------

QUIET = QuietHours(start=time(22), end=time(7), tz="Europe/London")
NIGHT = int(datetime(2026, 3, 2, 23, 0, tzinfo=UTC).timestamp() * 1000)
MORNING = int(datetime(2026, 3, 3, 7, 0, tzinfo=UTC).timestamp() * 1000)


def test_quiet_hours_hold_a_warning_for_the_patient_until_morning() -> None:
    sim = Sim(settings=make_settings(quiet=QUIET, ack_timeout_warning_s=12 * 3600))
    sim.state = PatientAlerts.new(PATIENT, NIGHT)
    [opened] = sim.minutes(NIGHT, 3, Severity.WARNING)
    assert opened.notify_levels == (0,) and not opened.notify_patient
    for i in range(3, 60, 5):  # still abnormal through the night
        sim.upload(NIGHT + i * MIN, finding(NIGHT + i * MIN))
    sim.upload(MORNING - 2 * MIN)  # keep the device online
    assert sim.tick(MORNING - 1) == []
    assert next_due_ms(sim.state, sim.settings, MORNING - HOUR) == MORNING
    [notice] = sim.tick(MORNING)
    assert (notice.action, notice.notify_patient, notice.notify_levels) == (
        Action.PATIENT_NOTICE,
        True,
        (),
    )
    assert sim.tick(MORNING + MIN) == []


def test_an_episode_over_before_morning_never_reaches_the_patient() -> None:
    sim = Sim(settings=make_settings(quiet=QUIET))
    sim.state = PatientAlerts.new(PATIENT, NIGHT)
    episode(sim, NIGHT)
    sim.tick(MORNING)
    assert [e.action for e in of(sim.events)] == [Action.OPENED, Action.RESOLVED]
    assert not any(e.notify_patient for e in of(sim.events))


def test_quiet_hours_hold_the_all_clear_too() -> None:
    sim = Sim(settings=make_settings(quiet=QUIET))
    evening = NIGHT - 2 * HOUR  # 21:00, before quiet hours
    sim.state = PatientAlerts.new(PATIENT, evening)
    [opened] = sim.minutes(evening, 56, Severity.WARNING)  # abnormal until 21:55
    assert opened.notify_patient
    sim.minutes(evening + 56 * MIN, 20)  # the all-clear comes at 22:10, in quiet hours
    resolved = [e for e in sim.events if e.action is Action.RESOLVED]
    assert len(resolved) == 1 and not resolved[0].notify_patient
    assert resolved[0].at_ms == evening + 70 * MIN
    [notice] = of(sim.tick(MORNING))
    assert notice.state is AlertState.RESOLVED and notice.notify_patient


def test_critical_ignores_quiet_hours() -> None:
    sim = Sim(settings=make_settings(quiet=QUIET))
    sim.state = PatientAlerts.new(PATIENT, NIGHT)
    [opened] = sim.minutes(NIGHT, 2, Severity.CRITICAL)
    assert opened.notify_patient


def test_patient_min_severity_and_no_patient_recipients() -> None:
    sim = Sim(settings=make_settings().model_copy(update={"patient_min_severity": "critical"}))
    [opened] = sim.minutes(T0, 3, Severity.WARNING)
    assert not opened.notify_patient
    sim = Sim(settings=make_settings(patient=False))
    [opened] = sim.minutes(T0, 2, Severity.CRITICAL)
    assert not opened.notify_patient


# --- device alerts --------------------------------------------------------------------------


def test_device_offline_reminders_are_limited_and_recovery_is_announced() -> None:
    sim = Sim(settings=make_settings(max_repeats=2))
    sim.minutes(T0, 1)
    assert sim.tick(T0 + HOUR - 1) == []
    [offline] = sim.tick(T0 + HOUR)
    assert offline.kind == "device_offline" and offline.severity is Severity.WARNING
    assert offline.notify_levels == (0,) and offline.notify_patient
    reminders = []
    for h in range(2, 30):
        reminders += sim.tick(T0 + h * HOUR)
    assert [e.action for e in reminders] == [Action.REPEATED, Action.REPEATED, Action.EXHAUSTED]
    [back] = sim.upload(T0 + 30 * HOUR)
    assert (back.action, back.note, back.notify_patient) == (
        Action.RESOLVED,
        "data received",
        True,
    )


def test_a_resolved_outage_is_not_alerted_again_until_data_arrives() -> None:
    sim = Sim()
    sim.minutes(T0, 1)
    [offline] = sim.tick(T0 + HOUR)
    sim.act(offline.alert_id, "resolve", T0 + HOUR + MIN, note="patient in hospital")
    assert sim.tick(T0 + 5 * HOUR) == []
    assert next_due_ms(sim.state, sim.settings, T0 + 5 * HOUR) is None
    sim.upload(T0 + 6 * HOUR)
    [again] = sim.tick(T0 + 7 * HOUR)
    assert again.action is Action.OPENED and again.alert_id != offline.alert_id


def test_enrolled_device_that_never_sends_is_offline() -> None:
    sim = Sim()
    assert [e.kind for e in sim.tick(T0 + HOUR)] == ["device_offline"]


def test_battery_low_has_hysteresis_and_goes_to_the_patient() -> None:
    sim = Sim()
    [low] = sim.upload(T0, battery=14)
    assert (low.kind, low.notify_levels, low.notify_patient) == ("battery_low", (), False)
    assert sim.upload(T0 + MIN, battery=12) == []
    [told] = sim.tick(T0 + 10 * MIN)  # still low after the info hold: the patient is told
    assert (told.action, told.notify_levels, told.notify_patient) == (
        Action.ANNOUNCED, (), True)
    assert sim.upload(T0 + 12 * MIN, battery=20) == []  # between 15 and 25: still low
    [ok] = sim.upload(T0 + 13 * MIN, battery=80)
    assert ok.action is Action.RESOLVED and ok.notify_patient and ok.notify_levels == ()
    assert sim.upload(T0 + 14 * MIN, battery=14)[0].action is Action.REOPENED


def test_battery_low_goes_to_the_care_team_when_the_patient_has_no_recipient() -> None:
    sim = Sim(settings=make_settings(patient=False))
    [low] = sim.upload(T0, battery=10)
    assert low.notify_levels == () and not low.notify_patient
    [told] = sim.tick(T0 + 10 * MIN)
    assert told.notify_levels == (0,) and not told.notify_patient
    [ok] = sim.upload(T0 + 11 * MIN, battery=90)
    assert ok.notify_levels == (0,)  # told of the opening, so told of the end


# --- state ----------------------------------------------------------------------------------


def test_state_round_trips_mid_episode_and_continues_identically() -> None:
    plain, restored = Sim(), Sim()
    for sim in (plain, restored):
        sim.minutes(T0, 3, Severity.WARNING)
        sim.upload(T0 + 3 * MIN, battery=10)
    restored.state = PatientAlerts.from_json(restored.state.to_json())
    assert restored.state == plain.state
    for sim in (plain, restored):
        sim.tick(T0 + 40 * MIN)
        sim.minutes(T0 + 41 * MIN, 20)
    assert plain.events == restored.events


def test_state_version_is_checked() -> None:
    doc = PatientAlerts.new(PATIENT, T0).to_json()
    with pytest.raises(StateVersionError):
        PatientAlerts.from_json({**doc, "v": 99})


def test_event_json_round_trip() -> None:
    sim = Sim()
    [opened] = sim.minutes(T0, 3, Severity.WARNING)
    assert AlertEvent.from_json(opened.to_json()) == opened


def test_state_stays_small() -> None:
    sim = Sim()
    t = T0
    for _ in range(50):
        t = episode(sim, t + 2 * HOUR)
    assert len(sim.state.alerts) <= 2 and all(len(w) <= 16 for w in sim.state.windows.values())


def test_next_due_ms() -> None:
    sim = Sim()
    sim.minutes(T0, 1)
    assert next_due_ms(sim.state, sim.settings, T0) == T0 + HOUR  # offline check
    [opened] = sim.minutes(T0 + MIN, 3, Severity.CRITICAL)[-1:]
    assert next_due_ms(sim.state, sim.settings, T0) == opened.at_ms + 5 * MIN


# --- properties -----------------------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("upload"),
            st.integers(1, 20),  # minutes since the previous operation
            st.sampled_from([None, Severity.INFO, Severity.WARNING, Severity.CRITICAL]),
            st.booleans(),  # worn
            st.sampled_from([None, 5.0, 20.0, 90.0]),  # battery
            st.integers(0, 240),  # minutes the data is late
        ),
        st.tuples(st.just("tick"), st.integers(1, 120)),
        st.tuples(st.sampled_from(["ack", "snooze", "resolve"]), st.integers(0, 5), st.integers()),
    ),
    max_size=60,
)


def run_ops(ops: list[Any], care_team: int, quiet: bool, roundtrip: bool) -> list[AlertEvent]:
    cfg = make_settings(care_team=care_team, quiet=QUIET if quiet else None, max_repeats=2)
    sim = Sim(settings=cfg, state=PatientAlerts.new(PATIENT, NIGHT - 3 * HOUR))
    now = NIGHT - 3 * HOUR
    for op in ops:
        if op[0] == "upload":
            _, dt, severity, worn, battery, late = op
            now += dt * MIN
            t = now - late * MIN
            fs = [finding(t, severity)] if severity and worn else []
            sim.upload(t, *fs, now_ms=now, worn=worn, battery=battery)
        elif op[0] == "tick":
            now += op[1] * MIN
            sim.tick(now)
        else:
            active = sim.state.active()
            if active:
                alert = active[op[1] % len(active)]
                until = now + (op[2] % 600 + 1) * MIN
                sim.act(alert.alert_id, op[0], now, until_ms=until)
        if roundtrip:  # through JSON text, as a Faust table stores it
            sim.state = PatientAlerts.from_json(json.loads(json.dumps(sim.state.to_json())))
    return sim.events


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, care_team=st.integers(1, 3), quiet=st.booleans())
def test_lifecycle_invariants(ops: list[Any], care_team: int, quiet: bool) -> None:
    events = run_ops(ops, care_team, quiet, roundtrip=False)
    active: dict[str, str] = {}  # dedup key → alert id
    last_step: dict[str, int] = {}
    acked: set[str] = set()
    level: dict[str, int] = {}
    told_patient: set[str] = set()
    told_team: dict[str, set[int]] = {}  # alert id → care-team levels told in this opening
    for e in events:
        key = f"{e.category}:{e.kind}"
        # never two open alerts with the same dedup key
        if e.action in (Action.OPENED, Action.REOPENED):
            assert key not in active
            active[key] = e.alert_id
            level[e.alert_id] = 0
            told_team[e.alert_id] = set()
        elif e.action is Action.PATIENT_NOTICE and e.state is AlertState.RESOLVED:
            assert active.get(key) != e.alert_id  # a held-back all-clear, after the end
        else:
            assert active.get(key) == e.alert_id
        if e.state is AlertState.RESOLVED and e.action is Action.RESOLVED:
            del active[key]
        # acknowledgements, snoozes and ends go to exactly those told of the alert so far
        if e.action in (Action.ACKNOWLEDGED, Action.SNOOZED, Action.RESOLVED):
            assert set(e.notify_levels) == told_team[e.alert_id], e
        told_team[e.alert_id] |= set(e.notify_levels)
        # steps strictly increase per alert
        assert e.step > last_step.get(e.alert_id, -1)
        last_step[e.alert_id] = e.step
        # acknowledgement stops escalation until something new happens
        if e.action is Action.ACKNOWLEDGED:
            acked.add(e.alert_id)
        elif e.action in (Action.SEVERITY_RAISED, Action.REOPENED, Action.SNOOZE_ENDED):
            acked.discard(e.alert_id)
        elif e.action in (Action.ESCALATED, Action.REPEATED):
            assert e.alert_id not in acked
        # escalation moves strictly up the care-team list within one opening
        if e.action is Action.ESCALATED:
            assert e.level == level[e.alert_id] + 1 < care_team
        level[e.alert_id] = e.level
        assert all(0 <= lv < care_team for lv in e.notify_levels)
        # quiet hours and late data keep non-critical news from the patient
        if e.notify_patient:
            assert not e.late
            if quiet and e.severity is not Severity.CRITICAL:
                assert not QUIET.contains(e.at_ms)
            if e.state is AlertState.RESOLVED:
                assert e.alert_id in told_patient  # no all-clear without an alarm
            told_patient.add(e.alert_id)


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, care_team=st.integers(1, 3), quiet=st.booleans())
def test_restarts_do_not_change_the_outcome(ops: list[Any], care_team: int, quiet: bool) -> None:
    """Saving and restoring the state after every step (a restart) changes nothing."""
    assert run_ops(ops, care_team, quiet, roundtrip=True) == run_ops(
        ops, care_team, quiet, roundtrip=False
    )
