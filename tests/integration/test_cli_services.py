"""CLI commands against the real broker: device tokens; a worker whose InfluxDB is missing."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from tests.conftest import Services, Worker
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


def test_a_worker_without_its_influxdb_says_so_in_one_line_and_waits(
        make_worker: Callable[..., Worker]) -> None:
    influx = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    worker = make_worker(WEARMON_INFLUX_URL=influx)
    worker.start()
    worker.wait_logged("check WEARMON_INFLUX_URL", timeout_s=15)
    [line] = [ln for ln in worker.log_tail().splitlines() if "WEARMON_INFLUX_URL" in ln]
    assert line.startswith(f"cannot reach InfluxDB at {influx} within ")
    assert "the worker waits for it" in line
    assert worker.proc is not None and worker.proc.poll() is None  # backpressure, not an exit
