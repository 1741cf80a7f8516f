"""Alert commands: care-team actions and timer ticks applied to the alert table by one agent.

Faust tables change only inside an agent's stream iteration, so every action (from any worker's
API or the console) and the escalation timer send *commands* (``alerts.command``) to
``WEARMON_TOPIC_ALERT_COMMANDS``, keyed by patient id (co-partitioned with the telemetry and the
``alert-state`` table): whichever worker owns the patient applies it. The ``alert-commands``
agent applies each one with ``alerts.policy.act`` / ``tick`` under the worker's alert lock, then
pages as a telemetry batch does (``worker.paging``): the events on the alerts topic, then the
alert state saved to the table. Nothing in a worker waits for InfluxDB: ``wearmon sink`` writes
the alert history from the alerts topic, so escalation and acknowledgements go on during an
InfluxDB outage. Events caused by an action carry its command id; the answer to every action
then goes to ``WEARMON_TOPIC_ALERT_REPLIES``, where the sender reads it (``views.alerts_feed``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import faust
import orjson

from wearmon.stream.alerts import policy
from wearmon.stream.alerts.command import ACTIONS, ActionName, parse_command, reply
from wearmon.stream.alerts.lifecycle import ActionError
from wearmon.stream.core.records import Unreadable
from wearmon.stream.worker.connections import Connections
from wearmon.stream.worker.dead_letters import DeadLetters
from wearmon.stream.worker.faust_io import fail_stop
from wearmon.stream.worker.paging import Page, PageTopics, Topic, page
from wearmon.stream.worker.patient_store import PatientStore

log = logging.getLogger(__name__)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def apply_tick(store: PatientStore, patient: str, at_ms: int) -> Page:
    """The patient's due transitions, if any are still due."""
    found = Page()
    if store.has_alerts(patient):
        state = store.patient_alerts(patient, at_ms)
        settings = store.settings_for(patient)
        due = policy.next_due_ms(state, settings, at_ms)
        if due is not None and due <= at_ms:
            found.add_alert_events(patient, policy.tick(state, settings, at_ms),
                                   ward=settings.ward)
    return found


def apply_action(store: PatientStore, doc: dict[str, Any], at_ms: int
                 ) -> tuple[dict[str, Any], Page]:
    """A care-team action on the patient's alert state: its reply and what it pages."""
    found = Page()
    command_id, patient = str(doc["id"]), str(doc["patient"])
    if not store.has_alerts(patient):
        return reply(command_id, patient, 404, f"no alerts for patient {patient}"), found
    action, until_ms = doc.get("action"), doc.get("until_ms")
    if action not in ACTIONS:
        return reply(command_id, patient, 400, "action: ack, snooze or resolve"), found
    if until_ms is not None and (not isinstance(until_ms, int) or isinstance(until_ms, bool)):
        return reply(command_id, patient, 400, "until_ms: epoch milliseconds"), found
    state, settings = store.patient_alerts(patient, at_ms), store.settings_for(patient)
    try:
        events = policy.act(
            state, settings, str(doc.get("alert_id", "")),
            cast(ActionName, action), str(doc.get("actor", "")), at_ms,
            note=str(doc.get("note") or ""), until_ms=until_ms)
    except ActionError as exc:
        status = 404 if str(exc).startswith("no alert") else 409
        return reply(command_id, patient, status, str(exc)), found
    events = [dataclasses.replace(e, command_id=command_id) for e in events]
    if events:
        found.add_alert_events(patient, events, ward=settings.ward)
    return reply(command_id, patient, 200, events=len(events)), found


def apply_command(store: PatientStore, doc: dict[str, Any], at_ms: int
                  ) -> tuple[dict[str, Any] | None, Page]:
    """Apply one command to the patient's alert state: the reply (None for a tick) and what it
    pages."""
    if doc["type"] == "tick":
        return None, apply_tick(store, str(doc["patient"]), at_ms)
    return apply_action(store, doc, at_ms)


@dataclass
class Commands:
    """What the alert-commands agent uses."""

    store: PatientStore
    lock: asyncio.Lock  # one writer of alert state (shared with the telemetry batches)
    connections: Connections
    page_topics: PageTopics
    replies: Topic
    ticked: Callable[[str], None]  # a tick of this patient was applied
    dead_letters: DeadLetters

    async def apply(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """Apply and page one parsed command; returns its reply (None for a tick)."""
        await self.connections.ready()
        async with self.lock:
            at_ms = now_ms()
            answer, found = apply_command(self.store, doc, at_ms)
            await page(found, self.page_topics,
                       self.store.alerts.snapshot(found.alert_patients))
            self.store.index_due(found.alert_patients, at_ms)
            self.store.shrink()
        return answer

    async def handle(self, raw: bytes | None) -> None:
        """One record of the commands topic: applied, and its reply sent (an action's)."""
        try:
            doc = parse_command(raw)
        except Unreadable as error:
            await self.dead_letters.send("alert_command", error, raw, now_ms())
            return
        answer = await self.apply(doc)
        if answer is None:
            self.ticked(str(doc["patient"]))
        else:
            await (await self.replies.send(key=str(doc["patient"]).encode(),
                                           value=orjson.dumps(answer)))


def add_command_agent(app: faust.App, topic: Any, commands: Commands) -> None:
    @app.agent(topic, name="alert-commands")
    async def alert_commands(stream: faust.StreamT[bytes | None]) -> None:
        async for raw in stream:
            try:
                await commands.handle(raw)
            except Exception:
                fail_stop("applying an alert command")
