"""``wearmon bench``: throughput and memory of the per-upload work, next to a baseline, in one run.

Baseline: decoding the same uploads with orjson (the least any consumer must do). Wearmon:
validation + per-patient pipeline (features, detectors) + InfluxDB line formatting. Both run on
the same simulated uploads in the same process; the ratio is what the stream stage costs.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from wearmon.stream.config import Settings, load_settings
from wearmon.stream.core.pipeline import PatientState, process
from wearmon.stream.core.validation import Limits, Rejection, validate
from wearmon.stream.kafka import client_options
from wearmon.stream.sinks.lines import result_lines
from wearmon.stream.tools.producer import simulate
from wearmon.stream.tools.services import free_port, start_broker, start_influxd, worker_health
from wearmon.stream.tools.simulator import Simulator


@dataclass(slots=True)
class BenchResult:
    uploads: int
    samples: int
    baseline_s: float
    wearmon_s: float
    state_bytes_per_patient: float
    memory_bytes_per_patient: float

    @property
    def ratio(self) -> float:
        return self.wearmon_s / self.baseline_s


def run_bench(patients: int = 50, hours: float = 6.0, seed: int = 1) -> BenchResult:
    end_ms = 1_800_000_000_000
    sim = Simulator(patients, end_ms - int(hours * 3_600_000), hours * 3600, seed=seed)
    uploads = [value for _, value, _ in sim.uploads_until(end_ms)]
    samples = sum(len(orjson.loads(u)["samples"]) for u in uploads)

    started = time.perf_counter()
    for raw in uploads:
        orjson.loads(raw)
    baseline_s = time.perf_counter() - started

    limits = Limits()
    states: dict[str, PatientState] = {}
    started = time.perf_counter()
    for raw in uploads:
        checked = validate(raw, end_ms, limits)
        if isinstance(checked, Rejection):
            continue
        state = states.setdefault(checked.upload.patient_id, PatientState())
        result_lines(process(state, checked.upload, 172_800_000, checked.issues))
    wearmon_s = time.perf_counter() - started
    tracemalloc.start()
    snapshot_before = tracemalloc.get_traced_memory()[0]
    copies = [PatientState.from_json(orjson.loads(orjson.dumps(s.to_json())))
              for s in states.values()]
    memory = tracemalloc.get_traced_memory()[0] - snapshot_before
    tracemalloc.stop()
    state_bytes = sum(len(orjson.dumps(s.to_json())) for s in copies) / len(copies)
    return BenchResult(len(uploads), samples, baseline_s, wearmon_s, state_bytes,
                       memory / len(copies))


@dataclass(slots=True)
class EndToEndResult:
    uploads: int
    samples: int
    consume_s: float  # baseline: aiokafka consume + JSON decode of the same topic
    worker_s: float  # a real worker: consume, process, InfluxDB write, commit

    @property
    def ratio(self) -> float:
        return self.worker_s / self.consume_s


async def _consume_all(settings: Settings, count: int) -> None:
    consumer = AIOKafkaConsumer(settings.topic_telemetry, **client_options(settings),
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen = 0
    try:
        while seen < count:
            for messages in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for m in messages:
                    orjson.loads(m.value)
                seen += len(messages)
    finally:
        await consumer.stop()


def run_end_to_end(patients: int = 50, hours: float = 6.0) -> EndToEndResult:
    """Real broker + real influxd + a real worker process, timed against a plain consumer."""
    broker, influx = start_broker(), start_influxd()
    workdir = Path(tempfile.mkdtemp(prefix="wearmon-bench-"))
    worker: subprocess.Popen[bytes] | None = None
    try:
        port = free_port()
        settings = load_settings(broker=broker.url, influx_url=influx.url, influx_create_db=True,
                                 state_dir=str(workdir), web_port=port)
        end_ms = int(time.time() * 1000)
        sim = Simulator(patients, end_ms - int(hours * 3_600_000), hours * 3600, seed=3)
        stats = asyncio.run(simulate(settings, sim, speed=0))
        started = time.perf_counter()
        asyncio.run(_consume_all(settings, stats.uploads))
        consume_s = time.perf_counter() - started
        env = {**os.environ, "WEARMON_BROKER": broker.url, "WEARMON_INFLUX_URL": influx.url,
               "WEARMON_INFLUX_CREATE_DB": "true", "WEARMON_STATE_DIR": str(workdir),
               "WEARMON_WEB_PORT": str(port)}
        worker = subprocess.Popen([sys.executable, "-m", "wearmon", "worker"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first: float | None = None
        while True:
            totals = worker_health(port)
            handled = 0 if totals is None else totals["uploads"] + totals["rejected"]
            if first is None and handled > 0:
                first = time.perf_counter()  # group join and recovery are not throughput
            if handled >= stats.uploads:
                break
            time.sleep(0.05)
        assert first is not None
        return EndToEndResult(stats.uploads, stats.samples, consume_s, time.perf_counter() - first)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        influx.stop()
        broker.stop()

