"""The alert policy: findings and data quality over time → alert lifecycle events. Pure code.

Three entry points, each taking the patient's ``PatientAlerts`` state (mutated in place), the
patient's settings and the current processing time ``now_ms`` (never the wall clock):

* ``observe`` — one processed upload: its findings and its data quality.
* ``tick`` — time-driven transitions: escalation, reminders, snooze expiry, device offline,
  can't assess, patient messages held back by quiet hours.
* ``act`` — a care-team action: acknowledge, snooze (until a time) or resolve, with a note.

Rules (times per patient, from ``settings.policy``):

* Persistence: a clinical alert opens when the newest ``persist_<severity>`` windows of one
  finding kind all have findings of at least that severity (up to ``persist_gap_windows`` missing
  windows tolerated). Info findings never alert unless ``persist_info`` is set.
* Hysteresis: opening needs persistence; the all-clear needs ``all_clear_after_s`` of *worn*,
  gap-free data without that kind of finding. Missing data never counts as normal. Severity only
  goes up while an alert is active.
* Dedup and cooldown: one active alert per (category, kind) — the dedup key. A recurrence within
  ``cooldown_s`` of the end reopens the same alert (one episode = one alert).
* Repeat limit: reminders and reopens share ``max_repeats``; beyond it a non-critical alert is
  still recorded but nobody is notified.
* Escalation: an unacknowledged alert moves to the next care-team recipient after the
  per-severity ack timeout, then repeats to the last one; acknowledging stops it.
* Device alerts (``stream.alerts.devices``): ``device_offline`` (no upload for
  ``device_offline_after_s``), ``battery_low`` (below ``battery_low_pct``, recovered above
  ``battery_ok_pct``) with reminders every ``device_repeat_every_s`` and a recovery notice.
  ``cant_assess``: uploads arrive but none with worn data for ``cant_assess_after_s`` — reported
  separately from normal.
* Info alerts (battery low, can't assess, info findings) are held back ``info_hold_s``: one
  that ends sooner tells nobody; then it is announced like an opening.
* Who hears of an acknowledgement, snooze or resolution: everyone on the care team who was told
  of the alert so far (``Alert.told``), never someone who was not.
* Late data: a finding older than ``late_after_s`` still counts, but its alert is marked late and
  the patient is not told about an episode that may be long over.
* Quiet hours: non-critical patient messages wait until they end; if the alert has ended by then,
  the patient hears nothing, not a stale alarm followed by an all-clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from wearmon.models.base import Finding, Severity, Status
from wearmon.stream.alerts import devices as alert_devices
from wearmon.stream.alerts.lifecycle import (
    LATE_DATA,
    SEVERITY_RANK,
    SYSTEM,
    Action,
    ActionError,
    Alert,
    AlertEvent,
    AlertState,
    Category,
    Notice,
    after_ms,
    dedup_key,
    may_tell_patient,
    notice_on_open,
    on_due,
    open_or_reopen,
)
from wearmon.stream.alerts.state import MAX_WINDOWS, PatientAlerts, QualityLike, StateVersionError
from wearmon.stream.core.patients import AlertPolicy, PatientSettings

MAX_NOTE_CHARS = 500


# --- entry points --------------------------------------------------------------------------


def observe(
    state: PatientAlerts,
    settings: PatientSettings,
    findings: Sequence[Finding],
    quality: QualityLike | None,
    now_ms: int,
) -> list[AlertEvent]:
    """One processed upload (``pipeline.Result.findings`` and ``.quality``) → events."""
    policy = settings.policy
    state.last_rx_ms = max(state.last_rx_ms or now_ms, now_ms)
    events = alert_devices.on_upload(state, settings, quality, now_ms)
    for finding in sorted(findings, key=lambda f: f.t_ms):
        state.watermark_ms = max(state.watermark_ms, finding.t_ms)
        events += _on_finding(state, settings, finding, now_ms)
    if quality is not None:
        state.watermark_ms = max(state.watermark_ms, quality.t_ms)
        _extend_run(state, policy, quality)
    events += _all_clear(state, settings, now_ms)
    _prune(state, policy, now_ms)
    return events


def tick(state: PatientAlerts, settings: PatientSettings, now_ms: int) -> list[AlertEvent]:
    """Time-driven transitions; call every few seconds per patient (or per due patient)."""
    policy = settings.policy
    events = alert_devices.on_tick(state, settings, now_ms)
    for key in sorted(state.alerts):
        alert = state.alerts[key]
        if alert.active and alert.due_ms is not None and alert.due_ms <= now_ms:
            events += on_due(alert, settings, now_ms)
        if alert.notice is Notice.PENDING and not settings.is_quiet(now_ms):
            alert.notice = Notice.SENT if alert.active else Notice.DONE
            events.append(
                alert.event(
                    Action.PATIENT_NOTICE, now_ms, patient=True, note="held back by quiet hours"
                )
            )
    _prune(state, policy, now_ms)
    return events


def act(
    state: PatientAlerts,
    settings: PatientSettings,
    alert_id: str,
    action: Literal["ack", "snooze", "resolve"],
    actor: str,
    now_ms: int,
    note: str = "",
    until_ms: int | None = None,
) -> list[AlertEvent]:
    """A care-team action on one alert; raises ``ActionError`` when it cannot apply."""
    alert = state.find(alert_id)
    if alert is None:
        raise ActionError(f"no alert {alert_id} for this patient")
    if not actor.strip():
        raise ActionError("actor is required (who acts is part of the audit trail)")
    if len(note) > MAX_NOTE_CHARS:
        raise ActionError(f"note is limited to {MAX_NOTE_CHARS} characters")
    if action == "ack":
        return alert.acknowledge(actor, now_ms, note)
    if action == "snooze":
        if until_ms is None:
            raise ActionError("snooze needs 'until'")
        return alert.snooze(actor, now_ms, until_ms, note, int(settings.policy.max_snooze_s * 1000))
    if action == "resolve":
        events = alert.resolve(
            now_ms,
            state.watermark_ms,
            actor=actor,
            note=note,
            patient_now=may_tell_patient(alert, settings, now_ms),
        )
        if alert.category is Category.CLINICAL:
            state.windows.pop(alert.kind, None)  # the episode is over: persistence restarts
        return events
    raise ActionError(f"unknown action {action!r} (ack, snooze or resolve)")


def assessment(
    state: PatientAlerts, settings: PatientSettings, now_ms: int, observed: Status | None = None
) -> Status:
    """The patient at a glance, the one status function of Wearmon.

    ``alert`` while a clinical alert is active; otherwise ``observed`` (the status of the upload
    just processed: attention, can't assess or ok) when given; otherwise, from the alert state
    alone, "can't assess" without recent worn data, else ok.
    """
    if any(a.category is Category.CLINICAL for a in state.active()):
        return Status.ALERT
    if observed is not None:
        return observed
    recent_ms = int(settings.policy.data_gap_s * 1000)
    last = state.last_assessable_rx_ms
    if last is None or state.run_last_ms is None or now_ms - last > recent_ms:
        return Status.CANT_ASSESS
    return Status.OK


def next_due_ms(state: PatientAlerts, settings: PatientSettings, now_ms: int) -> int | None:
    """The earliest time ``tick`` has something to do (lets the worker skip idle patients)."""
    times = [a.due_ms for a in state.alerts.values() if a.active and a.due_ms is not None]
    times += alert_devices.next_check_ms(state, settings)
    quiet = settings.quiet_hours
    if any(a.notice is Notice.PENDING for a in state.alerts.values()):
        times.append(now_ms if quiet is None else quiet.end_after(now_ms))
    return min(times) if times else None


# --- clinical findings ---------------------------------------------------------------------


def _on_finding(
    state: PatientAlerts, settings: PatientSettings, finding: Finding, now_ms: int
) -> list[AlertEvent]:
    policy = settings.policy
    window = finding.t_ms // _window_ms(policy)
    rank = SEVERITY_RANK[finding.severity]
    wins = state.windows.setdefault(finding.kind, [])
    if wins and window < wins[-1][0]:
        return []  # out of order: the detectors only move forward, so this is a replay
    if wins and window == wins[-1][0]:
        wins[-1][1] = max(wins[-1][1], rank)
    else:
        wins.append([window, rank])
        del wins[:-MAX_WINDOWS]

    alert = state.alerts.get(dedup_key(Category.CLINICAL, finding.kind))
    persistent = _persistent(wins, policy)
    if alert is not None and alert.active:
        alert.last_finding_ms = max(alert.last_finding_ms or finding.t_ms, finding.t_ms)
        alert.explanation = finding.explanation
        if persistent is None or SEVERITY_RANK[persistent[0]] <= SEVERITY_RANK[alert.severity]:
            return []
        return _raise(alert, settings, persistent[0], finding, now_ms)
    if persistent is None:
        return []
    severity, since_ms = persistent
    late = now_ms - finding.t_ms > int(policy.late_after_s * 1000)
    note = finding.explanation
    if late:  # the explanation travels in its own field: say only why the data is old
        note = f"{LATE_DATA} ({(now_ms - finding.t_ms) // 60_000} min old): the device synced late"
    return open_or_reopen(
        state.alerts, state.patient, settings, Category.CLINICAL, finding.kind, severity,
        since_ms=since_ms, now_ms=now_ms, clock_ms=finding.t_ms, note=note,
        explanation=finding.explanation, event_ms=finding.t_ms, late=late,
    )


def _persistent(wins: list[list[int]], policy: AlertPolicy) -> tuple[Severity, int] | None:
    """The highest severity whose newest windows persist long enough, and when they began."""
    for severity in (Severity.CRITICAL, Severity.WARNING, Severity.INFO):
        need = policy.persist_windows(severity)
        if need is None:
            continue
        count, first, previous = 0, None, None
        for window, rank in reversed(wins):
            if rank < SEVERITY_RANK[severity]:
                break
            if previous is not None and previous - window > policy.persist_gap_windows + 1:
                break
            count, first, previous = count + 1, window, window
        if count >= need and first is not None:
            return severity, first * _window_ms(policy)
    return None


def _raise(
    alert: Alert, settings: PatientSettings, severity: Severity, finding: Finding, now_ms: int
) -> list[AlertEvent]:
    alert.severity = severity
    alert.announced = True  # no longer info: told at once
    if alert.state in (AlertState.ACKNOWLEDGED, AlertState.SNOOZED):
        alert.state, alert.acked_by, alert.snoozed_until_ms = alert.unacked_state(), None, None
    alert.due_ms = after_ms(now_ms, settings.policy.ack_timeout_ms(severity))
    tell = False
    if alert.notice in (Notice.NONE, Notice.PENDING):
        tell = notice_on_open(alert, settings, now_ms)
    return [
        alert.event(
            Action.SEVERITY_RAISED,
            now_ms,
            note=finding.explanation,
            levels=(alert.level,),
            patient=tell,
            event_ms=finding.t_ms,
        )
    ]


def _all_clear(state: PatientAlerts, settings: PatientSettings, now_ms: int) -> list[AlertEvent]:
    if state.run_start_ms is None or state.run_last_ms is None:
        return []
    need_ms = int(settings.policy.all_clear_after_s * 1000)
    events: list[AlertEvent] = []
    for alert in state.active():
        if alert.category is not Category.CLINICAL or alert.last_finding_ms is None:
            continue
        normal_from = max(alert.last_finding_ms, state.run_start_ms)
        if state.run_last_ms - normal_from < need_ms:
            continue
        state.windows.pop(alert.kind, None)
        minutes = (state.run_last_ms - normal_from) // 60_000
        events += alert.resolve(
            now_ms,
            state.run_last_ms,
            note=f"all clear: {minutes} min of normal worn data",
            patient_now=may_tell_patient(alert, settings, now_ms),
        )
    return events


def _extend_run(state: PatientAlerts, policy: AlertPolicy, quality: QualityLike) -> None:
    """Track the current run of gap-free worn data; anything else breaks it."""
    if quality.worn_samples <= 0:
        state.run_start_ms = state.run_last_ms = None
        return
    last = state.run_last_ms
    if last is not None and quality.t_ms <= last:
        return  # late upload inside the run: nothing new
    if last is None or quality.t_ms - last > int(policy.data_gap_s * 1000):
        state.run_start_ms = quality.t_ms
    state.run_last_ms = quality.t_ms


def _prune(state: PatientAlerts, policy: AlertPolicy, now_ms: int) -> None:
    cooldown_ms = int(policy.cooldown_s * 1000)
    for key, alert in list(state.alerts.items()):
        if (
            alert.resolved_ms is not None
            and alert.notice is not Notice.PENDING
            and now_ms - alert.resolved_ms > cooldown_ms
        ):
            del state.alerts[key]
    newest = state.watermark_ms // _window_ms(policy)
    for kind, wins in list(state.windows.items()):
        if not wins or newest - wins[-1][0] > policy.persist_gap_windows + 1:
            del state.windows[kind]


def _window_ms(policy: AlertPolicy) -> int:
    return int(policy.window_s * 1000)


__all__ = [
    "SYSTEM",
    "Action",
    "ActionError",
    "Alert",
    "AlertEvent",
    "AlertState",
    "Category",
    "PatientAlerts",
    "QualityLike",
    "StateVersionError",
    "act",
    "assessment",
    "next_due_ms",
    "observe",
    "tick",
]
