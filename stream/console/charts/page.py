"""The patient page's charts from its history and its alerts (pure): which alerts to draw,
the buckets of each window, and the nights view when it matters (the 7-day window, or an
illness alert of the patient)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from wearmon.stream.alerts.board import AlertCard
from wearmon.stream.alerts.lifecycle import Action
from wearmon.stream.console.charts.geometry import Chart
from wearmon.stream.console.charts.nights import latest_baseline, nights_chart
from wearmon.stream.console.charts.vitals import AlertPeriod, bucket_s, vital_charts
from wearmon.stream.console.history import PatientHistory
from wearmon.stream.core.patients import PatientSettings

ILLNESS_KINDS = frozenset({"resting_hr_rise"})
RANK = {"info": 0, "warning": 1, "critical": 2}


def steps_bucket_s(window: str) -> int:
    """Steps come as one-minute rollups: whole minutes per bar.

    >>> steps_bucket_s("30m"), steps_bucket_s("6h")
    (60, 120)
    """
    return max(60, bucket_s(window) // 60 * 60)


def wants_nights(window: str, cards: Iterable[AlertCard]) -> bool:
    return window == "7d" or any(c.kind in ILLNESS_KINDS for c in cards)


def alert_periods(timeline: Sequence[dict[str, Any]], cards: Iterable[AlertCard]
                  ) -> list[AlertPeriod]:
    """Each alert's time open: the board's own alerts as they stand, older ones from their
    points in InfluxDB (first point to resolution)."""
    periods: dict[str, AlertPeriod] = {}
    for row in sorted(timeline, key=lambda r: int(r["time"])):
        alert_id, t_ms = str(row.get("alert_id")), int(row["time"])
        known = periods.get(alert_id)
        severity = str(row.get("severity") or "info")
        if known is None:
            known = AlertPeriod(str(row.get("kind") or ""), severity, t_ms, None)
        elif RANK.get(severity, 0) > RANK.get(known.severity, 0):
            known = AlertPeriod(known.kind, severity, known.opened_ms, known.ended_ms)
        ended = t_ms if row.get("state") == "resolved" else None
        periods[alert_id] = AlertPeriod(known.kind, known.severity, known.opened_ms, ended)
    for card in cards:
        periods[card.alert_id] = AlertPeriod(card.kind, card.severity.value, readings_ms(card),
                                             None if card.active else card.updated_ms)
    return list(periods.values())


def readings_ms(card: AlertCard) -> int:
    """When the readings that opened the alert were taken (the charts' clock is the readings'
    clock); the opening itself for alerts without readings (device, wear).

    A device that synced late has its readings earlier than the opening: the marker sits on
    the readings that caused it."""
    for event in reversed(card.history):
        if event.action in (Action.OPENED, Action.REOPENED):
            return event.event_ms if event.event_ms is not None else card.opened_ms
    return card.opened_ms


def patient_charts(history: PatientHistory, settings: PatientSettings | None,
                   cards: Sequence[AlertCard], window: str, now_ms: int, tz: str) -> list[Chart]:
    periods = alert_periods(history.timeline, cards)
    charts = vital_charts(history.vitals, settings, periods, window, now_ms, tz,
                          steps_bucket_s(window) * 1000)
    if wants_nights(window, cards):
        charts.append(nights_chart(history.resting_hourly, latest_baseline(history.baseline),
                                   tz, now_ms))
    return charts
