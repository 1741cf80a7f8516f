"""Real ``wearmon worker`` processes for tools that measure them (``wearmon bench``): isolated
settings (own topics, consumer group and database), start/stop, ``/health`` counters, and the
process's CPU time and resident memory read from ``/proc`` (Linux).

Every worker started here gets ``WEARMON_PRODUCER_MAX_BATCH_BYTES=1``: the embedded broker
(Tansu) reports wrong end offsets for batches of several records, which breaks Faust's changelog
recovery (see ``config.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from wearmon.stream.config import Settings, variables_only
from wearmon.stream.tools.services import free_port, stop_process, worker_health

#: The health counters that together count every telemetry message a worker has handled.
HANDLED = ("uploads", "rejected", "duplicates")
TOPICS = ("telemetry", "points", "rejected", "anomalies", "alerts", "patients", "alert_commands",
          "outbox", "deliveries", "alert_replies", "devices")


class WorkerError(RuntimeError):
    pass


def isolated_values(broker_url: str, influx_url: str, state_dir: Path, tag: str,
                    **overrides: str) -> dict[str, str]:
    """``WEARMON_*`` values of a run of its own: unique app id (consumer group), topics and
    database, so that runs on the same broker and InfluxDB never see each other's data."""
    suffix = f"{tag}-{uuid.uuid4().hex[:8]}"
    values = {
        "WEARMON_BROKER": broker_url,
        "WEARMON_INFLUX_URL": influx_url,
        "WEARMON_INFLUX_DB": f"wearmon_{suffix}".replace("-", "_"),
        "WEARMON_INFLUX_CREATE_DB": "true",
        "WEARMON_APP_ID": f"wearmon-{suffix}",
        "WEARMON_STATE_DIR": str(state_dir / suffix),
        "WEARMON_PRODUCER_MAX_BATCH_BYTES": "1",  # the embedded broker's end offsets
    }
    for topic in TOPICS:
        values[f"WEARMON_TOPIC_{topic.upper()}"] = f"{topic.replace('_', '-')}-{suffix}"
    return values | overrides


def settings_from(values: dict[str, str]) -> Settings:
    """Settings from ``values`` only: neither the environment nor ``.env`` is read."""
    return variables_only(values)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (``/proc/PID/stat`` utime + stime)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_bytes(pid: int) -> int:
    """Resident memory of the process (``/proc/PID/status`` VmRSS)."""
    with open(f"/proc/{pid}/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmRSS"))
    return int(kib) * 1024


def handled(health: dict[str, int] | None) -> int:
    """Telemetry messages a worker has handled, from its ``/health`` counters."""
    return 0 if health is None else sum(int(health.get(name, 0)) for name in HANDLED)


@dataclass
class WorkerProcess:
    """One ``python -m wearmon worker`` with ``values`` (and its own web port and state dir);
    ``command``: another module to run the same way (``python -m …``), ``port_variable`` the
    setting of its web port."""

    values: dict[str, str]
    workdir: Path
    name: str = "worker"
    command: tuple[str, ...] = ("wearmon", "worker")
    port_variable: str = "WEARMON_WEB_PORT"
    web_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise WorkerError(f"{self.name} was not started")
        return self.proc.pid

    def start(self) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("WEARMON_")}
        state_dir = Path(f"{self.values['WEARMON_STATE_DIR']}-{self.name}")
        env = {**base, **self.values, self.port_variable: str(self.web_port),
               "WEARMON_STATE_DIR": str(state_dir)}
        state_dir.parent.mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", *self.command], env=env,
                                         cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def health(self) -> dict[str, int] | None:
        self.check_alive()
        return worker_health(self.web_port)

    def handled(self) -> int:
        return handled(self.health())

    def metrics(self) -> dict[str, float]:
        """The worker's Prometheus samples without labels (``/metrics``), by name."""
        self.check_alive()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics",
                                    timeout=10) as resp:
            text = resp.read().decode()
        return {s.name: s.value for family in text_string_to_metric_families(text)
                for s in family.samples if not s.labels}

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return proc_rss_bytes(self.pid)

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise WorkerError(f"{self.name} is not running\n{self.log_tail()}")

    def wait_health(self, timeout_s: float = 120.0) -> dict[str, int]:
        """Block until the worker's web server answers."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            health = self.health()
            if health is not None:
                return health
            time.sleep(0.1)  # polling another process's HTTP endpoint: no event to await
        raise WorkerError(f"{self.name} did not answer /health within {timeout_s:.0f} s\n"
                          f"{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout_s=30)

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def sink_process(values: dict[str, str], workdir: Path, name: str = "sink") -> WorkerProcess:
    """A ``wearmon sink`` with ``values`` (its group follows the app id in them)."""
    return WorkerProcess(values, workdir, name=name, command=("wearmon", "sink"),
                         port_variable="WEARMON_SINK_PORT")


def total_handled(workers: list[WorkerProcess]) -> int:
    return sum(w.handled() for w in workers)


def wait_handled(workers: list[WorkerProcess], count: int, timeout_s: float = 600.0,
                 poll_s: float = 0.05) -> float:
    """Block until the workers together have handled ``count`` messages; returns the
    ``time.perf_counter()`` at which that was seen."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if total_handled(workers) >= count:
            return time.perf_counter()
        time.sleep(poll_s)  # polling other processes' HTTP endpoints: no event to await
    raise WorkerError(f"workers handled {total_handled(workers)} of {count} messages within "
                      f"{timeout_s:.0f} s\n" + "\n".join(w.log_tail() for w in workers))
