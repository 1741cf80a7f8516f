"""Both ways in, as processes: `wearmon gateway` + `wearmon simulate --via-gateway`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, Services
from tests.integration.test_gateway import gateway_settings, read_topic
from tests.integration.test_log_privacy import launch
from wearmon.stream.config import Settings

pytestmark = pytest.mark.integration


def env_of(settings: Settings, **extra: str) -> dict[str, str]:
    values = {"WEARMON_BROKER": settings.kafka.broker,
              "WEARMON_PARTITIONS": str(settings.kafka.partitions),
              "WEARMON_GATEWAY_PORT": str(settings.gateway.port),
              "WEARMON_GATEWAY_IDEMPOTENT": str(settings.gateway.idempotent).lower(),
              "WEARMON_TOPIC_TELEMETRY": settings.topics.telemetry,
              "WEARMON_TOPIC_DEVICES": settings.topics.devices}
    return {**os.environ, **values, **extra}


@pytest.fixture
def gateway_process(services: Services, tmp_path: Path) -> Iterator[tuple[object, str]]:
    settings = gateway_settings(services.broker_url)
    gateway = launch("gateway", env_of(settings), settings.gateway.port, tmp_path)
    try:
        yield settings, f"http://127.0.0.1:{settings.gateway.port}"
    finally:
        gateway.stop()
    assert gateway.proc.returncode == 0, gateway.text()


def test_the_simulator_posts_through_the_gateway(
        gateway_process: tuple[object, str], tmp_path: Path) -> None:
    settings, url = gateway_process
    done = subprocess.run(
        [sys.executable, "-m", "wearmon", "simulate", "--patients", "3", "--duration", "900",
         "--speed", "0", "--via-gateway", url], cwd=REPO, env=env_of(settings),
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    sent = int(done.stdout.split()[1])  # "sent N uploads, ..."
    assert sent > 10 and "refused" not in done.stdout
    records = asyncio.run(read_topic(settings, sent + 1, timeout_s=3))  # type: ignore[arg-type]
    assert len(records) == sent
    assert {key for key, *_ in records} == {f"sim-007-000{i}".encode() for i in range(3)}
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        metrics = resp.read().decode()
    assert f"wearmon_gateway_uploads_total {float(sent)}" in metrics
    assert "wearmon_gateway_devices 3.0" in metrics
