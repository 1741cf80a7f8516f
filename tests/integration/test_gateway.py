"""The upload gateway against the real broker, with a real HTTP client (aiohttp)."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests.conftest import Services
from tests.waiting import await_until
from wearmon.stream.config import ConfigError, Settings, load_settings
from wearmon.stream.gateway.devices import issue_token, revoke_token
from wearmon.stream.gateway.server import UPLOADS_PATH, Gateway
from wearmon.stream.gateway.tokens import issue
from wearmon.stream.kafka import make_producer
from wearmon.stream.tools.services import free_port, start_broker

pytestmark = pytest.mark.integration
PATIENT, DEVICE = "p-gw-0001", "watch-gw-1"


def gateway_settings(broker_url: str, **overrides: Any) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "broker": broker_url, "partitions": 2, "gateway_port": free_port(),
        "gateway_idempotent": False,  # the embedded broker has no idempotent producers
        "topic_telemetry": f"telemetry-{suffix}", "topic_devices": f"devices-{suffix}",
        "topic_rejected": f"rejected-{suffix}",
        **overrides,
    }
    return load_settings({f"WEARMON_{name.upper()}": str(value) for name, value in values.items()})


def upload(patient: str = PATIENT, device: str = DEVICE, n: int = 3, **extra: Any) -> bytes:
    now_ms = int(time.time() * 1000)
    doc = {"schema_version": 1, "upload_id": f"u-{uuid.uuid4().hex[:12]}", "device_id": device,
           "patient_id": patient, "uploaded_at_ms": now_ms,
           "samples": [{"t_ms": now_ms - 5000 * (n - i), "hr_bpm": 60 + i, "steps": 0}
                       for i in range(n)], **extra}
    return orjson.dumps(doc)


@dataclass
class Running:
    gateway: Gateway
    settings: Settings
    token: str
    http: aiohttp.ClientSession

    @property
    def uploads_url(self) -> str:
        return self.gateway.url + UPLOADS_PATH

    async def post(self, body: bytes, token: str | None = None) -> tuple[int, Any, Any]:
        headers = {"Content-Type": "application/json"}
        if (token if token is not None else self.token):
            headers["Authorization"] = f"Bearer {token if token is not None else self.token}"
        async with self.http.post(self.uploads_url, data=body, headers=headers) as resp:
            return resp.status, await resp.json(), resp.headers


async def start(settings: Settings) -> AsyncIterator[Running]:
    token, _ = await issue_token(settings, DEVICE, PATIENT)
    gateway = Gateway(settings)
    await gateway.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Running(gateway, settings, token, http)
    finally:
        await gateway.stop()


@pytest.fixture
async def running(services: Services) -> AsyncIterator[Running]:
    async for one in start(gateway_settings(services.broker_url)):
        yield one


async def read_topic(settings: Settings, count: int, timeout_s: float = 30.0,
                     topic: str = "") -> list[tuple[bytes | None, bytes | None, int, int]]:
    """Up to ``count`` records of the telemetry topic, or of ``topic`` (Tansu's end offsets
    undercount batches)."""
    consumer = AIOKafkaConsumer(topic or settings.topics.telemetry,
                                bootstrap_servers=settings.kafka.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen: list[tuple[bytes | None, bytes | None, int, int]] = []
    try:
        deadline = time.monotonic() + timeout_s  # reading a stream: each read waits 0.5 s
        while len(seen) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen += [(r.key, r.value, r.partition, r.offset) for r in records]
    finally:
        await consumer.stop()
    return seen


async def wait_granted(run: Running, *tokens: str, timeout_s: float = 10.0) -> None:
    """Await the gateway knowing these tokens (a grant travels through the devices topic)."""
    await await_until(lambda: all(run.gateway.registry.find(t) is not None for t in tokens),
                      "the gateway's devices follower to read the new grants", timeout_s,
                      interval_s=0.05)


async def test_a_valid_upload_is_on_the_topic_keyed_by_patient_when_202_comes(
        running: Running) -> None:
    body = upload()
    status, doc, _ = await running.post(body)
    assert status == 202, doc
    assert doc["issues"] == [] and doc["upload_id"] == orjson.loads(body)["upload_id"]
    [(key, value, partition, offset)] = await read_topic(running.settings, 1)
    assert (key, value) == (PATIENT.encode(), body)  # the device's bytes, unchanged
    assert (partition, offset) == (doc["partition"], doc["offset"])


async def test_tokens_are_required_bound_and_revocable(running: Running) -> None:
    status, doc, headers = await running.post(upload(), token="")
    assert (status, doc["error"], doc["field"]) == (401, "unauthorized", "Authorization")
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert (await running.post(upload(), token="wmd_" + "x" * 43))[0] == 401
    status, doc, _ = await running.post(upload(patient="p-gw-0002"))
    assert (status, doc["field"], doc["error"]) == (403, "patient_id", "patient_not_granted")
    status, doc, _ = await running.post(upload(device="watch-gw-2"))
    assert (status, doc["field"], doc["error"]) == (403, "device_id", "device_not_granted")

    assert await read_topic(running.settings, 1, timeout_s=2) == []  # nothing refused got in

    await revoke_token(running.settings, DEVICE)
    accepted = 0  # uploads still accepted while the revocation travels through the devices topic

    async def refused_status() -> int | None:
        nonlocal accepted
        status = (await running.post(upload()))[0]
        if status == 202:
            accepted += 1
            return None
        return status

    status = await await_until(refused_status, "the gateway to refuse the revoked token", 10,
                               interval_s=0.05)
    assert status == 401
    assert len(await read_topic(running.settings, accepted + 1, timeout_s=2)) == accepted


async def test_invalid_uploads_are_refused_naming_field_and_reason(running: Running) -> None:
    status, doc, _ = await running.post(b"{not json")
    assert (status, doc["error"], doc["field"]) == (400, "not_json", "$")
    status, doc, _ = await running.post(upload(schema_version=2))
    assert (status, doc["error"], doc["field"]) == (400, "unknown_schema_version",
                                                    "schema_version")
    status, doc, _ = await running.post(b"x" * (running.settings.uploads.max_upload_bytes + 1))
    assert (status, doc["error"]) == (413, "too_large")
    # one bad value inside an otherwise good upload: accepted, and the device is told
    body = upload().replace(b'"hr_bpm":61', b'"hr_bpm":400')
    status, doc, _ = await running.post(body)
    assert status == 202
    assert doc["issues"] == [{"field": "samples[1].hr_bpm", "reason": "out_of_range",
                              "detail": "hr_bpm=400 outside the plausible 25-250 beats/min"}]
    letters = [orjson.loads(value) for _, value, _, _ in await read_topic(
        running.settings, 2, topic=running.settings.topics.rejected) if value is not None]
    assert [(r["reason"], r["field"], r["patient_id"]) for r in letters] == [
        ("not_json", "$", PATIENT), ("unknown_schema_version", "schema_version", PATIENT)]
    assert base64.b64decode(letters[0]["original_b64"]) == b"{not json"  # the 413: not read
    metrics = await (await running.http.get(running.gateway.url + "/metrics")).text()
    assert "wearmon_gateway_uploads_total 1.0" in metrics
    assert 'wearmon_gateway_rejections_total{reason="not_json"} 1.0' in metrics
    assert 'wearmon_gateway_requests_total{status="413"} 1.0' in metrics
    assert "wearmon_gateway_devices 1.0" in metrics
    assert "wearmon_gateway_request_seconds_count 1.0" in metrics


async def test_backpressure_answers_429_and_202_waits_for_the_broker(tmp_path: Path) -> None:
    broker = start_broker()  # its own broker: this test pauses it
    try:
        settings = gateway_settings(broker.url, gateway_max_inflight=2, gateway_retry_after_s=3)
        async for run in start(settings):
            os.kill(broker.proc.pid, signal.SIGSTOP)
            try:
                waiting = [asyncio.create_task(run.post(upload())) for _ in range(2)]
                await await_until(lambda gateway=run.gateway: gateway.inflight >= 2,
                                  "two uploads in flight", 10, interval_s=0.01)
                status, doc, headers = await run.post(upload())
                assert (status, doc["error"], headers["Retry-After"]) == (429, "busy", "3")
                assert not any(task.done() for task in waiting)  # no 202 before the ack
            finally:
                os.kill(broker.proc.pid, signal.SIGCONT)
            assert [(await task)[0] for task in waiting] == [202, 202]
            assert len(await read_topic(settings, 2)) == 2
    finally:
        broker.stop()


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


async def test_https_with_a_configured_certificate(services: Services, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    settings = gateway_settings(services.broker_url, gateway_tls_cert=str(cert),
                                gateway_tls_key=str(key))
    async for run in start(settings):
        assert run.gateway.url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(cert))
        async with run.http.post(run.uploads_url, data=upload(), ssl=trusted,
                                 headers={"Authorization": f"Bearer {run.token}"}) as resp:
            assert resp.status == 202
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await run.http.post(run.uploads_url, data=upload())  # untrusted certificate
        plain = run.uploads_url.replace("https://", "http://")
        with pytest.raises(aiohttp.ClientError):
            await run.http.post(plain, data=upload())


async def test_start_up_errors_name_the_variable(services: Services, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WEARMON_GATEWAY_IDEMPOTENT=false"):
        await Gateway(gateway_settings(services.broker_url, gateway_idempotent=True)).start()
    with pytest.raises(ConfigError, match="WEARMON_GATEWAY_TLS_CERT"):
        await Gateway(gateway_settings(services.broker_url, gateway_host="0.0.0.0")).start()
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="WEARMON_GATEWAY_TLS_CERT and WEARMON_GATEWAY_TLS_KEY"):
        await Gateway(gateway_settings(services.broker_url, gateway_tls_cert=missing,
                                       gateway_tls_key=missing)).start()


async def test_every_record_shape_on_the_devices_topic_is_contained(running: Running) -> None:
    """Junk on the devices topic: logged, counted skips; the registry's follower goes on."""
    settings = running.settings
    _, other = issue("watch-gw-x", "p-gw-0009", now_ms=1)
    producer = make_producer(settings)
    await producer.start()
    try:
        junk: list[tuple[bytes | None, bytes | None]] = [
            (None, other.to_bytes()), (b"", None), (b"", other.to_bytes()),
            (b"\xff\xfe", other.to_bytes()), (b"watch-gw-x", b"{not json"),
            (b"watch-gw-x", b""), (b"watch-gw-x", b"[1, 2]"),
            (b"watch-gw-x", orjson.dumps({"patient_id": "p-gw-0009", "care_team": []})),
            (b"watch-gw-y", other.to_bytes()),  # a grant under another device's key
        ]
        for key, value in junk:
            await (await producer.send(settings.topics.devices, value, key=key))
    finally:
        await producer.stop()
    token, _ = await issue_token(settings, "watch-gw-2", PATIENT)  # after the junk
    await wait_granted(running, token)  # the devices follower read past the junk
    assert running.gateway.registry.skipped == len(junk)
    assert (await running.post(upload(device="watch-gw-2"), token=token))[0] == 202
    assert (await running.post(upload()))[0] == 202  # the first device is untouched
    metrics = await (await running.http.get(running.gateway.url + "/metrics")).text()
    assert f"wearmon_gateway_device_records_skipped_total {len(junk)}.0" in metrics
    assert set(running.gateway.registry.by_device) == {DEVICE, "watch-gw-2"}
