"""What the console shows about alerts: rows, the audit trail, ward filter. Pure functions.

Pages never put alert or patient ids in URLs: alerts and patients are addressed by opaque
references (``notify.links.opaque_ref``), the same ones the signed message links carry.

>>> duration_text(45_000), duration_text(12 * 60_000), duration_text(125 * 60_000)
('45 s', '12 min', '2 h 05 min')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from wearmon.models.alarm_budget import budget_summary
from wearmon.models.base import Severity
from wearmon.stream.alerts.board import AlertCard
from wearmon.stream.alerts.lifecycle import SYSTEM, Action, AlertState, due_action
from wearmon.stream.core.patients import PatientSettings
from wearmon.stream.notify.links import ALERT, PATIENT, opaque_ref
from wearmon.stream.notify.next_steps import NextSteps
from wearmon.stream.notify.render import escalation_step

STATE_LABEL = {
    AlertState.OPEN: "Open, not acknowledged",
    AlertState.ESCALATED: "Escalated, not acknowledged",
    AlertState.ACKNOWLEDGED: "Acknowledged",
    AlertState.SNOOZED: "Snoozed",
    AlertState.RESOLVED: "Resolved",
}
ACTION_LABEL = {
    Action.OPENED: "Opened", Action.ANNOUNCED: "Care team told (still there after the hold)",
    Action.REOPENED: "Reopened (same episode)",
    Action.SEVERITY_RAISED: "Severity raised", Action.ESCALATED: "Escalated",
    Action.REPEATED: "Reminder sent", Action.EXHAUSTED: "Nobody left to escalate to",
    Action.ACKNOWLEDGED: "Acknowledged", Action.SNOOZED: "Snoozed",
    Action.SNOOZE_ENDED: "Snooze ended", Action.PATIENT_NOTICE: "Patient informed",
    Action.RESOLVED: "Resolved",
}


#: what each kind of finding was compared with (said above its explanation)
COMPARED = {
    "tachycardia_at_rest": "Compared with this patient's configured at-rest limit.",
    "bradycardia": "Compared with this patient's configured low limit.",
    "desaturation": "Compared with this patient's configured SpO2 limit.",
    "news2_partial": "Compared with the NEWS2 alert level (a partial score: a wearable has no "
                     "blood pressure or consciousness).",
    "high_hr_for_patient": "Compared with this patient's personal baseline.",
    "low_hr_for_patient": "Compared with this patient's personal baseline.",
    "resting_hr_rise": "Compared with this patient's own nights (personal baseline).",
    "irregular_rhythm": "Beat-to-beat irregularity of this patient's heart rhythm.",
    "unusual_inactivity": "Compared with this patient's usual activity.",
    "unusual_night_activity": "Compared with this patient's usual nights.",
    "steps_decline": "Compared with this patient's usual steps.",
}
#: the events after which a silent last step is news again
RESTARTS = frozenset({Action.OPENED, Action.REOPENED, Action.SEVERITY_RAISED,
                      Action.SNOOZE_ENDED, Action.ACKNOWLEDGED})


def duration_text(ms: int) -> str:
    s = max(0, ms) // 1000
    if s < 60:
        return f"{s} s"
    m = s // 60
    if m < 60:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m:02d} min"
    return f"{h // 24} d {h % 24} h"


def clock_text(t_ms: int, tz: str, now_ms: int) -> str:
    """``14:05`` today, else ``3 Mar 14:05``, in the console's time zone."""
    zone = ZoneInfo(tz)
    t = datetime.fromtimestamp(t_ms / 1000, UTC).astimezone(zone)
    today = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(zone).date()
    return t.strftime("%H:%M") if t.date() == today else t.strftime("%-d %b %H:%M")


class Refs:
    """Opaque references of alerts and patients (memoised HMACs) and their reverse lookup."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._memo: dict[tuple[str, str], str] = {}

    def of(self, kind: str, value: str) -> str:
        key = (kind, value)
        ref = self._memo.get(key)
        if ref is None:
            ref = self._memo[key] = opaque_ref(self._secret, kind, value)
        return ref

    def alert(self, alert_id: str) -> str:
        return self.of(ALERT, alert_id)

    def patient(self, patient_id: str) -> str:
        return self.of(PATIENT, patient_id)

    def find_alert(self, ref: str, cards: Iterable[AlertCard]) -> AlertCard | None:
        return next((c for c in cards if self.alert(c.alert_id) == ref), None)

    def find_patient(self, ref: str, patients: Iterable[str]) -> str | None:
        return next((p for p in patients if self.patient(p) == ref), None)


@dataclass(frozen=True, slots=True)
class AlertRow:
    ref: str
    patient: str
    patient_ref: str
    ward: str
    kind: str
    severity: str
    state: str
    state_label: str
    explanation: str
    opened: str
    open_for: str
    escalation: str
    next_step: str
    state_by: str  # who put the alert in its state (a person), if anyone
    paged: tuple[str, ...]
    late: bool
    active: bool
    needs_action: bool  # open or escalated: nobody has it yet
    exhausted: bool  # nobody left to page and nobody has it
    compared: str  # what the finding was compared with
    suggestion: str  # the ward's suggested next step
    ended: str  # "14:05, after 12 min" once resolved
    readings_from: str  # when the readings behind it were taken, if not when it opened


def recipient_label(settings: PatientSettings | None, recipient_id: str) -> str:
    recipient = settings.recipient(recipient_id) if settings is not None else None
    return recipient.label or recipient.id if recipient is not None else recipient_id


def next_step_text(card: AlertCard, settings: PatientSettings | None, now_ms: int) -> str:
    """What the lifecycle does next to this alert if nobody acts, and when: escalate to the
    next person, send a reminder, or nothing more (the last step only records it)."""
    if card.due_ms is None:
        return ""
    wait = duration_text(card.due_ms - now_ms)
    if card.state is AlertState.SNOOZED:
        return f"snoozed for {wait}"
    if card.state not in (AlertState.OPEN, AlertState.ESCALATED):
        return ""
    if held_back(card):
        return f"the care team is told in {wait} if it is still there"
    if settings is None:  # the patient's settings are gone: its care team is not known here
        return f"reminder in {wait}"
    reminders = sum(event.action is Action.REPEATED for event in card.history)
    due = due_action(card.category, card.level, len(settings.care_team), reminders,
                     settings.policy.max_repeats)
    return {Action.ESCALATED: f"next escalation in {wait}",
            Action.REPEATED: f"reminder in {wait}"}.get(due, "nobody left to page")


def held_back(card: AlertCard) -> bool:
    """An info alert in its hold: nobody has been told of it yet (``policy.info_hold_s``)."""
    if card.severity is not Severity.INFO or card.due_ms is None:
        return False
    for event in reversed(card.history):
        if event.notify_levels or event.notify_patient or event.action is Action.ANNOUNCED:
            return False
        if event.action in (Action.OPENED, Action.REOPENED):
            return True
    return False


def exhausted(card: AlertCard, next_step: str) -> bool:
    """Nobody has it and Wearmon will page nobody more: everyone was paged, reminders used."""
    if card.state not in (AlertState.OPEN, AlertState.ESCALATED):
        return False
    for event in reversed(card.history):
        if event.action is Action.EXHAUSTED:
            return True
        if event.action in RESTARTS:
            break
    return next_step == "nobody left to page"


def alert_row(card: AlertCard, settings: PatientSettings | None, refs: Refs, now_ms: int,
              tz: str, people: dict[str, str], next_steps: NextSteps | None = None
              ) -> AlertRow:
    team = len(settings.care_team) if settings is not None else 1
    end_ms = now_ms if card.active else card.updated_ms
    next_step = next_step_text(card, settings, now_ms)
    ward = settings.ward if settings else ""
    return AlertRow(
        ref=refs.alert(card.alert_id), patient=card.patient,
        patient_ref=refs.patient(card.patient), ward=ward,
        kind=card.kind.replace("_", " ").capitalize(), severity=card.severity.value,
        state=card.state.value, state_label=STATE_LABEL[card.state],
        explanation=card.explanation, opened=clock_text(card.opened_ms, tz, now_ms),
        open_for=duration_text(end_ms - card.opened_ms),
        escalation=escalation_step(card.level, team), next_step=next_step,
        state_by=people.get(actor, actor) if (actor := state_actor(card)) else "",
        paged=tuple(recipient_label(settings, r) for r in card.paged_care_team()),
        late=card.late, active=card.active,
        needs_action=card.state in (AlertState.OPEN, AlertState.ESCALATED),
        exhausted=exhausted(card, next_step), compared=COMPARED.get(card.kind, ""),
        suggestion=(next_steps or NextSteps()).suggest(ward, card.kind, card.severity.value),
        ended="" if card.active else f"{clock_text(card.updated_ms, tz, now_ms)}, after "
                                     f"{duration_text(end_ms - card.opened_ms)}",
        readings_from=readings_text(card, tz, now_ms))


def readings_text(card: AlertCard, tz: str, now_ms: int) -> str:
    """``14:01``: the time of the readings that opened it, when not the minute it opened."""
    opening = next((e for e in reversed(card.history)
                    if e.action in (Action.OPENED, Action.REOPENED)), None)
    if opening is None or opening.event_ms is None:
        return ""
    shown = clock_text(opening.event_ms, tz, now_ms)
    return "" if shown == clock_text(card.opened_ms, tz, now_ms) else shown


def state_actor(card: AlertCard) -> str:
    """The person behind the current state: who acknowledged, snoozed or resolved it."""
    last = card.history[-1] if card.history else None
    if last is not None and last.actor != SYSTEM and last.state is card.state:
        return last.actor
    return (card.acked_by or "") if card.state is AlertState.ACKNOWLEDGED else ""


def open_rows(cards: Iterable[AlertCard], patients: dict[str, PatientSettings], refs: Refs,
              now_ms: int, tz: str, people: dict[str, str], ward: str = "",
              next_steps: NextSteps | None = None) -> list[AlertRow]:
    """Active alerts of one ward (if given): those that need someone first, then those someone
    has (acknowledged or snoozed); each group most severe and oldest first."""
    rows = [alert_row(c, patients.get(c.patient), refs, now_ms, tz, people, next_steps)
            for c in cards]
    rows = [r for r in rows if not ward or r.ward == ward]
    return sorted(rows, key=lambda r: not r.needs_action)  # stable: keeps the board's order


def illness_budget_text(settings: PatientSettings | None,
                        patients: Iterable[PatientSettings]) -> str:
    """What the patient's illness alarm budget means for their ward: the expected illness
    alerts for nothing a week over the ward's enrolled patients, and the sensitivity measured
    on people never seen ("" for a patient without a ward)."""
    if settings is None or not settings.ward:
        return ""
    ward_size = sum(1 for p in patients if p.ward == settings.ward)
    summary = budget_summary(settings.policy.illness_alarm_budget_per_30d, ward_size)
    return f"{settings.ward}: {summary['text']}"


def wards(patients: Iterable[PatientSettings]) -> list[str]:
    return sorted({p.ward for p in patients if p.ward})


@dataclass(frozen=True, slots=True)
class TrailEntry:
    at: str
    action: str
    by: str
    note: str
    paged: tuple[str, ...]


def trail(card: AlertCard, settings: PatientSettings | None, now_ms: int, tz: str,
          people: dict[str, str]) -> list[TrailEntry]:
    """The audit trail, newest first: what happened, who did it, their note, who was told."""
    entries = []
    for e in reversed(card.history):
        by = "Wearmon" if e.actor == SYSTEM else people.get(e.actor, e.actor)
        note = e.note if e.note != e.explanation else ""
        told = tuple(recipient_label(settings, settings.care_team[min(level, len(
            settings.care_team) - 1)].id) for level in e.notify_levels) if settings else ()
        entries.append(TrailEntry(clock_text(e.at_ms, tz, now_ms), ACTION_LABEL[e.action], by,
                                  note, told))
    return entries
