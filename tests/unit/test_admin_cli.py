"""CLI: invalid patient settings are rejected before contacting anything; notification points."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from wearmon.stream.cli import main
from wearmon.stream.notify.deliver import DeliveryResult, DeliveryStatus
from wearmon.stream.notify.outbox import Audience
from wearmon.stream.sinks.lines import notification_line


def test_invalid_settings_are_rejected_naming_the_field(tmp_path: Path) -> None:
    doc = {"patient_id": "p-0001", "care_team": [{"id": "n", "url": "nonsense://x"}],
           "policy": {"battery_low_pct": 50, "battery_ok_pct": 20}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    # no broker configured: the command must fail on the settings, not on the broker
    result = CliRunner().invoke(main, ["patients", "set", "--file", str(path)],
                                env={"WEARMON_BROKER": ""})
    assert result.exit_code == 1
    assert "care_team.0.url: not a notification URL that Apprise understands" in result.output
    assert "policy: battery_ok_pct must be above battery_low_pct" in result.output
    assert "nonsense" not in result.output  # submitted values (may be secrets) are not echoed


def test_alerts_cli_needs_a_token() -> None:
    result = CliRunner().invoke(main, ["alerts", "list"], env={"WEARMON_API_TOKEN": ""})
    assert result.exit_code == 1 and "WEARMON_API_TOKEN" in result.output


def test_notification_line_has_the_dashboard_tags_and_no_content() -> None:
    result = DeliveryResult(key="p-0001:x:0|nurse|0", alert_id="p-0001:x:0", patient="p-0001",
                            recipient_id="nurse", audience=Audience.CARE_TEAM, step=0,
                            status=DeliveryStatus.SENT, attempts=1, at_ms=1_700_000_000_000,
                            latency_ms=42)
    line = notification_line(result)
    assert line.startswith(
        "notification,audience=care_team,patient=p-0001,recipient_id=nurse,status=sent ")
    assert 'alert_id="p-0001:x:0"' in line and "attempts=1i" in line and "latency_ms=42i" in line
    assert int(line.rsplit(" ", 1)[1]) // 1_000_000 == result.at_ms  # nanoseconds
