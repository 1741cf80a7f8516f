"""Alert commands and their replies: the wire format on the alert-commands and replies topics.

A command is keyed by patient id, so it reaches the worker that owns the patient's alert state,
whoever sent it (a worker's API, the console, the escalation timer). Every ``act`` command gets
one reply on the replies topic, ``status`` as an HTTP code (200 applied, 404 unknown alert, 409
cannot apply, 400 malformed) and the number of alert events it caused; those events carry the
command id, so a sender knows when the result is visible on the alerts topic.

>>> doc = act_command("p-0001", "p-0001:bradycardia:0", "ack", "nurse.jo", now_ms=5)
>>> parse_command(orjson.dumps(doc))["action"]
'ack'
>>> parse_command(b'{"v": 1}')
Traceback (most recent call last):
...
ValueError: malformed command: KeyError
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import orjson

ACTIONS = ("ack", "snooze", "resolve")
COMMAND_VERSION = 1
ActionName = Literal["ack", "snooze", "resolve"]


def act_command(patient: str, alert_id: str, action: str, actor: str, note: str = "",
                until_ms: int | None = None, *, now_ms: int) -> dict[str, Any]:
    return {"v": COMMAND_VERSION, "id": uuid.uuid4().hex, "type": "act", "patient": patient,
            "alert_id": alert_id, "action": action, "actor": actor, "note": note,
            "until_ms": until_ms, "sent_ms": now_ms}


def tick_command(patient: str, *, now_ms: int) -> dict[str, Any]:
    return {"v": COMMAND_VERSION, "id": uuid.uuid4().hex, "type": "tick", "patient": patient,
            "sent_ms": now_ms}


def parse_command(raw: bytes | None) -> dict[str, Any]:
    """A command document, or ``ValueError`` (whatever the record holds).

    >>> len(_errors([None, b"", b"[]", b'{"id": 1}', b"\\xff", b'{"id": 1, "patient": 2}']))
    6
    """
    try:
        if raw is None:
            raise TypeError("no value")
        doc = orjson.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        str(doc["id"]), str(doc["patient"])
        if doc.get("v") != COMMAND_VERSION or doc.get("type") not in ("act", "tick"):
            raise ValueError(f"unsupported command {doc.get('v')!r}/{doc.get('type')!r}")
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed command: {type(exc).__name__}") from None
    return doc


def _errors(values: list[bytes | None]) -> list[ValueError]:
    out = []
    for value in values:
        try:
            parse_command(value)
        except ValueError as error:
            out.append(error)
    return out


def reply(command_id: str, patient: str, status: int, error: str = "", events: int = 0
          ) -> dict[str, Any]:
    """The answer to one ``act`` command (published on the replies topic, key = patient)."""
    return {"v": COMMAND_VERSION, "id": command_id, "patient": patient, "status": status,
            "error": error, "events": events}
