"""CLI commands against the real broker: device tokens, and a worker whose InfluxDB is missing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import Services
from wearmon.stream.cli import main
from wearmon.stream.tools.services import free_port

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


def test_a_worker_without_its_influxdb_stops_in_one_line(services: Services,
                                                          tmp_path: Path) -> None:
    influx = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {**os.environ, "WEARMON_BROKER": services.broker_url, "WEARMON_INFLUX_URL": influx}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "wearmon", "worker"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and time.monotonic() - started < 15
    assert done.stderr.count("\n") == 1, done.stderr
    assert influx in done.stderr and "WEARMON_INFLUX_URL" in done.stderr
