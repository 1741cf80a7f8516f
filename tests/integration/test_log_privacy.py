"""No secret in any log (issue 23, item 4): malformed requests carrying a known device token, a
session cookie and a signed link are sent to a running ``wearmon gateway`` and a running
``wearmon console``; aiohttp logs the raw header line of a request it cannot parse, and every
log is then searched for any piece of those secrets."""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.conftest import Services
from tests.waiting import wait_until
from wearmon.stream.config import load_settings
from wearmon.stream.console.access.accounts import add_account
from wearmon.stream.gateway.devices import issue_token
from wearmon.stream.notify.links import link_token
from wearmon.stream.tools.services import free_port

pytestmark = pytest.mark.integration
SECRET_KEY = "log-privacy-console-secret-0123456789abcdef"
PIECE = 8  # no 8 characters of a secret in a row may appear in a log


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def launch(command: str, env: dict[str, str], port: int, directory: Path) -> Process:
    log = directory / f"{command}.log"
    proc = subprocess.Popen([sys.executable, "-m", "wearmon", command], env=env, cwd=directory,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    process = Process(proc, port, log)

    def ready() -> bool:
        assert proc.poll() is None, process.text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                return bool(orjson.loads(resp.read()).get("ready"))
        except OSError:  # not listening yet
            return False

    wait_until(ready, f"wearmon {command} to be ready", 60, interval_s=0.2, detail=process.text)
    return process


@dataclass
class Secrets:
    device_token: str
    cookie: str
    link: str

    def all(self) -> list[str]:
        return [self.device_token, self.cookie, self.link]


@pytest.fixture
def running(services: Services, tmp_path: Path) -> Iterator[tuple[Process, Process, Secrets]]:
    suffix = uuid.uuid4().hex[:8]
    gateway_port, console_port = free_port(), free_port()
    users = tmp_path / "users.json"
    add_account(users, "nurse.jo", "correct horse battery", "Jo", admin=True)
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("WEARMON_")}
    env |= {"WEARMON_BROKER": services.broker_url, "WEARMON_PARTITIONS": "2",
            "WEARMON_TOPIC_DEVICES": f"devices-{suffix}",
            "WEARMON_TOPIC_PATIENTS": f"patients-{suffix}",
            "WEARMON_TOPIC_ALERTS": f"alerts-{suffix}",
            "WEARMON_TOPIC_TELEMETRY": f"telemetry-{suffix}",
            "WEARMON_GATEWAY_PORT": str(gateway_port), "WEARMON_GATEWAY_IDEMPOTENT": "false",
            "WEARMON_CONSOLE_PORT": str(console_port), "WEARMON_CONSOLE_SECRET_KEY": SECRET_KEY,
            "WEARMON_CONSOLE_USERS_FILE": str(users)}
    settings = load_settings({k: v for k, v in env.items() if k.startswith("WEARMON_")})
    token, _ = asyncio.run(issue_token(settings, "watch-log-1", "p-log-0001"))
    known = Secrets(token, secrets.token_urlsafe(32),
                    link_token(SECRET_KEY.encode(), "alert-log-1", int(time.time()) + 3600))
    gateway = launch("gateway", env, gateway_port, tmp_path)
    try:
        console = launch("console", env, console_port, tmp_path)
        try:
            yield gateway, console, known
        finally:
            console.stop()
    finally:
        gateway.stop()


def malformed(known: Secrets) -> list[bytes]:
    """Requests aiohttp cannot parse, or can parse only in part, each carrying a secret."""
    token, cookie, link = known.device_token, known.cookie, known.link
    cut = len(token) // 2
    lines = [
        f"POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n {token}\r\n"
        "Content-Length: 2\r\n\r\n{}",  # a folded header line
        f"POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\x00\r\n\r\n",
        f"POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token[:cut]}\x00"
        f"{token[cut:]}\r\n\r\n",
        f"POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization : Bearer {token}\r\n\r\n",
        f"POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Content-Length: 1\r\nContent-Length: 2\r\n\r\n{}",
        f"POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",  # a broken chunked body
        f"POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}"
        + "x" * 9000 + "\r\n\r\n",  # a header line too long
        f"GET / HTTP/1.1\r\nHost: x\r\nCookie: wearmon_console={cookie}\x7f\r\n\r\n",
        f"GET / HTTP/1.1\r\nHost: x\r\nCookie:\r\n wearmon_console={cookie}\r\n\r\n",
        f"GET /a/{link}\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        f"GET /a/{link} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Cookie: wearmon_console={cookie}\r\nX-Bad\x01: 1\r\n\r\n",
        f"GET /login?next=/a/{link}&session={cookie} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Basic {token}\r\nContent-Length: x\r\n\r\n",
    ]
    return [line.encode("latin-1") for line in lines]


def send_raw(port: int, request: bytes) -> bytes:
    """The answer's first bytes (the server closes a connection after a malformed request)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            pass  # a request it could parse, answered and kept open
        return answer


def pieces(secret: str) -> set[str]:
    return {secret[i:i + PIECE] for i in range(len(secret) - PIECE + 1)}


def test_no_secret_reaches_a_log_of_the_gateway_or_the_console(
        running: tuple[Process, Process, Secrets]) -> None:
    gateway, console, known = running
    for process in (gateway, console):
        for index, request in enumerate(malformed(known)):
            answer = send_raw(process.port, request)
            assert answer.startswith(b"HTTP/1."), (process.log.name, index, answer[:100])
    for process in (gateway, console):
        process.stop()  # everything it had to say is in its log now
        text = process.text()
        assert "Error handling request" in text or "BadHttpMessage" in text  # it did log them
        leaked = [piece for secret in known.all() for piece in pieces(secret) if piece in text]
        assert leaked == [], f"{process.log.name} holds pieces of a secret:\n{text[-3000:]}"
