"""One slow or abusive device cannot keep the others out (issue 23, item 3), against the real
broker and a real gateway, with raw sockets for what well-behaved clients never do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.conftest import Services
from tests.integration.test_gateway import Running, gateway_settings, start, upload, wait_granted
from tests.waiting import await_until
from wearmon.stream.gateway.devices import issue_token
from wearmon.stream.gateway.server import UPLOADS_PATH

pytestmark = pytest.mark.integration
ATTACKER_DEVICE, ATTACKER_PATIENT = "watch-gw-slow", "p-gw-slow"


async def headers_then(host: str, port: int, token: str, length: int, first: bytes
                       ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that sent a request's headers and the first bytes of its body."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"POST {UPLOADS_PATH} HTTP/1.1\r\nHost: {host}\r\n"
                 f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {length}\r\n\r\n".encode() + first)
    await writer.drain()
    return reader, writer


async def status_of(reader: asyncio.StreamReader, timeout_s: float) -> int | None:
    """The HTTP status the gateway answered on a raw connection (None: it closed silently)."""
    line = await asyncio.wait_for(reader.readline(), timeout_s)
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else None


async def requests_seen(run: Running, count: int, timeout_s: float = 30.0) -> None:
    """Wait until the gateway's HTTP server has parsed ``count`` requests' headers."""
    server = run.gateway.runner.server if run.gateway.runner else None
    assert server is not None, "the gateway is not serving"
    await await_until(lambda: server.requests_count >= count,  # the server's counter
                      f"the gateway to see {count} requests", timeout_s, interval_s=0.02)


async def metric_values(run: Running) -> dict[str, float]:
    text = await (await run.http.get(run.gateway.url + "/metrics")).text()
    return {name: float(value) for name, value in
            (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))}


async def nothing_receiving(run: Running, timeout_s: float = 10.0) -> None:
    """Wait until the gateway reads no body (closed connections have given their slots back)."""
    await await_until(lambda: metric_values(run), "no body being read", timeout_s,
                      until=lambda metrics: metrics["wearmon_gateway_receiving"] == 0,
                      interval_s=0.05)


@pytest.fixture
async def limited(services: Services) -> AsyncIterator[Running]:
    settings = gateway_settings(services.broker_url, gateway_body_timeout_s=2,
                                gateway_min_body_bytes_per_s=1000,
                                gateway_header_timeout_s=2)
    async for one in start(settings):
        yield one


async def test_260_slow_bodies_do_not_keep_another_device_out(limited: Running) -> None:
    host, port = "127.0.0.1", int(limited.gateway.url.rsplit(":", 1)[1])
    attacker, _ = await issue_token(limited.settings, ATTACKER_DEVICE, ATTACKER_PATIENT)
    await wait_granted(limited, attacker)
    slow = [await headers_then(host, port, attacker, 100_000, b"{") for _ in range(260)]
    try:
        await requests_seen(limited, 260)
        started = time.monotonic()
        async with limited.http.post(
                limited.uploads_url, data=upload(),
                headers={"Authorization": f"Bearer {limited.token}"},
                timeout=aiohttp.ClientTimeout(total=2)) as resp:
            assert resp.status == 202, await resp.text()
        assert time.monotonic() - started < 2
        # the attacker: beyond its token's limit refused at once, the rest cut off when the
        # body stops arriving at the minimum rate; nobody waits 40 s
        statuses = await asyncio.gather(*(status_of(reader, 10) for reader, _ in slow))
        per_device = limited.settings.gateway.max_requests_per_device
        assert statuses.count(429) == 260 - per_device
        assert statuses.count(408) == per_device
    finally:
        for _, writer in slow:
            writer.close()
    metrics = await metric_values(limited)
    assert metrics['wearmon_gateway_rejections_total{reason="device_busy"}'] == 260 - per_device
    assert metrics['wearmon_gateway_rejections_total{reason="body_too_slow"}'] == per_device
    assert metrics["wearmon_gateway_receiving"] == 0


async def test_headers_must_arrive_in_time(limited: Running) -> None:
    host, port = "127.0.0.1", int(limited.gateway.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection(host, port)
    idle_reader, idle_writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"POST {UPLOADS_PATH} HTTP/1.1\r\nHost: x\r\nAuthor".encode())
        await writer.drain()
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, headers incomplete
        assert await asyncio.wait_for(idle_reader.read(), 10) == b""  # nothing sent at all
        assert time.monotonic() - started < limited.settings.gateway.header_timeout_s + 2
    finally:
        writer.close()
        idle_writer.close()


async def test_a_body_below_the_minimum_rate_is_cut_off_and_a_steady_one_passes(
        limited: Running) -> None:
    host, port = "127.0.0.1", int(limited.gateway.url.rsplit(":", 1)[1])
    body = upload()
    started = time.monotonic()
    reader, writer = await headers_then(host, port, limited.token, len(body), body[:10])
    answer = asyncio.create_task(status_of(reader, 30))
    try:
        for index in range(10, len(body)):  # one byte every 0.1 s: 10 B/s < 1000 B/s
            if answer.done():
                break
            writer.write(body[index:index + 1])
            await writer.drain()
            await asyncio.sleep(0.1)
        assert await answer == 408
        assert time.monotonic() - started < 2 + 1 + 1  # timeout + what arrived / rate + slack
    finally:
        writer.close()

    body = upload(n=60)  # in four pieces, fast enough: accepted
    reader, writer = await headers_then(host, port, limited.token, len(body), b"")
    try:
        for piece in range(4):
            writer.write(body[piece * len(body) // 4:(piece + 1) * len(body) // 4])
            await writer.drain()
            await asyncio.sleep(0.3)  # a device on a slow link: pieces apart
        assert await status_of(reader, 10) == 202
    finally:
        writer.close()


async def test_one_address_holds_a_bounded_number_of_requests(services: Services) -> None:
    settings = gateway_settings(services.broker_url, gateway_max_requests_per_address=3,
                                gateway_body_timeout_s=30)
    async for run in start(settings):
        host, port = "127.0.0.1", int(run.gateway.url.rsplit(":", 1)[1])
        tokens = [(await issue_token(settings, f"watch-gw-a{i}", f"p-gw-a{i:03d}"))[0]
                  for i in range(4)]
        await wait_granted(run, *tokens)
        held = [await headers_then(host, port, token, 1000, b"{") for token in tokens[:3]]
        try:
            await requests_seen(run, 3)
            reader, writer = await headers_then(host, port, tokens[3], 1000, b"{")
            assert await status_of(reader, 5) == 429
            writer.close()
        finally:
            for _, held_writer in held:
                held_writer.close()
        await nothing_receiving(run)
        assert (await run.post(upload(), token=run.token))[0] == 202  # slots are given back
