"""Memory stays bounded with tens of thousands of patients: idle patients' state is evicted."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Worker
from tests.integration.conftest import send_messages, settings_of
from wearmon.stream.tools.workers import proc_rss_bytes

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PATIENTS = 20_000
LIMIT = 500


def metric(worker: Worker, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return next(s.value for family in text_string_to_metric_families(text)
                for s in family.samples if s.name == name)


def rss_kib(worker: Worker) -> int:
    assert worker.proc is not None
    return proc_rss_bytes(worker.proc.pid) // 1024


def test_tens_of_thousands_of_patients_keep_the_cache_bounded(
        make_worker: Callable[..., Worker]) -> None:
    now_ms = int(time.time() * 1000)
    messages = [(f"p-{i:06d}".encode(), orjson.dumps({
        "schema_version": 1, "upload_id": "u1", "device_id": f"d-{i:06d}",
        "patient_id": f"p-{i:06d}", "uploaded_at_ms": now_ms,
        "samples": [{"t_ms": now_ms - 1000, "hr_bpm": 60 + i % 30, "steps": 0}]}))
        for i in range(PATIENTS)]
    worker = make_worker(WEARMON_MAX_CACHED_PATIENTS=str(LIMIT), WEARMON_BATCH_MAX_UPLOADS="500")
    worker.start()
    worker.wait_processed(0)
    rss_before_kib = rss_kib(worker)
    asyncio.run(send_messages(settings_of(worker), messages))
    health = worker.wait_processed(PATIENTS, timeout_s=600)
    assert health["uploads"] == PATIENTS
    assert metric(worker, "wearmon_cached_patients") <= LIMIT
    assert metric(worker, "wearmon_evicted_patients_total") >= PATIENTS - LIMIT
    grown_kib = rss_kib(worker) - rss_before_kib
    print(f"MEMORY patients={PATIENTS} cached<={LIMIT} rss_grew_kib={grown_kib} "
          f"per_patient_kib={grown_kib / PATIENTS:.1f}")
