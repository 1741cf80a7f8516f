"""The care team's actions in InfluxDB: one ``alert_audit`` point per acknowledge, snooze or
resolve, with the user who acted (the ``alert`` points of ``sinks.lines`` carry no actor).

Tags ``patient``, ``kind``, ``action``; fields ``alert_id``, ``actor``, ``state``, ``note``.
The point's time is the action's time (plus the alert's step in nanoseconds, like ``alert``
points). A command applied again after a crash gets a new time and writes a second point.

>>> from wearmon.models.base import Severity
>>> from wearmon.stream.alerts.lifecycle import Action, AlertEvent, AlertState, Category
>>> e = AlertEvent("p-1:bradycardia:0", "p-1", "bradycardia", Severity.CRITICAL,
...     AlertState.ACKNOWLEDGED, 1_000, "nurse.jo", "on my way", 2, Action.ACKNOWLEDGED,
...     Category.CLINICAL)
>>> line = audit_line(e)
>>> line.split(" ")[0], 'actor="nurse.jo"' in line, line.split(" ")[-1]
('alert_audit,action=acknowledged,kind=bradycardia,patient=p-1', True, '1000000002')
"""

from __future__ import annotations

from influxdb_client import Point, WritePrecision

from wearmon.stream.alerts.lifecycle import SYSTEM, AlertEvent

NS_PER_MS = 1_000_000


def audit_line(event: AlertEvent) -> str:
    p = Point("alert_audit").time(event.at_ms * NS_PER_MS + min(event.step, 999_999),
                                  WritePrecision.NS)
    p.tag("patient", event.patient).tag("kind", event.kind).tag("action", event.action.value)
    p.field("alert_id", event.alert_id).field("actor", event.actor)
    p.field("state", event.state.value).field("note", event.note)
    return str(p.to_line_protocol())


def audit_lines(events: list[AlertEvent]) -> list[str]:
    """Points for the events a person caused (the system's own transitions are not audited here:
    they are the ``alert`` points)."""
    return [audit_line(e) for e in events if e.actor != SYSTEM]
