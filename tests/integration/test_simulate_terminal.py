"""Ctrl-C in a real pseudo-terminal stops `wearmon simulate --forever` cleanly, with its counts."""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import subprocess
import sys
import termios
import time
import uuid

import pytest

from tests.conftest import REPO, Services
from tests.integration.test_gateway import read_topic
from wearmon.stream.config import load_settings

pytestmark = pytest.mark.integration


def read_all(fd: int, timeout_s: float) -> str:
    """Everything the terminal shows until the program closes it (or the timeout): reading a
    stream, not a poll (each read blocks until output comes or the terminal closes)."""
    out = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        out += chunk
    return out.decode(errors="replace")


def controlling_terminal() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_ctrl_c_stops_the_forever_simulator_and_prints_what_it_sent(services: Services) -> None:
    topic = f"telemetry-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "WEARMON_BROKER": services.broker_url, "WEARMON_PARTITIONS": "2",
           "WEARMON_TOPIC_TELEMETRY": topic}
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wearmon", "simulate", "--patients", "2", "--duration", "600",
         "--speed", "0", "--forever"], cwd=REPO, env=env, stdin=slave, stdout=slave,
        stderr=slave, preexec_fn=controlling_terminal)
    os.close(slave)
    try:
        settings = load_settings({"WEARMON_BROKER": services.broker_url,
                                  "WEARMON_TOPIC_TELEMETRY": topic, "WEARMON_PARTITIONS": "2"})
        assert asyncio.run(read_topic(settings, 1, timeout_s=60)), "nothing was sent"
        assert proc.poll() is None  # --forever: still running after the history
        os.write(master, b"\x03")  # Ctrl-C typed on the terminal
        screen = read_all(master, timeout_s=30)
        assert proc.wait(timeout=30) == 0, screen
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    sent = re.search(r"sent (\d+) uploads, (\d+) samples", screen)
    assert sent and int(sent.group(1)) > 0, screen
    assert "Traceback" not in screen and "KeyboardInterrupt" not in screen
