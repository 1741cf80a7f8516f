"""The ``alert`` measurement: one point per lifecycle step, nanosecond timestamp, no vitals."""

from __future__ import annotations

from dataclasses import replace

from wearmon.models.base import Severity
from wearmon.stream.alerts.lifecycle import Action, AlertEvent, AlertState, Category
from wearmon.stream.sinks.lines import alert_line, audit_line


def _event(step: int, state: AlertState, action: Action) -> AlertEvent:
    return AlertEvent(
        alert_id="a-1", patient="p-0001", kind="tachycardia_at_rest", severity=Severity.WARNING,
        state=state, at_ms=1_700_000_000_000, actor="system", note="HR 130 bpm", step=step,
        action=action, category=Category.CLINICAL,
    )


def test_alert_line_tags_fields_and_unique_timestamp() -> None:
    opened = alert_line(_event(0, AlertState.OPEN, Action.OPENED))
    resolved = alert_line(_event(1, AlertState.RESOLVED, Action.RESOLVED))
    assert opened.startswith("alert,action=opened,category=clinical,kind=tachycardia_at_rest,")
    assert "patient=p-0001" in opened and "severity=warning" in opened and "state=open" in opened
    assert 'alert_id="a-1"' in opened and "code=2i" in opened and "step=0i" in opened
    assert 'title="Tachycardia at rest: opened (warning)"' in opened
    assert "130" not in opened  # the note (with vitals) is not written
    assert opened.endswith(" 1700000000000000000") and resolved.endswith(" 1700000000000000001")
    assert "code=0i" in resolved


def test_the_patients_ward_is_a_tag_of_alert_and_audit_points() -> None:
    acked = replace(_event(1, AlertState.ACKNOWLEDGED, Action.ACKNOWLEDGED), actor="nurse.jo",
                    ward="Ward 3")
    assert ",ward=Ward\\ 3" in alert_line(acked)
    assert ",ward=Ward\\ 3" in audit_line(acked)
    assert "ward=" not in alert_line(_event(0, AlertState.OPEN, Action.OPENED))
