"""Alert commands: care-team actions and timer ticks applied to the alert table by one agent.

Faust tables change only inside an agent's stream iteration, so both the HTTP API (acknowledge,
snooze, resolve) and the escalation timer send *commands* to ``WEARMON_TOPIC_ALERT_COMMANDS``,
keyed by patient id (co-partitioned with the telemetry and the ``alert-state`` table). The
``alert-commands`` agent applies each one with ``alerts.policy.act`` / ``tick`` under the
worker's alert lock, then commits the events exactly as a telemetry batch does
(``worker.commit``): ``alert`` points in InfluxDB, the events on the alerts topic, then the state
saved to the table.

The timer (every ``WEARMON_ALERT_TICK_S``) sends a ``tick`` for every patient of this worker
whose next due time has passed, so escalation, reminders and snooze ends happen without new
data. After a restart it first loads every alert state of the recovered table.

A command's answer is handed to a waiting API request in the same process (if any); the alert
events themselves are the durable record.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import faust
import orjson

from wearmon.stream.alerts import policy
from wearmon.stream.alerts.lifecycle import ActionError
from wearmon.stream.worker.batch import BatchOutput
from wearmon.stream.worker.commit import commit
from wearmon.stream.worker.context import WorkerContext
from wearmon.stream.worker.faust_io import fail_stop

log = logging.getLogger(__name__)

ACTIONS = ("ack", "snooze", "resolve")
COMMAND_VERSION = 1


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def act_command(patient: str, alert_id: str, action: str, actor: str, note: str = "",
                until_ms: int | None = None) -> dict[str, Any]:
    return {"v": COMMAND_VERSION, "id": uuid.uuid4().hex, "type": "act", "patient": patient,
            "alert_id": alert_id, "action": action, "actor": actor, "note": note,
            "until_ms": until_ms, "sent_ms": _now_ms()}


def tick_command(patient: str) -> dict[str, Any]:
    return {"v": COMMAND_VERSION, "id": uuid.uuid4().hex, "type": "tick", "patient": patient,
            "sent_ms": _now_ms()}


@dataclass
class AlertCommands:
    """What the API needs: send a command and (optionally) wait for this worker's answer."""

    topic: Any
    waiters: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    ticks_pending: dict[str, int] = field(default_factory=dict)  # patient → tick sent at

    async def send(self, command: dict[str, Any]) -> None:
        await (await self.topic.send(key=command["patient"].encode(),
                                     value=orjson.dumps(command)))

    async def send_and_wait(self, command: dict[str, Any], timeout_s: float
                            ) -> dict[str, Any] | None:
        """The answer, or None when it did not come in time (e.g. another worker owns it)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiters[command["id"]] = future
        try:
            await self.send(command)
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return None
        finally:
            self.waiters.pop(command["id"], None)

    def answer(self, reply: dict[str, Any]) -> None:
        future = self.waiters.pop(str(reply.get("id")), None)
        if future is not None and not future.done():
            future.set_result(reply)


def parse_command(raw: bytes) -> dict[str, Any]:
    """A command document, or ``ValueError``."""
    try:
        doc = orjson.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        str(doc["id"]), str(doc["patient"])
        if doc.get("v") != COMMAND_VERSION or doc.get("type") not in ("act", "tick"):
            raise ValueError(f"unsupported command {doc.get('v')!r}/{doc.get('type')!r}")
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed command: {type(exc).__name__}") from None
    return doc


def apply_command(context: WorkerContext, doc: dict[str, Any], now_ms: int
                  ) -> tuple[dict[str, Any], BatchOutput]:
    """Apply one command to the patient's alert state: the answer (``status`` as an HTTP code)
    and the output to commit."""
    output = BatchOutput()
    command_id, patient = str(doc["id"]), str(doc["patient"])
    if patient not in context.alerts:
        return {"id": command_id, "status": 404, "error": f"no alerts for patient {patient}"}, \
            output
    state = context.patient_alerts(patient, now_ms)
    settings = context.settings_for(patient)
    if doc["type"] == "tick":
        due = policy.next_due_ms(state, settings, now_ms)
        events = policy.tick(state, settings, now_ms) if due is not None and due <= now_ms \
            else []
    else:
        action = doc.get("action")
        if action not in ACTIONS:
            return {"id": command_id, "status": 400,
                    "error": "action: ack, snooze or resolve"}, output
        try:
            events = policy.act(
                state, settings, str(doc.get("alert_id", "")),
                cast(Literal["ack", "snooze", "resolve"], action),
                str(doc.get("actor", "")), now_ms, note=str(doc.get("note") or ""),
                until_ms=doc.get("until_ms"))
        except ActionError as exc:
            status = 404 if str(exc).startswith("no alert") else 409
            return {"id": command_id, "status": status, "error": str(exc)}, output
    if events:
        output.add_alert_events(patient, events)
    return {"id": command_id, "status": 200, "events": [e.to_json() for e in events]}, output


async def handle_command(context: WorkerContext, raw: bytes) -> dict[str, Any]:
    try:
        doc = parse_command(raw)
    except ValueError as exc:
        log.error("alert command dropped: %s", exc)
        return {"id": None, "status": 400, "error": "malformed command"}
    await context.ready()
    async with context.lock:
        reply, output = apply_command(context, doc, _now_ms())
        await commit(output, context.sinks, context.patients, context.alerts)
    return reply


def add_alert_agents(app: faust.App, context: WorkerContext, topic: Any) -> AlertCommands:
    commands = AlertCommands(topic)
    loaded = {"all": False}
    tick_every_ms = int(context.settings.alert_tick_s * 1000)

    @app.agent(topic, name="alert-commands")
    async def alert_commands(stream: faust.StreamT[bytes]) -> None:
        async for raw in stream:
            try:
                reply = await handle_command(context, raw)
            except Exception:
                fail_stop("applying an alert command")
            try:
                patient = orjson.loads(raw).get("patient")
                commands.ticks_pending.pop(str(patient), None)
            except (ValueError, AttributeError):
                pass
            commands.answer(reply)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(app: faust.App, assigned: set[Any], **kwargs: Any) -> None:
        loaded["all"] = False  # load the recovered alert states again at the next tick

    @app.timer(context.settings.alert_tick_s)
    async def escalation_timer() -> None:
        recovery = getattr(app.tables, "recovery", None)
        if app.rebalancing or recovery is None or not recovery.completed.is_set():
            return
        if not context.directory.ready:
            context.directory.start()
            return
        now_ms = _now_ms()
        if not loaded["all"]:
            context.alerts.load_all()
            loaded["all"] = True
        for patient, state in context.alerts.cached():
            due = policy.next_due_ms(state, context.settings_for(patient), now_ms)
            if due is None or due > now_ms:
                continue
            if now_ms - commands.ticks_pending.get(patient, 0) < 6 * tick_every_ms:
                continue  # a tick is on its way
            commands.ticks_pending[patient] = now_ms
            await commands.send(tick_command(patient))

    return commands
