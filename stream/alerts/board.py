"""The alert board: the latest state of every alert, materialised from alert events. Pure code.

Every worker writes its patients' ``AlertEvent``s to the alerts topic; the board folds *all* of
them (every partition) into one ``AlertCard`` per alert, so any process — a worker's API, the
care-team console — sees the whole cluster. It also folds delivery results (who was paged, and
when) and command replies (the answer to an acknowledge/snooze/resolve sent by anyone).

The patient's alert state in the worker's table stays authoritative; the board is derived from
the durable events and is rebuilt by reading the topics from the start. Redelivered events are
ignored (an alert's ``step`` only increases). Resolved alerts are kept for a while, then pruned.

>>> from wearmon.stream.alerts.lifecycle import Action, AlertEvent, AlertState, Category
>>> from wearmon.models.base import Severity
>>> board = AlertBoard()
>>> e = AlertEvent("p-1:bradycardia:0", "p-1", "bradycardia", Severity.CRITICAL,
...     AlertState.OPEN, 1_000, "system", "HR 35", 0, Action.OPENED, Category.CLINICAL)
>>> board.apply_event(e); board.apply_event(e)  # a redelivery changes nothing
>>> [(c.alert_id, c.state.value, len(c.history)) for c in board.open_cards()]
[('p-1:bradycardia:0', 'open', 1)]
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from wearmon.models.base import Severity
from wearmon.stream.alerts.lifecycle import (
    SEVERITY_RANK,
    Action,
    AlertEvent,
    AlertState,
    Category,
)

MAX_HISTORY = 100  # events kept per alert (the full trail is on the topic and in InfluxDB)
MAX_REPLIES = 10_000
MAX_EARLY_PAGES = 10_000  # alerts whose deliveries were read before their first event


@dataclass(frozen=True, slots=True)
class Page:
    """One care-team or patient message about an alert, from the deliveries topic."""

    recipient_id: str
    audience: str
    step: int
    status: str
    at_ms: int


@dataclass(slots=True)
class AlertCard:
    """What a care team needs to see about one alert, now."""

    alert_id: str
    patient: str
    kind: str
    category: Category
    severity: Severity
    state: AlertState
    opened_ms: int
    updated_ms: int
    level: int = 0
    step: int = -1
    explanation: str = ""
    late: bool = False
    acked_by: str | None = None
    due_ms: int | None = None
    history: list[AlertEvent] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state is not AlertState.RESOLVED

    def paged_care_team(self) -> list[str]:
        """Care-team recipients a message reached, in the order they were first paged."""
        seen: list[str] = []
        for page in self.pages:
            if page.audience == "care_team" and page.status == "sent" \
                    and page.recipient_id not in seen:
                seen.append(page.recipient_id)
        return seen

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id, "patient": self.patient, "kind": self.kind,
            "category": self.category.value, "severity": self.severity.value,
            "state": self.state.value, "opened_ms": self.opened_ms,
            "updated_ms": self.updated_ms, "level": self.level, "explanation": self.explanation,
            "late": self.late, "acked_by": self.acked_by, "due_ms": self.due_ms,
            "paged": self.paged_care_team(),
        }


def priority(card: AlertCard) -> tuple[int, int, int]:
    """Open alerts first, most severe first, oldest first."""
    return (0 if card.active else 1, -SEVERITY_RANK[card.severity], card.opened_ms)


@dataclass
class AlertBoard:
    cards: dict[str, AlertCard] = field(default_factory=dict)
    replies: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    command_events: dict[str, int] = field(default_factory=dict)  # command id → events seen
    # deliveries read before their alert's first event (another topic, read in another order)
    early_pages: OrderedDict[str, list[Page]] = field(default_factory=OrderedDict)
    version: int = 0  # bumped on every change (live views poll or await it)

    def apply_event(self, event: AlertEvent) -> None:
        card = self.cards.get(event.alert_id)
        if card is None:
            card = self.cards[event.alert_id] = AlertCard(
                alert_id=event.alert_id, patient=event.patient, kind=event.kind,
                category=event.category, severity=event.severity, state=event.state,
                opened_ms=event.opened_ms if event.opened_ms is not None else event.at_ms,
                updated_ms=event.at_ms, pages=self.early_pages.pop(event.alert_id, []))
        elif event.step <= card.step:
            return  # redelivered
        card.step, card.state, card.severity = event.step, event.state, event.severity
        card.level, card.updated_ms, card.late = event.level, event.at_ms, event.late
        card.due_ms = event.due_ms
        if event.explanation:
            card.explanation = event.explanation
        if event.action in (Action.OPENED, Action.REOPENED):
            card.acked_by = None
            card.opened_ms = event.opened_ms if event.opened_ms is not None else event.at_ms
        elif event.action is Action.ACKNOWLEDGED:
            card.acked_by = event.actor
        elif event.action is Action.SEVERITY_RAISED and event.state is not AlertState.ACKNOWLEDGED:
            card.acked_by = None
        card.history = [*card.history[-(MAX_HISTORY - 1):], event]
        if event.command_id:
            self.command_events[event.command_id] = self.command_events.get(
                event.command_id, 0) + 1
        self.version += 1

    def apply_delivery(self, doc: dict[str, Any]) -> None:
        """A delivery result; kept aside until its alert's first event when read before it."""
        alert_id = str(doc.get("alert_id"))
        page = Page(recipient_id=str(doc["recipient_id"]), audience=str(doc["audience"]),
                    step=int(doc["step"]), status=str(doc["status"]), at_ms=int(doc["at_ms"]))
        card = self.cards.get(alert_id)
        pages = card.pages if card is not None else self.early_pages.setdefault(alert_id, [])
        if page not in pages:
            pages.append(page)
            self.version += 1
        while len(self.early_pages) > MAX_EARLY_PAGES:
            self.early_pages.popitem(last=False)

    def apply_reply(self, doc: dict[str, Any]) -> None:
        self.replies[str(doc["id"])] = doc
        while len(self.replies) > MAX_REPLIES:
            old, _ = self.replies.popitem(last=False)
            self.command_events.pop(old, None)
        self.version += 1

    def answer(self, command_id: str) -> dict[str, Any] | None:
        """A command's reply once it and all its events are on the board, else None."""
        reply = self.replies.get(command_id)
        if reply is None:
            return None
        if reply.get("status") == 200 and \
                self.command_events.get(command_id, 0) < int(reply.get("events", 0)):
            return None  # the reply overtook its events (another partition): not yet
        return reply

    def open_cards(self) -> list[AlertCard]:
        return sorted((c for c in self.cards.values() if c.active), key=priority)

    def of_patient(self, patient: str) -> list[AlertCard]:
        return sorted((c for c in self.cards.values() if c.patient == patient), key=priority)

    def prune(self, now_ms: int, keep_resolved_ms: int) -> None:
        """Forget resolved alerts older than ``keep_resolved_ms`` (bounded memory)."""
        for alert_id, card in list(self.cards.items()):
            if not card.active and now_ms - card.updated_ms > keep_resolved_ms:
                del self.cards[alert_id]
                self.version += 1
        for alert_id, pages in list(self.early_pages.items()):
            if now_ms - max(page.at_ms for page in pages) > keep_resolved_ms:
                del self.early_pages[alert_id]  # its alert was pruned before it was read

