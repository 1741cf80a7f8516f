"""Device and wear alerts: device offline, battery low, and "can't assess" (not worn).

One episode is one alert: an outage is identified by the last upload before it, a can't-assess
stretch by the last worn upload, a low-battery stretch by its first low reading (it ends when the
battery is back at ``battery_ok_pct``). These times also make the alert ids, so ids are unique
and the same after a restart.

Each has reminders (bounded by the repeat limit) and a recovery notice. Offline and can't assess
run on processing time (when uploads *arrive*); battery uses the level each upload reports, with
hysteresis (low below ``battery_low_pct``, recovered at ``battery_ok_pct`` or above).
"""

from __future__ import annotations

from wearmon.models.base import Severity
from wearmon.stream.alerts.lifecycle import (
    BATTERY_LOW,
    CANT_ASSESS,
    DEVICE_OFFLINE,
    AlertEvent,
    Category,
    dedup_key,
    may_tell_patient,
    open_or_reopen,
)
from wearmon.stream.alerts.state import PatientAlerts, QualityLike
from wearmon.stream.core.patients import PatientSettings


def on_upload(
    state: PatientAlerts, settings: PatientSettings, quality: QualityLike | None, now_ms: int
) -> list[AlertEvent]:
    """An upload arrived (``quality`` None: a duplicate or fully late one): recoveries, battery."""
    events = recover(state, settings, Category.DEVICE, DEVICE_OFFLINE, now_ms, "data received")
    if quality is None:
        return events
    policy = settings.policy
    battery = quality.battery_pct
    if battery is not None and battery < policy.battery_low_pct:
        since_ms = state.episodes.get(BATTERY_LOW, quality.t_ms)
        events += open_simple(
            state, settings, Category.DEVICE, BATTERY_LOW, Severity.INFO, since_ms, now_ms,
            "device battery low",
        )  # fmt: skip
    elif battery is not None and battery >= policy.battery_ok_pct:
        state.episodes.pop(BATTERY_LOW, None)  # charged: the next low battery is a new episode
        events += recover(state, settings, Category.DEVICE, BATTERY_LOW, now_ms, "battery ok")
    if quality.worn_samples > 0:
        state.last_assessable_rx_ms = now_ms
        events += recover(state, settings, Category.ASSESS, CANT_ASSESS, now_ms, "worn again")
    return events


def on_tick(state: PatientAlerts, settings: PatientSettings, now_ms: int) -> list[AlertEvent]:
    """Open ``device_offline`` or (while uploads still arrive) ``cant_assess`` when overdue."""
    policy = settings.policy
    last_rx, last_worn = state.last_rx_ms, state.last_assessable_rx_ms
    if last_rx is not None and now_ms - last_rx >= int(policy.device_offline_after_s * 1000):
        return open_simple(
            state, settings, Category.DEVICE, DEVICE_OFFLINE, Severity.WARNING, last_rx, now_ms,
            "no data received from the device",
        )  # fmt: skip
    if last_worn is not None and now_ms - last_worn >= int(policy.cant_assess_after_s * 1000):
        return open_simple(
            state, settings, Category.ASSESS, CANT_ASSESS, Severity.INFO, last_worn, now_ms,
            "uploads arrive but the device is not worn: cannot assess",
        )  # fmt: skip
    return []


def next_check_ms(state: PatientAlerts, settings: PatientSettings) -> list[int]:
    """When ``on_tick`` could next open something (for idle-patient skipping)."""
    policy = settings.policy
    active = {a.kind for a in state.active() if a.category is not Category.CLINICAL}
    times = []
    offline_ms = None
    if state.last_rx_ms is not None:
        offline_ms = state.last_rx_ms + int(policy.device_offline_after_s * 1000)
        if DEVICE_OFFLINE not in active and state.episodes.get(DEVICE_OFFLINE) != state.last_rx_ms:
            times.append(offline_ms)
    last_worn = state.last_assessable_rx_ms
    if last_worn is not None and CANT_ASSESS not in active:
        cant_ms = last_worn + int(policy.cant_assess_after_s * 1000)
        online_then = offline_ms is None or cant_ms < offline_ms
        if online_then and state.episodes.get(CANT_ASSESS) != last_worn:
            times.append(cant_ms)
    return times


def open_simple(
    state: PatientAlerts,
    settings: PatientSettings,
    category: Category,
    kind: str,
    severity: Severity,
    basis_ms: int,
    now_ms: int,
    note: str,
) -> list[AlertEvent]:
    """Open (or reopen within the cooldown) a device/wear alert for the episode ``basis_ms``.

    Nothing happens while one is active, or when this episode (this outage, this stretch of low
    battery) already had its alert — e.g. a nurse resolved it while the device stayed offline.
    """
    alert = state.alerts.get(dedup_key(category, kind))
    if (alert is not None and alert.active) or state.episodes.get(kind) == basis_ms:
        return []
    state.episodes[kind] = basis_ms
    return open_or_reopen(
        state.alerts, state.patient, settings, category, kind, severity, since_ms=basis_ms,
        now_ms=now_ms, clock_ms=now_ms, note=note, explanation=note,
    )


def recover(
    state: PatientAlerts,
    settings: PatientSettings,
    category: Category,
    kind: str,
    now_ms: int,
    note: str,
) -> list[AlertEvent]:
    """Resolve an active device/wear alert with a recovery notice."""
    alert = state.alerts.get(dedup_key(category, kind))
    if alert is None or not alert.active:
        return []
    tell = may_tell_patient(alert, settings, now_ms)
    return alert.resolve(now_ms, state.watermark_ms, note=note, patient_now=tell)
