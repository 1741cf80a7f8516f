"""The alerts HTTP API on the worker's web server (``WEARMON_WEB_HOST``:``WEARMON_WEB_PORT``).

Every request needs ``Authorization: Bearer $WEARMON_API_TOKEN``; without a configured token the
API is disabled (HTTP 503 and a warning at start-up), never open.

* ``GET /alerts`` — open (active) alerts of the patients this worker owns.
* ``POST /alerts/{alert_id}/ack|snooze|resolve`` with JSON ``{"actor": …, "note": …,
  "until_ms": …}`` (``until_ms`` for snooze). The action becomes a command on the alert-commands
  topic (the table changes only in an agent); the answer is ``200`` with the resulting events,
  ``404``/``409`` when it cannot apply, or ``202`` with the command id when it did not come
  within ``WEARMON_API_WAIT_S``.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import faust
import orjson
from faust.web import Request, Response, View

from wearmon.stream.worker.commands import ACTIONS, AlertCommands, act_command
from wearmon.stream.worker.context import WorkerContext

log = logging.getLogger(__name__)


def add_api(app: faust.App, context: WorkerContext, commands: AlertCommands) -> None:
    settings = context.settings
    token = settings.api_token.get_secret_value() if settings.api_token is not None else ""
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

    @app.page("/alerts")
    class OpenAlerts(View):
        async def get(self, request: Request) -> Response:
            denied = refuse(self, request)
            if denied is not None:
                return denied
            alerts = [
                {**alert.to_json(), "patient": patient}
                for patient, state in sorted(context.alerts.everything().items())
                for alert in state.active()
            ]
            return self.json({"alerts": alerts})

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
            patient = next((p for p, st in context.alerts.everything().items()
                            if st.find(alert_id)), None)
            if patient is None:
                return self.error(404, f"no alert {alert_id} on this worker")
            command = act_command(patient, alert_id, action, actor, note,
                                  until_ms if action == "snooze" else None)
            reply = await commands.send_and_wait(command, settings.api_wait_s)
            if reply is None:
                return self.json({"command_id": command["id"], "status": "accepted"},
                                 status=202)
            if reply["status"] != 200:
                return self.error(int(reply["status"]), str(reply.get("error", "")))
            return self.json({"command_id": command["id"], "events": reply["events"]})
