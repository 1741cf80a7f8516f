"""`wearmon demo` with nothing configured: runs, detects, summarises, leaves no process behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def _processes_with(marker: bytes) -> set[int]:
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


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_demo_runs_with_no_configuration_and_cleans_up(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    notify_url = f"json://127.0.0.1:{server.server_address[1]}/notify"
    marker = f"DEMO_TEST_MARKER={uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEARMON_")}
    env["DEMO_TEST_MARKER"] = marker.split("=")[1]
    done = subprocess.run(
        [sys.executable, "-m", "wearmon", "demo", "--duration", "45", "--patients", "8",
         "--notify-url", notify_url],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "started the embedded Kafka-protocol broker" in out
    assert "Summary" in out
    assert "anomaly:" in out and "ALERT " in out  # plain lines: not a terminal
    processed = next(line for line in out.splitlines() if "worker processed" in line)
    sent = next(line for line in out.splitlines() if "uploads sent" in line)
    assert sent.split()[2].rstrip(",") == processed.split()[2]
    assert "heart-rate points in InfluxDB" in out
    assert not _processes_with(marker.encode()), "the demo left processes behind"
    server.shutdown()
    assert _Hook.received, "no notification reached the configured URL"
    assert all(msg.get("title") and msg.get("message") for msg in _Hook.received)
