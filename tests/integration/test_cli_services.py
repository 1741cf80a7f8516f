"""CLI commands against the real broker: device tokens; a worker whose InfluxDB is missing."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner

from tests.conftest import Services
from wearmon.stream.cli import main

pytestmark = pytest.mark.integration


def test_devices_issue_list_revoke(services: Services) -> None:
    env = {"WEARMON_BROKER": services.broker_url,
           "WEARMON_TOPIC_DEVICES": f"devices-{uuid.uuid4().hex[:8]}"}
    runner = CliRunner()
    issued = runner.invoke(main, ["devices", "issue", "watch-cli-1", "--patient", "p-cli-0001"],
                           env=env)
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    assert token.startswith("wmd_") and len(token) > 40
    assert "shown only once" in issued.stderr
    listed = runner.invoke(main, ["devices", "list"], env=env)
    assert listed.exit_code == 0
    assert "watch-cli-1\tpatient=p-cli-0001\t" in listed.stdout
    assert token not in listed.stdout  # only a fingerprint of its digest
    assert runner.invoke(main, ["devices", "revoke", "watch-cli-1"], env=env).exit_code == 0
    assert runner.invoke(main, ["devices", "list"], env=env).stdout == ""
    again = runner.invoke(main, ["devices", "revoke", "watch-cli-1"], env=env)
    assert again.exit_code == 1 and "has no token" in again.output
