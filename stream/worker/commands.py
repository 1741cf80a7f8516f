"""Alert commands: care-team actions and timer ticks applied to the alert table by one agent.

Faust tables change only inside an agent's stream iteration, so both the HTTP API (acknowledge,
snooze, resolve) and the escalation timer send *commands* to ``WEARMON_TOPIC_ALERT_COMMANDS``,
keyed by patient id (co-partitioned with the telemetry and the ``alert-state`` table). The
``alert-commands`` agent applies each one with ``stream.alerts.policy.act`` / ``tick`` under the
worker's alert lock, then does what a telemetry batch does with alert events: ``alert`` points
in InfluxDB (awaited), the events on the alerts topic (awaited), the state saved to the table.

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
from typing import TYPE_CHECKING, Any, Literal, cast

import faust
import orjson

from wearmon.stream.alerts import policy as alerting
from wearmon.stream.alerts.lifecycle import ActionError
from wearmon.stream.config import Settings
from wearmon.stream.worker.faust_io import bytes_topic, fail_stop

if TYPE_CHECKING:
    from wearmon.stream.worker.app import BatchProcessor

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


def known_patient(processor: BatchProcessor, patient: str) -> bool:
    if patient in processor.alert_cache:
        return True
    return processor.alert_table.get(patient.encode()) is not None


async def apply_command(processor: BatchProcessor, raw: bytes) -> dict[str, Any]:
    """Apply one command; returns the answer (``status`` as an HTTP code)."""
    try:
        doc = orjson.loads(raw)
        command_id, kind, patient = str(doc["id"]), doc["type"], str(doc["patient"])
        if doc.get("v") != COMMAND_VERSION or kind not in ("act", "tick"):
            raise ValueError(f"unsupported command {doc.get('v')!r}/{kind!r}")
    except (ValueError, KeyError, TypeError) as exc:
        log.error("alert command dropped: %s", exc)
        return {"id": None, "status": 400, "error": "malformed command"}
    await processor.ready()
    async with processor.lock:
        now_ms = _now_ms()
        if not known_patient(processor, patient):
            return {"id": command_id, "status": 404, "error": f"no alerts for patient {patient}"}
        state = processor._alerts(patient, now_ms)
        settings = processor._settings_for(patient)
        if kind == "tick":
            due = alerting.next_due_ms(state, settings, now_ms)
            events = alerting.tick(state, settings, now_ms) if due is not None and due <= now_ms \
                else []
        else:
            action = doc.get("action")
            if action not in ACTIONS:
                return {"id": command_id, "status": 400, "error": "action: ack, snooze or resolve"}
            try:
                events = alerting.act(
                    state, settings, str(doc.get("alert_id", "")),
                    cast(Literal["ack", "snooze", "resolve"], action),
                    str(doc.get("actor", "")), now_ms, note=str(doc.get("note") or ""),
                    until_ms=doc.get("until_ms"))
            except ActionError as exc:
                status = 404 if str(exc).startswith("no alert") else 409
                return {"id": command_id, "status": status, "error": str(exc)}
        if events:
            await processor.write_alert_points(events)
            await processor._publish([], [], events)
            processor.save_alerts({patient})
        return {"id": command_id, "status": 200, "events": [e.to_json() for e in events]}


def add_alert_agents(app: faust.App, settings: Settings, processor: BatchProcessor,
                     alert_table: Any, alerts: Any) -> AlertCommands:
    topic = bytes_topic(app, settings.topic_alert_commands, settings)
    commands = AlertCommands(topic)
    app.wearmon_commands = commands  # type: ignore[attr-defined]
    loaded = {"all": False}
    tick_every_ms = int(settings.alert_tick_s * 1000)

    @app.agent(topic, name="alert-commands")
    async def alert_commands(stream: faust.StreamT[bytes]) -> None:
        async for raw in stream:
            try:
                reply = await apply_command(processor, raw)
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

    @app.timer(settings.alert_tick_s)
    async def escalation_timer() -> None:
        recovery = getattr(app.tables, "recovery", None)
        if app.rebalancing or recovery is None or not recovery.completed.is_set():
            return
        directory = processor.directory
        if directory is not None and not directory.ready:
            directory.start()
            return
        now_ms = _now_ms()
        if not loaded["all"]:
            for key in list(alert_table.keys()):
                processor._alerts(key.decode(), now_ms)
            loaded["all"] = True
        for patient, state in list(processor.alert_cache.items()):
            due = alerting.next_due_ms(state, processor._settings_for(patient), now_ms)
            if due is None or due > now_ms:
                continue
            if now_ms - commands.ticks_pending.get(patient, 0) < 6 * tick_every_ms:
                continue  # a tick is on its way
            commands.ticks_pending[patient] = now_ms
            await commands.send(tick_command(patient))

    return commands
