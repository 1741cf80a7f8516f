"""Paging: alert events (and anomaly records) on their topics, then the alert state saved.

Telemetry batches and care-team commands page the same way, under the worker's alert lock, and
never wait for InfluxDB:

1. publish the alert events and the anomaly records and wait for the broker's acks;
2. only then store the alert state, as it was right after the events were made
   (``StateCache.snapshot``), in its table.

If the worker dies between 1 and 2, the events may be published again (at least once); an alert
state stored before its telemetry batch's points is safe: if the batch is processed again, the
alerts it opened are open already (once the state's changelog record reached the broker), and
their events are not sent again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import orjson

from wearmon.stream.alerts import policy
from wearmon.stream.alerts.lifecycle import AlertEvent
from wearmon.stream.worker.metrics import count_alert_events
from wearmon.stream.worker.patient_store import PatientStore


class Topic(Protocol):
    async def send(self, *, key: bytes | None, value: bytes, partition: int | None = None
                   ) -> Awaitable[Any]: ...


class Saved(Protocol):
    def store(self) -> None: ...


@dataclass
class Page:
    """What one batch or command pages: alert events, anomaly records, and whose alert state
    changed."""

    alert_events: list[AlertEvent] = field(default_factory=list)  # → alerts topic
    anomalies: list[dict[str, Any]] = field(default_factory=list)  # → anomalies topic
    alert_patients: set[str] = field(default_factory=set)  # alert states to save

    def add_alert_events(self, patient_id: str, events: Iterable[AlertEvent], *, ward: str
                         ) -> None:
        """The patient's events, labelled with the ward (the dashboards and console filter
        by it)."""
        self.alert_patients.add(patient_id)
        self.alert_events.extend(replace(e, ward=ward) for e in events)

    def merge(self, other: Page) -> None:
        self.alert_events += other.alert_events
        self.anomalies += other.anomalies
        self.alert_patients |= other.alert_patients


@dataclass(frozen=True, slots=True)
class PageTopics:
    alerts: Topic
    anomalies: Topic


async def acknowledged(pending: Iterable[Awaitable[Any]]) -> None:
    for future in pending:
        await future


async def page(found: Page, topics: PageTopics, alert_state: Saved) -> None:
    """Steps 1–2 (above); call under the worker's alert lock."""
    pending = [await topics.alerts.send(key=e.patient.encode(), value=orjson.dumps(e.to_json()))
               for e in found.alert_events]
    pending += [await topics.anomalies.send(key=a["patient_id"].encode(), value=orjson.dumps(a))
                for a in found.anomalies]
    await acknowledged(pending)
    alert_state.store()
    count_alert_events(found.alert_events)


def due_transitions(store: PatientStore, now_ms: int) -> Page:
    """Time-driven alert transitions (escalation, reminders, snooze ends, device checks) of the
    patients whose next due time has passed."""
    found = Page()
    for patient_id, state in store.due_alerts(now_ms):
        settings = store.settings_for(patient_id)
        due = policy.next_due_ms(state, settings, now_ms)
        if due is not None and due <= now_ms:
            events = policy.tick(state, settings, now_ms)
            if events:
                found.add_alert_events(patient_id, events, ward=settings.ward)
    return found
