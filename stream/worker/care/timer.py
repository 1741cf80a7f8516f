"""The escalation timer: every ``WEARMON_ALERT_TICK_S`` it sends a ``tick`` command for every
patient of this worker whose next alert transition is due, so escalation, reminders, snooze ends
and device checks happen without new data (``care.commands`` applies them). After an assignment
it first loads every alert state of the recovered table into the due index."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import faust
import orjson

from wearmon.stream.alerts.command import tick_command
from wearmon.stream.views.patients import PatientsView
from wearmon.stream.worker.care.commands import now_ms
from wearmon.stream.worker.paging import Topic
from wearmon.stream.worker.patient_store import PatientStore

RESEND_AFTER_TICKS = 6  # a tick not applied within this many periods is sent again


@dataclass
class EscalationTimer:
    store: PatientStore
    commands: Topic
    tick_every_ms: int
    pending: dict[str, int] = field(default_factory=dict)  # patient → when a tick was sent
    loaded: bool = False  # the due index holds every alert state of the assigned partitions

    def reassigned(self) -> None:
        self.loaded = False  # load the recovered alert states again at the next tick

    def ticked(self, patient: str) -> None:
        self.pending.pop(patient, None)

    async def tick(self) -> None:
        """Send a tick for every due patient that has none on its way."""
        at_ms = now_ms()
        if not self.loaded:
            self.loaded = True
            await self.store.load_due_index(at_ms)
        for patient, due in list(self.store.due_ms.items()):
            if due > at_ms:
                continue
            if at_ms - self.pending.get(patient, 0) < RESEND_AFTER_TICKS * self.tick_every_ms:
                continue  # a tick is on its way
            self.pending[patient] = at_ms
            command = tick_command(patient, now_ms=at_ms)
            await (await self.commands.send(key=patient.encode(), value=orjson.dumps(command)))


def add_escalation_timer(app: faust.App, timer: EscalationTimer, period_s: float,
                         directory: PatientsView) -> None:
    """Run ``timer`` every ``period_s`` once the tables are recovered and the patients read."""

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(app: faust.App, assigned: set[Any], **kwargs: Any) -> None:
        timer.reassigned()

    @app.timer(period_s)
    async def escalation_timer() -> None:
        recovery = getattr(app.tables, "recovery", None)
        if app.rebalancing or recovery is None or not recovery.completed.is_set():
            return
        if not directory.ready:
            directory.start()  # idempotent: the agents may not have needed it yet
            return
        await timer.tick()
