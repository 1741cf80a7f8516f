"""`wearmon demo` with nothing configured: runs, detects, summarises, leaves no process behind."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

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


def test_demo_runs_with_no_configuration_and_cleans_up(tmp_path: Path) -> None:
    marker = f"DEMO_TEST_MARKER={uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEARMON_")}
    env["DEMO_TEST_MARKER"] = marker.split("=")[1]
    done = subprocess.run(
        [sys.executable, "-m", "stream", "demo", "--duration", "45", "--patients", "8"],
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
