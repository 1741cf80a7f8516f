"""Measurements of real worker processes: backlog throughput, CPU per sample with one and with
two workers in a group, and resident memory per patient."""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from wearmon.stream.tools.bench.data import Uploads
from wearmon.stream.tools.bench.kafka_io import Timed, produce, warm_up
from wearmon.stream.tools.workers import (
    WorkerError,
    WorkerProcess,
    handled,
    settings_from,
    wait_handled,
)


def time_backlog(worker: WorkerProcess, count: int, timeout_s: float = 600.0,
                 poll_s: float = 0.05) -> Timed:
    """Wait until ``worker`` has handled ``count`` messages (already in its topic); the valid
    samples it counted after its first batch, timed from then to the last message."""
    deadline = time.monotonic() + timeout_s
    first: tuple[float, dict[str, int]] | None = None
    while time.monotonic() < deadline:
        health = worker.health()
        done = handled(health)
        if health is not None and done > 0 and first is None:
            first = time.perf_counter(), health  # group join and recovery are not throughput
        if health is not None and first is not None and done >= count:
            seconds = time.perf_counter() - first[0]
            if health["samples"] == first[1]["samples"]:
                raise WorkerError(f"the worker handled all {count} messages in its first batch: "
                                  "too few to time (more patients or hours)")
            return Timed(health["samples"] - first[1]["samples"], seconds)
        time.sleep(poll_s)  # polling another process's HTTP endpoint: no event to await
    raise WorkerError(f"the worker did not handle {count} messages in {timeout_s:.0f} s\n"
                      f"{worker.log_tail()}")


def time_sink(sink: WorkerProcess, records: int, timeout_s: float = 600.0,
              poll_s: float = 0.05) -> Timed:
    """Wait until ``sink`` has committed ``records`` records (already in its topics); the
    points it wrote after its first commit, timed from then to the last record."""
    deadline = time.monotonic() + timeout_s
    first: tuple[float, float] | None = None
    while time.monotonic() < deadline:
        committed = int((sink.health() or {}).get("committed", 0))
        if committed and first is None:
            first = time.perf_counter(), sink.metrics().get("wearmon_sink_points_total", 0.0)
        if first is not None and committed >= records:
            points = sink.metrics().get("wearmon_sink_points_total", 0.0) - first[1]
            return Timed(int(points), time.perf_counter() - first[0])
        time.sleep(poll_s)  # polling another process's HTTP endpoint: no event to await
    raise WorkerError(f"the sink did not write {records} records in {timeout_s:.0f} s\n"
                      f"{sink.log_tail()}")


def faust_floor(values: dict[str, str], workdir: Path, count: int, timeout_s: float = 600.0
                ) -> Timed:
    """The Faust-agent baseline (``bench.faust_floor``) through the ``count`` messages of the
    telemetry topic in ``values``, in a consumer group of its own."""
    name = f"{values['WEARMON_APP_ID']}-floor"
    out = workdir / f"{name}.json"
    floor = WorkerProcess({**values, "WEARMON_APP_ID": name}, workdir, name=name,
                          command=("wearmon.stream.tools.bench.faust_floor", str(count),
                                   str(out)))
    floor.start()
    assert floor.proc is not None
    try:
        floor.proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        raise WorkerError(f"the Faust baseline did not handle {count} messages in "
                          f"{timeout_s:.0f} s\n{floor.log_tail()}") from None
    finally:
        floor.stop()
    if not out.exists():
        raise WorkerError(f"the Faust baseline ended without its figure\n{floor.log_tail()}")
    result = orjson.loads(out.read_bytes())
    return Timed(int(result["samples"]), float(result["seconds"]))


def mean_batch(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """A worker's mean telemetry batch between two readings of its metrics: seconds
    (processing to durable) and uploads.

    >>> mean_batch({"wearmon_batch_seconds_count": 1, "wearmon_batch_seconds_sum": 0.5},
    ...            {"wearmon_batch_seconds_count": 3, "wearmon_batch_seconds_sum": 1.5,
    ...             "wearmon_uploads_total": 40})
    {'batch_s': 0.5, 'batch_uploads': 20.0}
    """
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    batches = delta("wearmon_batch_seconds_count")
    return {
        "batch_s": delta("wearmon_batch_seconds_sum") / batches,
        "batch_uploads": delta("wearmon_uploads_total") / batches,
    }


def totals(workers: list[WorkerProcess], name: str) -> int:
    return sum(int((w.health() or {}).get(name, 0)) for w in workers)


@dataclass(frozen=True, slots=True)
class CpuRun:
    workers: int
    samples: int
    cpu_s: float
    wall_s: float

    @property
    def samples_per_cpu_s(self) -> float:
        return self.samples / self.cpu_s


def cpu_run(values: dict[str, str], workdir: Path, uploads: Uploads, workers: int) -> CpuRun:
    """``workers`` workers in one consumer group (fresh topics in ``values``), warmed up until
    each has its partitions; then the uploads are produced and the workers' CPU time (user +
    system) is counted until all are handled."""
    settings = settings_from(values)
    procs = [WorkerProcess(values, workdir, name=f"{values['WEARMON_APP_ID']}-{i}")
             for i in range(workers)]
    try:
        for proc in procs:
            proc.start()
        warm = asyncio.run(warm_up(settings, procs))
        cpu0 = sum(p.cpu_seconds() for p in procs)
        samples0 = totals(procs, "samples")
        started = time.perf_counter()
        asyncio.run(produce(settings, uploads.messages))
        wait_handled(procs, warm + uploads.count)
        wall_s = time.perf_counter() - started
        cpu_s = sum(p.cpu_seconds() for p in procs) - cpu0
        return CpuRun(workers, totals(procs, "samples") - samples0, cpu_s, wall_s)
    finally:
        for proc in procs:
            proc.stop()


@dataclass(frozen=True, slots=True)
class MemoryRun:
    patients: int
    rss_before: int
    rss_after: int

    @property
    def bytes_per_patient(self) -> float:
        return (self.rss_after - self.rss_before) / self.patients


def memory_run(values: dict[str, str], workdir: Path, uploads: Uploads) -> MemoryRun:
    """A warmed-up worker's resident memory before and after it handled ``uploads`` of many
    patients (the worker's default cache of decoded states; every state is in its table)."""
    settings = settings_from(values)
    worker = WorkerProcess(values, workdir, name=f"{values['WEARMON_APP_ID']}-memory")
    try:
        worker.start()
        warm = asyncio.run(warm_up(settings, [worker]))
        before = worker.rss_bytes()
        asyncio.run(produce(settings, uploads.messages))
        wait_handled([worker], warm + uploads.count, poll_s=0.25)
        return MemoryRun(uploads.patients, before, worker.rss_bytes())
    finally:
        worker.stop()
