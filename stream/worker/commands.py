"""Alert commands: care-team actions and timer ticks applied to the alert table by one agent.

Faust tables change only inside an agent's stream iteration, so every action (from any worker's
API or the console) and the escalation timer send *commands* (``alerts.command``) to
``WEARMON_TOPIC_ALERT_COMMANDS``, keyed by patient id (co-partitioned with the telemetry and the
``alert-state`` table): whichever worker owns the patient applies it. The ``alert-commands``
agent applies each one with ``alerts.policy.act`` / ``tick`` under the worker's alert lock, then
pages as a telemetry batch does (``worker.commit.page``): the events on the alerts topic, then
the alert state saved to the table. Nothing here waits for InfluxDB (the alert history is
written from the alerts topic by ``worker.history``), and a telemetry batch waits for InfluxDB
without the lock, so escalation and acknowledgements go on during an InfluxDB outage while
telemetry keeps arriving. Events caused by an action carry its command id; the
answer to every action then goes to ``WEARMON_TOPIC_ALERT_REPLIES``, where the sender reads it
(``worker.alerts_feed``).

The timer (every ``WEARMON_ALERT_TICK_S``) sends a ``tick`` for every patient of this worker
whose next due time has passed, so escalation, reminders and snooze ends happen without new
data. After a restart it first loads every alert state of the recovered table.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, cast

import faust
import orjson

from wearmon.stream.alerts import policy
from wearmon.stream.alerts.command import ACTIONS, ActionName, parse_command, reply, tick_command
from wearmon.stream.alerts.lifecycle import ActionError
from wearmon.stream.worker.batch import BatchOutput
from wearmon.stream.worker.commit import page
from wearmon.stream.worker.context import WorkerContext
from wearmon.stream.worker.faust_io import bytes_topic, fail_stop

log = logging.getLogger(__name__)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def apply_command(context: WorkerContext, doc: dict[str, Any], now_ms: int
                  ) -> tuple[dict[str, Any] | None, BatchOutput]:
    """Apply one command to the patient's alert state: the reply (None for a tick) and the
    output to commit."""
    output = BatchOutput()
    command_id, patient = str(doc["id"]), str(doc["patient"])
    if doc["type"] == "tick":
        if patient in context.alerts:
            state = context.patient_alerts(patient, now_ms)
            settings = context.settings_for(patient)
            due = policy.next_due_ms(state, settings, now_ms)
            if due is not None and due <= now_ms:
                output.add_alert_events(patient, policy.tick(state, settings, now_ms))
        return None, output
    if patient not in context.alerts:
        return reply(command_id, patient, 404, f"no alerts for patient {patient}"), output
    action, until_ms = doc.get("action"), doc.get("until_ms")
    if action not in ACTIONS:
        return reply(command_id, patient, 400, "action: ack, snooze or resolve"), output
    if until_ms is not None and (not isinstance(until_ms, int) or isinstance(until_ms, bool)):
        return reply(command_id, patient, 400, "until_ms: epoch milliseconds"), output
    state = context.patient_alerts(patient, now_ms)
    try:
        events = policy.act(
            state, context.settings_for(patient), str(doc.get("alert_id", "")),
            cast(ActionName, action), str(doc.get("actor", "")), now_ms,
            note=str(doc.get("note") or ""), until_ms=until_ms)
    except ActionError as exc:
        status = 404 if str(exc).startswith("no alert") else 409
        return reply(command_id, patient, status, str(exc)), output
    events = [dataclasses.replace(e, command_id=command_id) for e in events]
    if events:
        output.add_alert_events(patient, events)
    return reply(command_id, patient, 200, events=len(events)), output


async def handle_command(context: WorkerContext, doc: dict[str, Any]) -> dict[str, Any] | None:
    """Apply and commit one parsed command; returns its reply (None for a tick)."""
    await context.ready()
    async with context.lock:
        now_ms = _now_ms()
        answer, output = apply_command(context, doc, now_ms)
        await page(output, context.sinks, context.alerts.snapshot(output.alert_patients))
        context.index_due(output.alert_patients, now_ms)
        context.shrink_caches(now_ms)
    return answer


def add_alert_agents(app: faust.App, context: WorkerContext, topic: Any) -> None:
    settings = context.settings
    replies = bytes_topic(app, settings.topic_alert_replies, settings)
    ticks_pending: dict[str, int] = {}  # patient → when a tick was sent
    loaded = {"all": False}
    tick_every_ms = int(settings.alert_tick_s * 1000)

    @app.agent(topic, name="alert-commands")
    async def alert_commands(stream: faust.StreamT[bytes]) -> None:
        async for raw in stream:
            try:
                doc = parse_command(raw)
            except ValueError as exc:
                log.error("alert command dropped: %s", exc)
                continue
            try:
                answer = await handle_command(context, doc)
                if answer is None:
                    ticks_pending.pop(str(doc["patient"]), None)
                else:
                    await (await replies.send(key=str(doc["patient"]).encode(),
                                              value=orjson.dumps(answer)))
            except Exception:
                fail_stop("applying an alert command")

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(app: faust.App, assigned: set[Any], **kwargs: Any) -> None:
        loaded["all"] = False  # load the recovered alert states again at the next tick

    @app.timer(settings.alert_tick_s)
    async def escalation_timer() -> None:
        recovery = getattr(app.tables, "recovery", None)
        if app.rebalancing or recovery is None or not recovery.completed.is_set():
            return
        if not context.directory.ready:
            context.directory.start()
            return
        now_ms = _now_ms()
        if not loaded["all"]:
            context.load_due_index(now_ms)
            loaded["all"] = True
        for patient, due in list(context.due_ms.items()):
            if due > now_ms:
                continue
            if now_ms - ticks_pending.get(patient, 0) < 6 * tick_every_ms:
                continue  # a tick is on its way
            ticks_pending[patient] = now_ms
            command = tick_command(patient, now_ms=now_ms)
            await (await topic.send(key=patient.encode(), value=orjson.dumps(command)))
