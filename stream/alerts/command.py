"""Alert commands and their replies: the wire format on the alert-commands and replies topics.

A command is keyed by patient id, so it reaches the worker that owns the patient's alert state,
whoever sent it (a worker's API, the console, the escalation timer). Every ``act`` command gets
one reply on the replies topic, ``status`` as an HTTP code (200 applied, 404 unknown alert, 409
cannot apply, 400 malformed) and the number of alert events it caused; those events carry the
command id, so a sender knows when the result is visible on the alerts topic.

>>> import orjson
>>> doc = act_command("p-0001", "p-0001:bradycardia:0", "ack", "nurse.jo", now_ms=5)
>>> parse_command(orjson.dumps(doc))["action"]
'ack'
>>> parse_command(b'{"v": 1}')
Traceback (most recent call last):
...
wearmon.stream.core.records.Unreadable: id: wrong_type (non-empty text expected)
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from wearmon.stream.core.records import Unreadable, checked, read_json

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
    """A command document, or ``Unreadable`` naming the field and reason (whatever the record
    holds).

    >>> [e.reason for e in _errors([None, b"", b"[]", b'{"id": 1}', b"\\xff", b'{"id": "1"}'])]
    ['empty', 'empty', 'not_an_object', 'wrong_type', 'not_json', 'wrong_type']
    """
    return read_json(raw, checked_command)


def checked_command(doc: dict[str, Any]) -> dict[str, Any]:
    for name in ("id", "patient"):
        if not isinstance(doc.get(name), str) or not doc[name]:
            raise Unreadable(name, "wrong_type", "non-empty text expected")
    if doc.get("v") != COMMAND_VERSION or doc.get("type") not in ("act", "tick"):
        raise Unreadable("type", "unsupported", "not a version 1 act or tick command")
    return doc


def _errors(values: list[bytes | None]) -> list[Unreadable]:
    out = []
    for value in values:
        try:
            parse_command(value)
        except Unreadable as error:
            out.append(error)
    return out


#: A reply's fields (``reply`` writes them).
REPLY_FIELDS: dict[str, Any] = {"id": str, "patient": str, "status": int, "error": str,
                                "events": int}


def read_reply(raw: bytes | None) -> dict[str, Any]:
    """A reply document, or ``Unreadable``.

    >>> read_reply(b'{"id": "c1", "patient": "p-1", "status": 200, "error": "", "events": 2}')
    {'id': 'c1', 'patient': 'p-1', 'status': 200, 'error': '', 'events': 2}
    """
    return read_json(raw, lambda doc: checked(doc, REPLY_FIELDS))


def reply(command_id: str, patient: str, status: int, error: str = "", events: int = 0
          ) -> dict[str, Any]:
    """The answer to one ``act`` command (published on the replies topic, key = patient)."""
    return {"v": COMMAND_VERSION, "id": command_id, "patient": patient, "status": status,
            "error": error, "events": events}
