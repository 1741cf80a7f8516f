"""The alerts HTTP API on the worker's web server (``WEARMON_WEB_HOST``:``WEARMON_WEB_PORT``).

Every request needs ``Authorization: Bearer $WEARMON_API_TOKEN``; without a configured token the
API is disabled (HTTP 503 and a warning at start-up), never open. It serves the cluster-wide
alerts view (``views.alerts_feed``): any worker answers for every patient.

* ``GET /alerts`` — open alerts of all patients, most severe and oldest first (with the time
  opened, escalation step, who acknowledged and the care-team recipients paged).
* ``POST /alerts/{alert_id}/ack|snooze|resolve`` with JSON ``{"actor": …, "note": …,
  "until_ms": …}`` (``until_ms`` for snooze). The action becomes a command keyed by the patient on
  the alert-commands topic, applied by the worker that owns the patient; the answer is ``200``
  with the resulting events, ``404``/``409`` when it cannot apply, or ``202`` with the command id
  when it did not come within ``WEARMON_API_WAIT_S``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

import faust
import orjson
from faust.web import Request, Response, View

from wearmon.stream.alerts.board import AlertCard
from wearmon.stream.alerts.command import ACTIONS
from wearmon.stream.notify.render import escalation_step
from wearmon.stream.views.alerts_feed import AlertsFeed, SendCommand
from wearmon.stream.views.patients import PatientsView

log = logging.getLogger(__name__)


def topic_sender(topic: Any) -> SendCommand:
    """Send commands through a Faust topic (key = the command's patient), awaiting the ack."""

    async def send(command: dict[str, Any]) -> None:
        await (await topic.send(key=str(command["patient"]).encode(),
                                value=orjson.dumps(command)))

    return send


def add_api(app: faust.App, feed: AlertsFeed, directory: PatientsView, token: str,
            wait_s: float) -> None:
    """The alerts API on ``app``'s web server (``token`` empty: disabled, HTTP 503)."""
    if not token:
        log.warning("WEARMON_API_TOKEN is not set: the alerts API is disabled (HTTP 503)")

    def refuse(view: View, request: Request) -> Response | None:
        if not token:
            return view.error(503, "alerts API disabled: set WEARMON_API_TOKEN on the worker")
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return view.error(401, "missing or wrong bearer token",
                              headers={"WWW-Authenticate": "Bearer"})
        return None

    def team_size(card: AlertCard) -> int:
        patient = directory.get(card.patient)
        return len(patient.care_team) if patient is not None else 1

    @app.page("/alerts")
    class OpenAlerts(View):
        async def get(self, request: Request) -> Response:
            denied = refuse(self, request)
            if denied is not None:
                return denied
            if not await view_ready(feed, wait_s):
                return self.error(503, "the alerts view is still loading; try again")
            return self.json({"alerts": [
                {**card.to_json(), "escalation": escalation_step(card.level, team_size(card))}
                for card in feed.board.open_cards()]})

    @app.page("/alerts/{alert_id}/{action}")
    class AlertAction(View):
        async def post(self, request: Request, alert_id: str, action: str) -> Response:
            denied = refuse(self, request)
            if denied is not None:
                return denied
            if action not in ACTIONS:
                return self.error(404, f"unknown action {action!r} (ack, snooze or resolve)")
            try:
                body: Any = orjson.loads(await request.read() or b"{}")
            except orjson.JSONDecodeError:
                return self.error(400, "body must be JSON")
            if not isinstance(body, dict):
                return self.error(400, "body must be a JSON object")
            actor, note, until_ms = body.get("actor"), body.get("note", ""), body.get("until_ms")
            if not isinstance(actor, str) or not actor.strip():
                return self.error(400, "actor is required (who acts is part of the audit trail)")
            if not isinstance(note, str):
                return self.error(400, "note must be a string")
            if action == "snooze" and not isinstance(until_ms, int):
                return self.error(400, "snooze needs until_ms (epoch milliseconds)")
            if not await view_ready(feed, wait_s):
                return self.error(503, "the alerts view is still loading; try again")
            card = feed.card(alert_id)
            if card is None:
                return self.error(404, f"no alert {alert_id}")
            result = await feed.act(card, action, actor, note,
                                    until_ms if action == "snooze" else None, wait_s)
            if result.status == 202:
                return self.json({"command_id": result.command_id, "status": "accepted"},
                                 status=202)
            if result.status != 200:
                return self.error(result.status, result.error)
            return self.json({"command_id": result.command_id,
                              "events": [e.to_json() for e in result.events]})

    @app.task
    async def start_feed() -> None:
        feed.start()


async def view_ready(feed: AlertsFeed, timeout_s: float) -> bool:
    try:
        await asyncio.wait_for(feed.wait_ready(), timeout_s)
    except TimeoutError:
        return False
    return True
