"""The alert board folds alert events, deliveries and command replies from every partition."""

from __future__ import annotations

import dataclasses

from pydantic import SecretStr

from wearmon.models.base import Severity
from wearmon.stream.alerts.board import AlertBoard
from wearmon.stream.alerts.lifecycle import SYSTEM, Action, AlertEvent, AlertState, Category
from wearmon.stream.console.board_view import next_step_text
from wearmon.stream.core.patients import AlertPolicy, PatientSettings, Recipient

MIN = 60_000


def opened(patient: str, kind: str, severity: Severity, at_ms: int) -> AlertEvent:
    return AlertEvent(f"{patient}:{kind}:{at_ms}", patient, kind, severity, AlertState.OPEN,
                      at_ms, SYSTEM, "why", 0, Action.OPENED, Category.CLINICAL,
                      opened_ms=at_ms, explanation=f"{kind} explained")


def then(e: AlertEvent, action: Action, state: AlertState, at_ms: int, **kw: object
         ) -> AlertEvent:
    return dataclasses.replace(e, action=action, state=state, at_ms=at_ms, step=e.step + 1,
                               **kw)  # type: ignore[arg-type]


def test_open_alerts_most_severe_then_oldest_first() -> None:
    board = AlertBoard()
    warn_old = opened("p-1", "tachycardia_at_rest", Severity.WARNING, 1 * MIN)
    crit_new = opened("p-2", "bradycardia", Severity.CRITICAL, 5 * MIN)
    crit_old = opened("p-3", "desaturation", Severity.CRITICAL, 3 * MIN)
    gone = opened("p-4", "bradycardia", Severity.CRITICAL, 0)
    for e in (warn_old, crit_new, crit_old, gone):
        board.apply_event(e)
    board.apply_event(then(gone, Action.RESOLVED, AlertState.RESOLVED, 9 * MIN))
    assert [c.patient for c in board.open_cards()] == ["p-3", "p-2", "p-1"]


def test_state_acknowledger_time_open_and_redeliveries() -> None:
    board = AlertBoard()
    e0 = opened("p-1", "bradycardia", Severity.CRITICAL, 1 * MIN)
    e1 = then(e0, Action.ESCALATED, AlertState.ESCALATED, 6 * MIN, level=1)
    e2 = then(e1, Action.ACKNOWLEDGED, AlertState.ACKNOWLEDGED, 7 * MIN, actor="nurse.jo",
              command_id="c1")
    for e in (e0, e1, e2, e1, e0):  # e1 and e0 redelivered after e2
        board.apply_event(e)
    card = board.cards[e0.alert_id]
    assert (card.state, card.level, card.acked_by) == (AlertState.ACKNOWLEDGED, 1, "nurse.jo")
    assert card.opened_ms == 1 * MIN and card.updated_ms == 7 * MIN
    assert [e.action for e in card.history] == [Action.OPENED, Action.ESCALATED,
                                                 Action.ACKNOWLEDGED]


def test_who_was_paged_comes_from_deliveries_that_were_sent() -> None:
    board = AlertBoard()
    e0 = opened("p-1", "bradycardia", Severity.CRITICAL, MIN)
    board.apply_event(e0)
    for recipient, status, step in (("nurse", "sent", 0), ("oncall", "failed", 1),
                                    ("oncall", "sent", 1), ("me", "sent", 0)):
        board.apply_delivery({"alert_id": e0.alert_id, "recipient_id": recipient,
                              "audience": "patient" if recipient == "me" else "care_team",
                              "step": step, "status": status, "at_ms": 2 * MIN})
    board.apply_delivery({"alert_id": "unknown", "recipient_id": "x", "audience": "care_team",
                          "step": 0, "status": "sent", "at_ms": 0})
    assert board.cards[e0.alert_id].paged_care_team() == ["nurse", "oncall"]


def test_a_delivery_read_before_its_alert_still_counts() -> None:
    """Deliveries and alert events come from different topics: a delivery can be read first."""
    board = AlertBoard()
    e0 = opened("p-1", "bradycardia", Severity.CRITICAL, MIN)
    delivery = {"alert_id": e0.alert_id, "recipient_id": "nurse", "audience": "care_team",
                "step": 0, "status": "sent", "at_ms": 2 * MIN}
    board.apply_delivery(delivery)
    board.apply_event(e0)
    board.apply_delivery(delivery)  # redelivered
    assert board.cards[e0.alert_id].paged_care_team() == ["nurse"]
    board.apply_delivery({**delivery, "alert_id": "never-seen"})
    board.prune(now_ms=2 * MIN + 10, keep_resolved_ms=60_000)
    assert "never-seen" in board.early_pages
    board.prune(now_ms=5 * MIN, keep_resolved_ms=60_000)
    assert "never-seen" not in board.early_pages


def test_a_reply_counts_only_once_its_events_are_on_the_board() -> None:
    board = AlertBoard()
    e0 = opened("p-1", "bradycardia", Severity.CRITICAL, MIN)
    board.apply_event(e0)
    board.apply_reply({"id": "c1", "status": 200, "events": 1})
    assert board.answer("c1") is None  # the reply overtook its event
    board.apply_event(then(e0, Action.ACKNOWLEDGED, AlertState.ACKNOWLEDGED, 2 * MIN,
                           actor="jo", command_id="c1"))
    assert board.answer("c1") == {"id": "c1", "status": 200, "events": 1}
    board.apply_reply({"id": "c2", "status": 409, "error": "already resolved", "events": 0})
    assert board.answer("c2") is not None and board.answer("c3") is None


def test_resolved_alerts_are_pruned_after_the_keep_time() -> None:
    board = AlertBoard()
    e0 = opened("p-1", "bradycardia", Severity.CRITICAL, MIN)
    board.apply_event(e0)
    board.apply_event(then(e0, Action.RESOLVED, AlertState.RESOLVED, 2 * MIN))
    board.prune(now_ms=10 * MIN, keep_resolved_ms=60 * MIN)
    assert e0.alert_id in board.cards
    board.prune(now_ms=63 * MIN, keep_resolved_ms=60 * MIN)
    assert board.cards == {}


def test_the_next_step_says_escalation_reminder_or_nothing_more() -> None:
    team = [Recipient(id=name, url=SecretStr("json://127.0.0.1/x")) for name in ("nurse", "doc")]
    settings = PatientSettings(patient_id="p-0001", care_team=team,
                               policy=AlertPolicy(max_repeats=1))
    board = AlertBoard()
    e0 = dataclasses.replace(opened("p-1", "bradycardia", Severity.CRITICAL, MIN), due_ms=6 * MIN)
    e1 = then(e0, Action.ESCALATED, AlertState.ESCALATED, 6 * MIN, level=1, due_ms=11 * MIN)
    e2 = then(e1, Action.REPEATED, AlertState.ESCALATED, 11 * MIN, due_ms=16 * MIN)
    e3 = then(e2, Action.ACKNOWLEDGED, AlertState.ACKNOWLEDGED, 12 * MIN, due_ms=None)
    steps = []
    for event in (e0, e1, e2, e3):
        board.apply_event(event)
        steps.append(next_step_text(board.cards[e0.alert_id], settings, event.at_ms + MIN))
    assert steps == ["next escalation in 4 min", "reminder in 4 min", "nobody left to page", ""]
