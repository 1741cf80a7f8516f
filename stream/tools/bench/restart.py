"""How long a restarted worker is blind: ``restart_blind_s``.

A worker is given ``patients`` patients (one upload each) and handles them; then it is stopped
(SIGKILL, or SIGTERM: a graceful stop) and started again on the same host (same web port, so the
same state folder), and at once a new upload of a known patient is sent. The figure is the time
from the new process's start until that upload is handled (durable), which includes starting
Python and Faust, joining the group (after a SIGKILL the broker first waits for the dead
member's session to expire), recovering the tables and processing the upload.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from wearmon.stream.tools.bench.data import upload
from wearmon.stream.tools.bench.kafka_io import produce, warm_up
from wearmon.stream.tools.workers import WorkerProcess, settings_from, wait_handled

SAMPLES = 10  # per upload, 5 s apart


def patients_uploads(patients: int, now_ms: int, seq: str = "a") -> list[tuple[bytes, bytes]]:
    """One ordinary upload of each of ``patients`` patients.

    >>> [key for key, _ in patients_uploads(2, 1_000_000)]
    [b'restart-0000000', b'restart-0000001']
    """
    t_ms = [now_ms - 5000 * (SAMPLES - 1 - i) for i in range(SAMPLES)]
    return [(f"restart-{i:07d}".encode(),
             upload(f"restart-{i:07d}", f"{seq}-{i}", t_ms, 64.0)) for i in range(patients)]


def restart_blind(values: dict[str, str], workdir: Path, patients: int, kill: bool,
                  timeout_s: float = 600.0) -> float:
    """Seconds from the restarted worker's start until it handled a known patient's upload."""
    values = values | {"WEARMON_PRODUCER_MAX_BATCH_BYTES": "1"}  # the embedded broker's end
    settings = settings_from(values)  # offsets are wrong for batches (config.py): it restarts
    name = f"{values['WEARMON_APP_ID']}-restart"  # the same state folder for both
    first = WorkerProcess(values, workdir, name=name)
    try:
        first.start()
        warm = asyncio.run(warm_up(settings, [first]))
        asyncio.run(produce(settings, patients_uploads(patients, int(time.time() * 1000))))
        wait_handled([first], warm + patients, timeout_s=timeout_s, poll_s=0.25)
    finally:
        if kill and first.proc is not None:
            first.proc.kill()
            first.proc.wait()
        first.stop()
    again = WorkerProcess(values, workdir, name=name, web_port=first.web_port)
    try:
        again.start()
        started = time.perf_counter()
        asyncio.run(produce(settings, patients_uploads(1, int(time.time() * 1000), "b")))
        wait_handled([again], 1, timeout_s=timeout_s, poll_s=0.05)
        return time.perf_counter() - started
    finally:
        again.stop()


def restart_figures(values_of: Callable[[str], dict[str, str]], workdir: Path,
                    patients: tuple[int, ...]) -> dict[str, float]:
    """``restart_blind_s`` after a SIGKILL and after a SIGTERM for each count of patients
    (``values_of``: isolated settings of a run tag)."""
    out: dict[str, float] = {}
    for count in patients:
        for how, kill in (("kill", True), ("term", False)):
            values = values_of(f"restart-{how}-{count}")
            out[f"restart_blind_s_{how}_{count}"] = restart_blind(values, workdir, count, kill)
    return out
