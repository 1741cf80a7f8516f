"""What a worker exposes: its web server binds WEARMON_WEB_HOST, Faust's own pages are off."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Worker
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses with a socket listening on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, local_port = local.split(":")
        if state == "0A" and int(local_port, 16) == port:  # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def wait_healthy(worker: Worker, timeout_s: float = 60.0) -> None:
    wait_until(worker.running_health, "the worker's web server to answer", timeout_s,
               until=lambda health: health is not None, interval_s=0.2, detail=worker.log_tail)


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_web_server_binds_loopback_and_hides_fausts_pages(
        make_worker: Callable[..., Worker]) -> None:
    worker = make_worker()
    worker.start()
    wait_healthy(worker)
    assert listening_addresses(worker.web_port) == {"127.0.0.1"}
    base = f"http://127.0.0.1:{worker.web_port}"
    for page in ("/router/", "/table/", "/stats/", "/graph/"):
        assert status(base + page) == 404, page
    assert status(base + "/health") == 200


def test_another_bind_address_is_a_setting(make_worker: Callable[..., Worker]) -> None:
    worker = make_worker(WEARMON_WEB_HOST="0.0.0.0")
    worker.start()
    wait_healthy(worker)
    assert listening_addresses(worker.web_port) == {"0.0.0.0"}
