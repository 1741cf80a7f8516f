"""`wearmon demo` with nothing configured: its own services whatever .env says, the console
with a demo login during the run (a live alert acknowledged through it), the inbox, a summary,
and no process or temporary folder left behind."""

from __future__ import annotations

import http.cookiejar
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LOGIN = re.compile(r"Care-team console: (http://127\.0\.0\.1:\d+)\s+\(login: (\S+) / (\S+)\)")


def processes_with(marker: bytes) -> set[int]:
    """Processes whose environment carries ``marker`` (inherited by everything the demo starts)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes():
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def demo_env(tmp_path: Path) -> tuple[dict[str, str], bytes]:
    """No WEARMON_* variables, a private TMPDIR, a .env that points elsewhere, and a marker."""
    (tmp_path / ".env").write_text("WEARMON_BROKER=kafka://127.0.0.1:9\n"
                                   "WEARMON_INFLUX_URL=http://127.0.0.1:9\n")
    (tmp_path / "tmp").mkdir()
    marker = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEARMON_")}
    env |= {"DEMO_TEST_MARKER": marker, "TMPDIR": str(tmp_path / "tmp")}
    return env, marker.encode()


class Browserless:
    """A care-team user with cookies, speaking HTML forms to the console."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            return str(response.read().decode())

    def post(self, path: str, form: dict[str, str]) -> str:
        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(self.base + path, data=data, timeout=30) as response:
            return str(response.read().decode())

    def log_in(self, user: str, password: str) -> None:
        page = self.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf
        landed = self.post("/login", {"csrf": csrf.group(1), "username": user,
                                      "password": password, "next": "/"})
        assert "Open alerts" in landed


def test_demo_runs_its_own_services_and_the_loop_works_during_it(tmp_path: Path) -> None:
    env, marker = demo_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "wearmon", "demo", "--duration", "75", "--patients", "4"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + 120  # reading the demo's output line by line: not a poll
        login = None
        while login is None:
            try:
                line = lines.get(timeout=max(1.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("no console login in the demo's output:\n"
                                     + "".join(output)) from None
            login = LOGIN.search(line)
        base, user, password = login.groups()
        nurse = Browserless(base)

        def logged_in() -> bool:
            try:
                nurse.log_in(user, password)
            except OSError:  # the console is not listening yet
                return False
            return True

        def ack_form() -> re.Match[str] | None:
            return re.search(r'action="(/alerts/[^/"]+/ack)"[\s\S]*?name="csrf" value="([^"]+)"',
                             nurse.get("/fragments/alerts"))

        # the console starts with the demo; the first live alert opens soon after: 90 s for both
        started = time.monotonic()
        wait_until(logged_in, "a login to the demo's console", 90, interval_s=0.5,
                   detail=lambda: "".join(output))
        ack = wait_until(ack_form, "an alert in the console",
                         90 - (time.monotonic() - started), interval_s=1,
                         detail=lambda: "".join(output))
        page = nurse.post(ack.group(1), {"csrf": ack.group(2), "note": "seen in the demo"})
        assert "Acknowledged by Demo nurse" in page
        assert proc.wait(timeout=240) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(output)
    assert "ignoring WEARMON_BROKER, WEARMON_INFLUX_URL" in out  # .env is not used
    assert "started the embedded Kafka-protocol broker" in out
    assert "started a local InfluxDB" in out
    assert "Late data" not in out  # real time after a short fast-forward
    assert "ALERT " in out and "INBOX to " in out  # plain lines: not a terminal
    assert f"{{'acknowledged by {user}': 1}}" in out
    processed = next(line for line in out.splitlines() if "worker processed" in line)
    sent = next(line for line in out.splitlines() if "uploads sent" in line)
    assert sent.split()[2].rstrip(",") == processed.split()[2]
    delivered = next(line for line in out.splitlines() if "delivered to the inbox" in line)
    assert int(delivered.rsplit(" ", 1)[1]) > 0
    assert "heart-rate points in InfluxDB" in out
    assert not processes_with(marker), "the demo left processes behind"
    assert not list((tmp_path / "tmp").iterdir()), "the demo left temporary files behind"
