"""The cluster-wide alerts view: one ``AlertBoard`` fed from every partition, and actions on any
alert, whichever worker owns the patient.

``AlertsFeed`` follows the alerts, deliveries and alert-replies topics from the start
(``TopicFollower``, outside the consumer group), so every worker's API and the console see every
alert. ``act`` sends a command keyed by the alert's patient to the alert-commands topic (the
owning worker applies it) and waits until the reply *and* the events it caused are on the board:
what the sender then shows is what every other reader sees.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from wearmon.stream.alerts.board import AlertBoard, AlertCard
from wearmon.stream.alerts.command import act_command, read_reply
from wearmon.stream.alerts.lifecycle import AlertEvent
from wearmon.stream.config import Settings
from wearmon.stream.core.records import Unreadable, read_json
from wearmon.stream.notify.deliver import DeliveryResult
from wearmon.stream.views.follow import FollowedView, TopicFollower

log = logging.getLogger(__name__)

#: Publishes one command document (key = its patient) and waits for the broker's ack.
SendCommand = Callable[[dict[str, Any]], Awaitable[None]]
PRUNE_EVERY_MS = 60_000


@dataclass(frozen=True, slots=True)
class ActResult:
    """``status`` as an HTTP code: 200 applied, 202 not answered in time, 404, 409, 400."""

    status: int
    command_id: str
    error: str = ""
    events: tuple[AlertEvent, ...] = ()


class AlertsFeed(FollowedView):
    def __init__(self, settings: Settings, send: SendCommand) -> None:
        self.settings = settings
        self.board = AlertBoard()
        self._send = send
        self._changed = asyncio.Event()
        self._pruned_ms = 0
        self.skipped = 0  # records that could not be read
        self.follower = TopicFollower(
            settings,
            [settings.topics.alerts, settings.topics.deliveries, settings.topics.alert_replies],
            self._apply, "alerts-feed", after_batch=self._after_batch, reset=self._reset)

    async def changed(self, timeout_s: float) -> bool:
        """Wait until the board changes (True) or ``timeout_s`` passes (False)."""
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def card(self, alert_id: str) -> AlertCard | None:
        return self.board.cards.get(alert_id)

    async def act(self, card: AlertCard, action: str, actor: str, note: str = "",
                  until_ms: int | None = None, timeout_s: float = 10.0) -> ActResult:
        """Send an action on ``card``'s alert and wait for its result on the board."""
        command = act_command(card.patient, card.alert_id, action, actor, note, until_ms,
                              now_ms=time.time_ns() // 1_000_000)
        command_id = str(command["id"])
        await self._send(command)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while (answer := self.board.answer(command_id)) is None:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 or not await self.changed(left):
                return ActResult(202, command_id)
        events = tuple(e for c in self.board.cards.values() for e in c.history
                       if e.command_id == command_id)
        return ActResult(int(answer["status"]), command_id, str(answer.get("error", "")), events)

    # --- the follower's callbacks ---------------------------------------------------------

    def _apply(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """One record of the three topics; any other shape is a logged and counted skip (this
        never raises: the follower would read the topics again from the start)."""
        try:
            if topic == self.settings.topics.alerts:
                self.board.apply_event(read_json(value, AlertEvent.from_json))
            elif topic == self.settings.topics.deliveries:
                self.board.apply_delivery(read_json(value, DeliveryResult.from_json).to_json())
            else:
                self.board.apply_reply(read_reply(value))
        except Unreadable as error:
            self.skipped += 1
            log.error("alerts feed: record on %s skipped: %s %s", topic, error.field,
                      error.reason)

    def _after_batch(self) -> None:
        now_ms = time.time_ns() // 1_000_000
        if now_ms - self._pruned_ms > PRUNE_EVERY_MS:
            self._pruned_ms = now_ms
            self.board.prune(now_ms, int(self.settings.console.keep_resolved_s * 1000))
        self._changed.set()  # wake everyone waiting, then start a new generation
        self._changed = asyncio.Event()

    def _reset(self) -> None:
        self.board = AlertBoard()
