"""Ctrl-C of `wearmon demo --duration 0` in a real pseudo-terminal: the terminal's SIGINT reaches
only the demo (every child runs in a process group of its own), which stops the simulator, prints
the summary while the workers and services still answer, then stops the console, the worker and
the services in that order, and removes its temporary folders."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.integration.test_demo import demo_env, processes_with

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
STOP_ORDER = ("stopped the simulator", "Summary", "stopped the care-team console",
              "stopped worker 1", "stopped influxdb", "stopped broker", "removed ")


def read_until(master: int, text: str, seen: list[str], timeout_s: float) -> None:
    """Read the terminal's output until ``text`` appears (or it closes, or the deadline): reading
    a stream, not a poll (``select`` waits for the next output)."""
    deadline = time.monotonic() + timeout_s
    while text not in ANSI.sub("", "".join(seen)):
        left = deadline - time.monotonic()
        assert left > 0, f"{text!r} did not appear:\n" + ANSI.sub("", "".join(seen))[-3000:]
        ready, _, _ = select.select([master], [], [], left)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed (the demo exited)
                return
            if not chunk:
                return
            seen.append(chunk.decode(errors="replace"))


def test_ctrl_c_stops_the_demo_in_order_and_leaves_nothing_behind(tmp_path: Path) -> None:
    env, marker = demo_env(tmp_path)
    env["TERM"] = "xterm-256color"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))

    def controlling_terminal() -> None:  # the demo is the terminal's foreground job
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [sys.executable, "-m", "wearmon", "demo", "--duration", "0", "--patients", "3"],
        stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path, env=env,
        preexec_fn=controlling_terminal)
    os.close(slave)
    seen: list[str] = []
    try:
        read_until(master, "Care-team console:", seen, 120)
        read_until(master, "ALERT", seen, 120)  # running in real time, alerts on screen
        os.write(master, b"\x03")  # Ctrl-C, as typed
        read_until(master, "removed ", seen, 180)
        read_until(master, "\x00never\x00", seen, 30)  # drain until the terminal closes
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    out = ANSI.sub("", "".join(seen))
    positions = [out.find(step) for step in STOP_ORDER]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), out[-3000:]
    # the summary was taken while the worker and InfluxDB still ran: they were not interrupted
    processed = re.search(r"worker processed: (\d+) uploads", out)
    sent = re.search(r"uploads sent: (\d+)", out)
    assert processed and sent and processed.group(1) == sent.group(1), out[-3000:]
    assert "heart-rate points in InfluxDB" in out
    assert not processes_with(marker), "the demo left processes behind"
    assert not list((tmp_path / "tmp").iterdir()), "the demo left temporary files behind"
