"""One bench run: every measurement for each upload size, on the same simulated data, with the
services (embedded broker, local influxd) started once and a fresh topic set, consumer group
and database for each measurement that uses them."""

from __future__ import annotations

import asyncio
import math
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wearmon.stream.config import Settings
from wearmon.stream.sinks.service import kinds_of
from wearmon.stream.tools.bench.data import (
    HOUR_MS,
    SAMPLE_MS,
    Uploads,
    background_hours,
    simulated,
)
from wearmon.stream.tools.bench.influx import query_mean, write_raw
from wearmon.stream.tools.bench.kafka_io import (
    PRODUCER_BATCH_BYTES,
    consume_all,
    median,
    produce,
    records_in,
)
from wearmon.stream.tools.bench.latency import broker_hop, percentile, run_latency
from wearmon.stream.tools.bench.restart import restart_figures
from wearmon.stream.tools.bench.stage import REPEATS, run_region, run_stage
from wearmon.stream.tools.bench.worker_runs import (
    cpu_run,
    faust_floor,
    mean_batch,
    memory_run,
    time_backlog,
    time_sink,
)
from wearmon.stream.tools.services import Service, start_broker, start_influxd
from wearmon.stream.tools.workers import (
    WorkerError,
    WorkerProcess,
    isolated_values,
    settings_from,
    sink_process,
)

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BenchOptions:
    patients: int = 20
    hours: float = 6.0
    sizes: tuple[int, ...] = (10, 60)  # samples per upload
    e2e: bool = True  # the measurements with services and worker processes
    memory_patients: int = 20_000
    # a worker holding this many patients is restarted (SIGKILL, then SIGTERM): restart_blind_s
    restart_patients: tuple[int, ...] = (2_000, 20_000, 100_000)
    region_patients: int = 200  # a batch of the worker's 200 uploads: one of each patient
    region_hours: float = 3.0  # the last hour is timed
    memory_uploads: int = 2  # uploads per patient in the memory run
    # samples in each scale-out turn, at least: a turn must last seconds, not one or two
    scale_samples: int = 400_000
    latency_s: float = 30.0  # how long uploads are sent at half the maximum rate
    latency_drain_s: float = 30.0  # longest wait for the last probes' anomalies after that
    probe_every: int = 10  # every 10th upload of the latency run is a critical probe
    seed: int = 1


@dataclass
class Services:
    broker: Service
    influx: Service
    workdir: Path

    def values(self, tag: str) -> dict[str, str]:
        return isolated_values(self.broker.url, self.influx.url, self.workdir / "state", tag,
                               WEARMON_PRODUCER_MAX_BATCH_BYTES=str(PRODUCER_BATCH_BYTES))


def stage_figures(options: BenchOptions, size: int, data: Uploads, end_ms: int
                  ) -> tuple[dict[str, float], list[str]]:
    batch_uploads = settings_from({}).worker.batch_max_uploads
    stage = run_stage(data, batch_uploads, end_ms)
    region = simulated(options.region_patients, options.region_hours, size, end_ms,
                       options.seed + 1000)
    last_hour = round(region.count * (1 - 1 / options.region_hours))
    figures = {
        "uploads": data.count, "samples": data.samples,
        "decode_samples_per_s": stage.decode_samples_per_s,
        "stage_samples_per_s": stage.stage_samples_per_s,
        "stage_vs_decode": stage.stage_samples_per_s / stage.decode_samples_per_s,
        "worker_batch_samples_per_s": stage.batch_samples_per_s,
        "worker_batch_region_samples_per_s": run_region(region, last_hour, batch_uploads,
                                                        end_ms),
        "region_patients": options.region_patients,
        "state_bytes_per_patient": stage.state_bytes_per_patient,
        "points": len(stage.lines),
    }
    return figures, stage.lines


def throughput_figures(options: BenchOptions, size: int, data: Uploads, services: Services,
                       lines: list[str], say: Say) -> dict[str, float]:
    """Plain consumer and worker through the same backlog, the raw InfluxDB write of the same
    points, then latency at half the worker's rate (the same worker, warm)."""
    values = services.values(f"e2e{size}")
    settings = settings_from(values)
    asyncio.run(produce(settings, data.messages))
    say(f"{size}: plain consumer")
    consumer = median([asyncio.run(consume_all(settings, data.count)) for _ in range(REPEATS)])
    say(f"{size}: a Faust agent that only decodes")
    floor = faust_floor(values, services.workdir, data.count)
    say(f"{size}: worker through the backlog")
    worker = WorkerProcess(values, services.workdir, name=f"e2e-{size}")
    sink = sink_process(values, services.workdir, name=f"sink-{size}")
    worker.start()
    try:
        backlog = time_backlog(worker, data.count)
        say(f"{size}: the sink through what the worker published")
        records = asyncio.run(records_in(settings, list(kinds_of(settings))))
        sink.start()
        written = time_sink(sink, records)
        say(f"{size}: raw InfluxDB write")
        influx = write_raw(services.influx.url, f"raw_{size}_{int(time.time())}", lines)
        rate = backlog.per_s / 2
        say(f"{size}: latency at {rate:,.0f} samples/s for {options.latency_s:.0f} s")
        latency = latency_figures(options, size, worker, settings, rate)
    finally:
        worker.stop()
        sink.stop()
    return {
        "consumer_samples_per_s": consumer.per_s,
        "e2e_samples_per_s": backlog.per_s,
        "e2e_vs_consumer": backlog.per_s / consumer.per_s,
        "faust_floor_samples_per_s": floor.per_s,
        "faust_floor_vs_consumer": floor.per_s / consumer.per_s,
        "e2e_vs_faust_floor": backlog.per_s / floor.per_s,
        "influx_points_per_s": influx.per_s,
        "sink_points_per_s": written.per_s,
        "sink_points_vs_influx": written.per_s / influx.per_s,
        **latency,
    }


def latency_figures(options: BenchOptions, size: int, worker: WorkerProcess,
                    settings: Settings, rate: float) -> dict[str, float]:
    background = simulated(options.patients, background_hours(
        rate, options.latency_s, options.patients), size, int(time.time() * 1000),
        options.seed + 1000)
    before, cpu0, started = worker.metrics(), worker.cpu_seconds(), time.perf_counter()
    since_ms = int(time.time() * 1000)
    latency = asyncio.run(run_latency(
        settings, background.messages, size, rate, options.latency_s, options.probe_every,
        options.latency_drain_s))
    busy = (worker.cpu_seconds() - cpu0) / (time.perf_counter() - started)
    hop = asyncio.run(broker_hop(settings))
    if not latency.latencies_s:
        raise WorkerError(f"no anomaly of the {len(latency.probes)} probes arrived\n"
                          f"{worker.log_tail()}")
    # each batch's oldest message: from its timestamp (set by the producer when sent) to the
    # start of its processing
    waited_ms = query_mean(settings.influx.url, settings.influx.db, "pipeline",
                           "e2e_latency_ms", since_ms)
    return {
        "latency_p50_s": latency.p50_s,
        "latency_p99_s": latency.p99_s,
        "broker_hop_p50_s": percentile(hop, 0.5),
        "broker_hop_p99_s": percentile(hop, 0.99),
        "latency_load_samples_per_s": latency.rate,
        "latency_probes": len(latency.probes),
        "latency_matched": len(latency.latencies_s),
        "latency_worker_cpu_share": busy,
        **{f"latency_{k}": v for k, v in mean_batch(before, worker.metrics()).items()},
        **({} if waited_ms is None else {"latency_batch_oldest_wait_s": waited_ms / 1000}),
    }


def scale_data(options: BenchOptions, size: int, data: Uploads) -> Uploads:
    """The uploads of the scale-out turns: ``data``, or as many hours more of the same
    patients as ``options.scale_samples`` takes."""
    if data.samples >= options.scale_samples:
        return data
    hours = options.hours * math.ceil(options.scale_samples / data.samples)
    return simulated(options.patients, hours, size, int(time.time() * 1000),
                     options.seed + 3000)


def scale_figures(size: int, data: Uploads, services: Services) -> dict[str, float]:
    """One worker, then two in a group, ``REPEATS`` times in turn; the medians of each (a run
    takes seconds, and this machine's speed varies), and the lowest and highest ratio of a
    turn."""
    ones, twos = [], []
    for turn in range(REPEATS):
        ones.append(cpu_run(services.values(f"one{size}-{turn}"), services.workdir, data, 1)
                    .samples_per_cpu_s)
        twos.append(cpu_run(services.values(f"two{size}-{turn}"), services.workdir, data, 2)
                    .samples_per_cpu_s)
    ratios = [two / one for one, two in zip(ones, twos, strict=True)]
    return {
        "scale_out_efficiency": statistics.median(twos) / statistics.median(ones),
        "scale_out_lowest": min(ratios),
        "scale_out_highest": max(ratios),
        "one_worker_samples_per_cpu_s": statistics.median(ones),
        "two_workers_samples_per_cpu_s": statistics.median(twos),
        "scale_out_samples": data.samples,
    }


def memory_figures(options: BenchOptions, size: int, services: Services) -> dict[str, float]:
    many = simulated(options.memory_patients, options.memory_uploads * size * SAMPLE_MS / HOUR_MS,
                     size,
                     int(time.time() * 1000), options.seed + 2000)
    memory = memory_run(services.values(f"mem{size}"), services.workdir, many)
    return {"memory_bytes_per_patient": memory.bytes_per_patient,
            "memory_patients": memory.patients}


def worker_figures(options: BenchOptions, size: int, data: Uploads, services: Services,
                   lines: list[str], say: Say) -> dict[str, float]:
    figures = throughput_figures(options, size, data, services, lines, say)
    say(f"{size}: one worker, then two in a group")
    figures |= scale_figures(size, scale_data(options, size, data), services)
    say(f"{size}: memory with {options.memory_patients:,} patients")
    return figures | memory_figures(options, size, services)


def config_of(options: BenchOptions) -> dict[str, Any]:
    defaults = settings_from({})
    return {
        **asdict(options), "sizes": list(options.sizes),
        "restart_patients": list(options.restart_patients),
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "machine": platform.machine(), "partitions": defaults.kafka.partitions,
        "batch_max_uploads": defaults.worker.batch_max_uploads,
        "batch_within_s": defaults.worker.batch_within_s,
        "max_cached_patients": defaults.worker.max_cached_patients,
    }


def run_bench(options: BenchOptions, say: Say = lambda text: None) -> dict[str, Any]:
    """Every figure for each size in ``options.sizes``, keyed by the size (as text), and the
    run's ``config``."""
    started = time.perf_counter()
    out: dict[str, Any] = {}
    services: Services | None = None
    workdir = Path(tempfile.mkdtemp(prefix="wearmon-bench-"))
    try:
        if options.e2e:
            broker = start_broker()
            try:
                services = Services(broker, start_influxd(), workdir)
            except Exception:
                broker.stop()
                raise
        for size in options.sizes:
            end_ms = int(time.time() * 1000)
            data = simulated(options.patients, options.hours, size, end_ms, options.seed)
            say(f"{size}: stream stage and decode baseline")
            figures, lines = stage_figures(options, size, data, end_ms)
            if services is not None:
                figures |= worker_figures(options, size, data, services, lines, say)
            out[str(size)] = figures
        if services is not None and options.restart_patients:
            say(f"restarts with {', '.join(f'{n:,}' for n in options.restart_patients)} "
                "patients")
            out["restart"] = restart_figures(services.values, workdir, options.restart_patients)
    finally:
        if services is not None:
            services.influx.stop()
            services.broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out["config"] = config_of(options) | {"seconds": round(time.perf_counter() - started, 1)}
    return out
