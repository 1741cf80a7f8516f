"""``wearmon sink`` against a real InfluxDB that is away or refuses its credentials.

* A refused password stops it at start-up with one line naming what to set (no traceback).
* An InfluxDB that does not answer is an outage: one line, then it waits (``/ready`` says why).
* Credentials refused while it runs: ``/ready`` gives the reason within 30 s, nothing is
  committed, and the lag on ``/metrics`` equals the records waiting on its topics (the backlog
  the broker holds); the worker judges everything meanwhile.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from tests.conftest import REPO, Worker, sink_backlog
from tests.integration.conftest import send_messages, settings_of
from tests.integration.test_alert_notifications import uploads
from tests.integration.test_worker_metrics import scrape
from tests.waiting import wait_until
from wearmon.stream.tools.services import Service, free_port, start_influxd

pytestmark = pytest.mark.integration
ADMIN, PASSWORD = "wearmon", "the right password"


@pytest.fixture
def secured() -> Iterator[Service]:
    """An InfluxDB with authentication on, and its admin user."""
    influx = start_influxd(auth=True)
    try:
        query(influx.url, f"CREATE USER \"{ADMIN}\" WITH PASSWORD '{PASSWORD}' WITH ALL PRIVILEGES")
        yield influx
    finally:
        influx.stop()


def query(url: str, text: str, user: str = "", password: str = "") -> Any:
    params = {"q": text, **({"u": user, "p": password} if user else {})}
    request = urllib.request.Request(f"{url}/query?{urllib.parse.urlencode(params)}",
                                     method="POST")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return orjson.loads(resp.read())


def ready(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())
    except OSError:
        return 0, {}


def test_a_refused_password_stops_the_sink_at_start_up_with_one_line(
        make_worker: Callable[..., Worker], secured: Service) -> None:
    worker = make_worker(WEARMON_INFLUX_URL=secured.url, WEARMON_INFLUX_USERNAME=ADMIN,
                         WEARMON_INFLUX_PASSWORD="a wrong one")
    done = subprocess.run([sys.executable, "-m", "wearmon", "sink"], env=worker.env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "refuses the credentials" in lines[0] and "WEARMON_INFLUX_PASSWORD" in lines[0]
    assert "a wrong one" not in done.stderr + done.stdout  # never the secret


def test_an_unreachable_influxdb_is_waited_out_and_said_once(
        make_worker: Callable[..., Worker]) -> None:
    worker = make_worker(WEARMON_INFLUX_URL=f"http://127.0.0.1:{free_port()}")
    worker.start()
    worker.wait_logged("the sink waits for it", timeout_s=60, sink=True)
    _, doc = wait_until(lambda: ready(int(worker.env["WEARMON_SINK_PORT"])),
                        "the sink's /ready", 60, until=lambda answer: answer[0] == 503)
    assert any("unreachable" in reason for reason in doc["reasons"]), doc
    assert worker.sink_proc is not None and worker.sink_proc.poll() is None


def test_credentials_refused_while_running(make_worker: Callable[..., Worker],
                                           secured: Service) -> None:
    worker = make_worker(WEARMON_INFLUX_URL=secured.url, WEARMON_INFLUX_USERNAME=ADMIN,
                         WEARMON_INFLUX_PASSWORD=PASSWORD)
    settings = settings_of(worker)
    sink_port = int(worker.env["WEARMON_SINK_PORT"])
    worker.start()
    start_ms = int(time.time() * 1000) - 20 * 60_000
    asyncio.run(send_messages(settings, uploads("p-5501", start_ms, 2, 70.0, "before")))
    worker.wait_processed(2)  # written: the credentials work
    assert ready(sink_port)[0] == 200
    query(secured.url, f"SET PASSWORD FOR \"{ADMIN}\" = 'changed by someone'", ADMIN, PASSWORD)
    asyncio.run(send_messages(settings, uploads("p-5501", start_ms + 120_000, 5, 70.0, "after")))
    _, doc = wait_until(lambda: ready(sink_port), "the sink's /ready to give the reason",
                        30, until=lambda answer: answer[0] == 503)
    assert any("refuses the credentials" in r and "WEARMON_INFLUX_PASSWORD" in r
               for r in doc["reasons"]), doc
    # the worker judged everything meanwhile (it needs Kafka only)
    wait_until(lambda: (worker.health() or {}).get("uploads", 0) >= 7, "the worker", 60)
    waiting = wait_until(lambda: asyncio.run(sink_backlog(settings)),
                         "records on the sink's topics", 30, until=lambda n: n > 0)

    def lag_metric() -> float:
        values = scrape(sink_port)
        return sum(v for (name, _), v in values.items() if name == "wearmon_sink_lag_records")

    wait_until(lag_metric, "the lag on /metrics to equal the backlog", 30,
               until=lambda lag: lag == asyncio.run(sink_backlog(settings)))
    assert waiting > 0
    values = scrape(sink_port)
    assert values[("wearmon_influx_write_failing", (("reason", "credentials"),))] == 1
    assert values[("wearmon_sink_ready", ())] == 0
