"""One alert's lifecycle: open → (escalated) → acknowledged / snoozed → resolved, as events.

Every transition returns an ``AlertEvent``: the audit trail (who, when, why) and the input of the
notification router. ``step`` counts the events of one alert (strictly increasing, also across a
reopen), so (alert_id, recipient, step) is a unique idempotency key for each message. ``level``
is the position in the care team's escalation list that the alert has reached.

Times: ``at_ms`` is when the decision was made (processing time, passed in by the caller);
``event_ms`` is the event time of the data behind it, when there is one. Pure code: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from wearmon.models.base import Severity
from wearmon.stream.core.patients import PatientSettings
from wearmon.stream.core.records import typed

SYSTEM = "system"
DEVICE_OFFLINE = "device_offline"
BATTERY_LOW = "battery_low"
CANT_ASSESS = "cant_assess"
LATE_DATA = "Late data"  # how the note of an alert opened on late data begins

SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
SEVERITIES = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)


class AlertState(StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


ACTIVE = frozenset(
    {AlertState.OPEN, AlertState.ESCALATED, AlertState.ACKNOWLEDGED, AlertState.SNOOZED}
)


class Action(StrEnum):
    OPENED = "opened"
    ANNOUNCED = "announced"  # an info alert that outlasted policy.info_hold_s: people are told
    REOPENED = "reopened"  # the same episode came back within the cooldown
    SEVERITY_RAISED = "severity_raised"
    ESCALATED = "escalated"  # next care-team recipient: not acknowledged in time
    REPEATED = "repeated"  # reminder to the current recipient (bounded by max_repeats)
    EXHAUSTED = "exhausted"  # nobody left to escalate to and no repeats left (audit only)
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    SNOOZE_ENDED = "snooze_ended"
    PATIENT_NOTICE = "patient_notice"  # a patient message held back by quiet hours
    RESOLVED = "resolved"


class Category(StrEnum):
    CLINICAL = "clinical"
    DEVICE = "device"  # device_offline, battery_low
    ASSESS = "assess"  # cant_assess: not enough worn data; never reported as normal


class Notice(StrEnum):
    """Where the patient's message about this alert stands."""

    NONE = "none"  # nothing to tell the patient
    PENDING = "pending"  # held back by quiet hours (about the opening, or the all-clear)
    SENT = "sent"  # told about the opening; owed an all-clear
    DONE = "done"  # told about the end


class ActionError(ValueError):
    """A care-team action that cannot be applied (unknown alert, already resolved, bad time)."""


def dedup_key(category: Category, kind: str) -> str:
    """One active alert per patient and key: one episode = one alert.

    >>> dedup_key(Category.CLINICAL, "bradycardia")
    'clinical:bradycardia'
    """
    return f"{category}:{kind}"


def flat_json(record: Any) -> dict[str, Any]:
    """A dataclass of plain values as a dict, field by field (``asdict`` would deep-copy every
    value, about ten times slower, for records saved and published all the time)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One transition of one alert; ``notify_*`` say who should hear about it.

    ``note`` says why this transition happened (a finding's explanation on opening, the actor's
    note on an action); ``notify_levels`` are indices into the patient's care-team list.
    """

    alert_id: str
    patient: str
    kind: str
    severity: Severity
    state: AlertState
    at_ms: int
    actor: str
    note: str
    step: int
    action: Action
    category: Category
    level: int = 0
    notify_levels: tuple[int, ...] = ()
    notify_patient: bool = False
    event_ms: int | None = None
    late: bool = False
    explanation: str = ""  # the latest finding's explanation, for the care team only
    opened_ms: int | None = None  # when the alert (this episode) was opened, processing time
    due_ms: int | None = None  # next escalation / reminder / snooze end, if any
    command_id: str = ""  # the care-team command that caused this event (read back by senders)
    ward: str = ""  # the patient's ward from enrolment (set where the events are paged)

    def to_json(self) -> dict[str, Any]:
        doc = flat_json(self)
        doc["notify_levels"] = list(self.notify_levels)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> AlertEvent:
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in doc.items() if k in known}
        data["severity"] = Severity(data["severity"])
        data["state"] = AlertState(data["state"])
        data["action"] = Action(data["action"])
        data["category"] = Category(data["category"])
        data["notify_levels"] = tuple(data.get("notify_levels", ()))
        return typed(cls, data)


@dataclass(slots=True)
class Alert:
    """The current state of one alert (one episode of one dedup key of one patient)."""

    alert_id: str
    patient: str
    category: Category
    kind: str
    severity: Severity
    state: AlertState
    opened_ms: int
    since_ms: int  # event time the episode began
    explanation: str = ""
    step: int = -1
    level: int = 0
    repeats: int = 0
    due_ms: int | None = None  # next time-driven transition (escalation, repeat, snooze end)
    snoozed_until_ms: int | None = None
    acked_by: str | None = None
    last_finding_ms: int | None = None  # event time (clinical)
    resolved_ms: int | None = None
    resolved_event_ms: int | None = None
    notice: Notice = Notice.NONE
    silent: bool = False  # over the repeat limit: recorded, not notified
    late: bool = False
    told: list[int] = field(default_factory=list)  # care-team levels told of it, this episode
    announced: bool = True  # False while an info alert waits out policy.info_hold_s

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.category, self.kind)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def event(
        self,
        action: Action,
        at_ms: int,
        *,
        actor: str = SYSTEM,
        note: str = "",
        levels: tuple[int, ...] = (),
        patient: bool = False,
        event_ms: int | None = None,
    ) -> AlertEvent:
        """Record a transition that has just been applied; the next step number is used."""
        self.step += 1
        silent = self.silent and self.severity is not Severity.CRITICAL
        if not silent and levels:
            self.told = sorted({*self.told, *levels})
        return AlertEvent(
            alert_id=self.alert_id,
            patient=self.patient,
            kind=self.kind,
            severity=self.severity,
            state=self.state,
            at_ms=at_ms,
            actor=actor,
            note=note,
            step=self.step,
            action=action,
            category=self.category,
            level=self.level,
            notify_levels=() if silent else levels,
            notify_patient=patient and not silent,
            event_ms=event_ms,
            late=self.late,
            explanation=self.explanation,
            opened_ms=self.opened_ms,
            due_ms=self.due_ms,
        )

    def ended_within(self, t_ms: int, window_ms: int) -> bool:
        """Resolved no longer than ``window_ms`` before ``t_ms``, on this alert's own clock:
        event time for clinical alerts (when the data says the episode ended), arrival time
        for device and wear alerts (they are about data arriving)."""
        end = self.resolved_event_ms if self.category is Category.CLINICAL else self.resolved_ms
        return end is not None and t_ms - end <= window_ms

    def notified_levels(self) -> tuple[int, ...]:
        """Everyone on the care team who has been told of this alert so far (for the
        acknowledge, snooze and resolve notices): nobody who never heard of it."""
        return tuple(self.told)

    def unacked_state(self) -> AlertState:
        return AlertState.ESCALATED if self.level > 0 else AlertState.OPEN

    # --- care-team actions -------------------------------------------------------------

    def acknowledge(self, actor: str, at_ms: int, note: str) -> list[AlertEvent]:
        self._require_active()
        if self.state is AlertState.ACKNOWLEDGED:
            return []  # idempotent: a second click changes nothing
        self.state = AlertState.ACKNOWLEDGED
        self.acked_by = actor
        self.due_ms = None
        self.snoozed_until_ms = None
        return [self.event(Action.ACKNOWLEDGED, at_ms, actor=actor, note=note,
                           levels=self.notified_levels())]

    def snooze(
        self, actor: str, at_ms: int, until_ms: int, note: str, max_snooze_ms: int
    ) -> list[AlertEvent]:
        self._require_active()
        if until_ms <= at_ms:
            raise ActionError("snooze 'until' must be in the future")
        if until_ms - at_ms > max_snooze_ms:
            raise ActionError(f"snooze is limited to {max_snooze_ms // 60_000} minutes")
        self.state = AlertState.SNOOZED
        self.snoozed_until_ms = until_ms
        self.due_ms = until_ms
        return [self.event(Action.SNOOZED, at_ms, actor=actor, note=note,
                           levels=self.notified_levels())]

    def resolve(self, at_ms: int, event_ms: int, *, actor: str = SYSTEM, note: str = "",
                patient_now: bool = True) -> list[AlertEvent]:
        """Close the alert; ``patient_now`` False holds the patient's all-clear (quiet hours)."""
        self._require_active()
        self.state = AlertState.RESOLVED
        self.due_ms = None
        self.snoozed_until_ms = None
        self.resolved_ms = at_ms
        self.resolved_event_ms = event_ms
        tell_patient = False
        if self.notice in (Notice.SENT, Notice.PENDING):
            owed = self.notice is Notice.SENT
            if owed and patient_now:
                self.notice, tell_patient = Notice.DONE, True
            else:
                self.notice = Notice.PENDING if owed else Notice.NONE
        return [
            self.event(
                Action.RESOLVED,
                at_ms,
                actor=actor,
                note=note,
                levels=self.notified_levels(),
                patient=tell_patient,
                event_ms=event_ms,
            )
        ]

    def _require_active(self) -> None:
        if not self.active:
            raise ActionError(f"alert {self.alert_id} is already resolved")

    # --- persistence -------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return flat_json(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Alert:
        data = dict(doc)
        data["category"] = Category(data["category"])
        data["severity"] = Severity(data["severity"])
        data["state"] = AlertState(data["state"])
        data["notice"] = Notice(data["notice"])
        # saved before levels were tracked: everyone up to its level had been paged
        data["told"] = list(data.get("told", range(int(data["level"]) + 1)))
        return cls(**data)


# --- policy-driven transitions shared by clinical and device alerts ----------------------


def open_or_reopen(
    alerts: dict[str, Alert],
    patient: str,
    settings: PatientSettings,
    category: Category,
    kind: str,
    severity: Severity,
    *,
    since_ms: int,
    now_ms: int,
    clock_ms: int,
    note: str,
    explanation: str,
    event_ms: int | None = None,
    late: bool = False,
) -> list[AlertEvent]:
    """Open an alert for an episode that began at ``since_ms``, or reopen the same alert when it
    ended within the cooldown before ``clock_ms`` (the alert's own clock, see ``ended_within``).

    ``alerts`` is the patient's alerts by dedup key; the caller has checked that none is active.
    """
    key = dedup_key(category, kind)
    alert = alerts.get(key)
    if alert is not None and alert.ended_within(clock_ms, int(settings.policy.cooldown_s * 1000)):
        alert.explanation = explanation
        alert.late = late
        if event_ms is not None:
            alert.last_finding_ms = event_ms
        return reopen(alert, settings, severity, now_ms, note, event_ms)
    alert = alerts[key] = Alert(
        alert_id=f"{patient}:{kind}:{since_ms}",
        patient=patient,
        category=category,
        kind=kind,
        severity=severity,
        state=AlertState.OPEN,
        opened_ms=now_ms,
        since_ms=since_ms,
        explanation=explanation,
        last_finding_ms=event_ms,
        late=late,
    )
    if held(alert, settings, now_ms):
        return [alert.event(Action.OPENED, now_ms, note=note, event_ms=event_ms)]
    alert.due_ms = first_due_ms(alert, settings, now_ms)
    tell = notice_on_open(alert, settings, now_ms)
    return [
        alert.event(
            Action.OPENED, now_ms, note=note, levels=first_levels(alert, settings),
            patient=tell, event_ms=event_ms,
        )
    ]


def held(alert: Alert, settings: PatientSettings, now_ms: int) -> bool:
    """Hold an info alert back for ``policy.info_hold_s``: nobody is told of one that ends
    sooner (a battery reading that recovers at once), then it is announced (``announce``)."""
    hold_s = settings.policy.info_hold_s
    if alert.severity is not Severity.INFO or hold_s <= 0:
        return False
    alert.announced = False
    alert.due_ms = now_ms + int(hold_s * 1000)
    return True


def announce(alert: Alert, settings: PatientSettings, now_ms: int) -> list[AlertEvent]:
    """An info alert outlasted its hold: tell whom an opening tells, then the usual schedule."""
    alert.announced = True
    alert.due_ms = first_due_ms(alert, settings, now_ms)
    tell = notice_on_open(alert, settings, now_ms)
    minutes = round(settings.policy.info_hold_s / 60)
    return [alert.event(Action.ANNOUNCED, now_ms, levels=first_levels(alert, settings),
                        patient=tell, note=f"still there after {minutes} min")]


def first_due_ms(alert: Alert, settings: PatientSettings, now_ms: int) -> int | None:
    """Clinical: the ack timeout of its severity; device and wear: the reminder interval."""
    policy = settings.policy
    if alert.category is Category.CLINICAL:
        return after_ms(now_ms, policy.ack_timeout_ms(alert.severity))
    return now_ms + int(policy.device_repeat_every_s * 1000)


def first_levels(alert: Alert, settings: PatientSettings) -> tuple[int, ...]:
    """Who hears about an opening: the first of the care team (battery: see simple_levels)."""
    return (0,) if alert.category is Category.CLINICAL else simple_levels(alert.kind, settings)


def reopen(
    alert: Alert,
    settings: PatientSettings,
    severity: Severity,
    now_ms: int,
    note: str,
    event_ms: int | None,
) -> list[AlertEvent]:
    alert.state, alert.severity, alert.level = AlertState.OPEN, severity, 0
    alert.acked_by = alert.snoozed_until_ms = None
    alert.resolved_ms = alert.resolved_event_ms = None
    alert.repeats += 1
    alert.silent = alert.repeats > settings.policy.max_repeats
    alert.told, alert.announced = [], True
    if held(alert, settings, now_ms):
        return [alert.event(Action.REOPENED, now_ms, note=note, event_ms=event_ms)]
    alert.due_ms = first_due_ms(alert, settings, now_ms)
    tell = False
    if alert.notice is Notice.PENDING:
        alert.notice = Notice.SENT  # the all-clear was never sent: the patient knows already
    else:
        tell = notice_on_open(alert, settings, now_ms)
    return [
        alert.event(
            Action.REOPENED, now_ms, note=note, levels=first_levels(alert, settings),
            patient=tell, event_ms=event_ms,
        )
    ]


def due_action(category: Category, level: int, team: int, repeats: int, max_repeats: int
               ) -> Action:
    """What falls due for an unacknowledged alert: a clinical alert goes to the next person of
    the care team while there is one, then reminders, then nothing more (recorded).

    >>> due_action(Category.CLINICAL, 0, 2, 0, 1), due_action(Category.CLINICAL, 1, 2, 0, 1)
    (<Action.ESCALATED: 'escalated'>, <Action.REPEATED: 'repeated'>)
    >>> due_action(Category.DEVICE, 0, 2, 1, 1)
    <Action.EXHAUSTED: 'exhausted'>
    """
    if category is Category.CLINICAL and level + 1 < team:
        return Action.ESCALATED
    if repeats < max_repeats:
        return Action.REPEATED
    return Action.EXHAUSTED


def on_due(alert: Alert, settings: PatientSettings, now_ms: int) -> list[AlertEvent]:
    policy = settings.policy
    clinical = alert.category is Category.CLINICAL
    wait_ms = (
        policy.ack_timeout_ms(alert.severity)
        if clinical
        else int(policy.device_repeat_every_s * 1000)
    )
    if alert.state is AlertState.SNOOZED:
        alert.state, alert.snoozed_until_ms = alert.unacked_state(), None
        alert.due_ms = after_ms(now_ms, wait_ms)
        levels = (alert.level,) if clinical else simple_levels(alert.kind, settings)
        return [alert.event(Action.SNOOZE_ENDED, now_ms, levels=levels)]
    if alert.state is AlertState.ACKNOWLEDGED:
        alert.due_ms = None
        return []
    if not alert.announced:
        return announce(alert, settings, now_ms)
    action = due_action(alert.category, alert.level, len(settings.care_team), alert.repeats,
                        policy.max_repeats)
    if action is Action.ESCALATED:
        alert.level += 1
        alert.state = AlertState.ESCALATED
        alert.due_ms = after_ms(now_ms, wait_ms)
        return [
            alert.event(
                Action.ESCALATED, now_ms, levels=(alert.level,), note="not acknowledged in time"
            )
        ]
    if action is Action.REPEATED:
        alert.repeats += 1
        alert.due_ms = after_ms(now_ms, wait_ms)
        levels = (alert.level,) if clinical else simple_levels(alert.kind, settings)
        patient = not clinical and alert.notice is Notice.SENT and not settings.is_quiet(now_ms)
        return [
            alert.event(
                Action.REPEATED,
                now_ms,
                levels=levels,
                patient=patient,
                note=f"reminder {alert.repeats} of {policy.max_repeats}",
            )
        ]
    alert.due_ms = None
    return [alert.event(Action.EXHAUSTED, now_ms, note="no recipients or reminders left")]


def wants_patient(alert: Alert, settings: PatientSettings) -> bool:
    if not settings.patient_recipients or alert.late:
        return False
    if alert.category is not Category.CLINICAL:
        return True  # device and wear problems are the patient's to fix
    return SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[settings.patient_min_severity]


def may_tell_patient(alert: Alert, settings: PatientSettings, now_ms: int) -> bool:
    return alert.severity is Severity.CRITICAL or not settings.is_quiet(now_ms)


def notice_on_open(alert: Alert, settings: PatientSettings, now_ms: int) -> bool:
    """Decide the patient's message on opening: now, after quiet hours, or never."""
    if not wants_patient(alert, settings):
        return False
    if may_tell_patient(alert, settings, now_ms):
        alert.notice = Notice.SENT
        return True
    alert.notice = Notice.PENDING
    return False


def after_ms(now_ms: int, wait_ms: int | None) -> int | None:
    return None if wait_ms is None else now_ms + wait_ms


def simple_levels(kind: str, settings: PatientSettings) -> tuple[int, ...]:
    """Battery is the patient's business unless they have no recipient; the rest: care team."""
    if kind == BATTERY_LOW and settings.patient_recipients:
        return ()
    return (0,)
