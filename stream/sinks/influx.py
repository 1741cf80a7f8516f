"""Awaited writes to InfluxDB: a batch returns only once it is durable.

Writes go to ``POST /write?db=…``: the one endpoint that InfluxDB 1.x, 2.x (db is mapped to the
bucket) and 3.x all accept (influxdb-client always writes to ``/api/v2/write``, which 1.6/1.7
lack). Transient failures block and retry with backoff: backpressure, never a silent drop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import aiohttp

from wearmon.stream.config import Settings

log = logging.getLogger(__name__)


class InfluxRejectedError(RuntimeError):
    """InfluxDB refused the data itself (4xx): retrying the same batch cannot succeed."""


class InfluxWriter:
    """Awaited batch writes with retry and backoff; a batch returns only once it is durable."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._session = session
        self._url = f"{settings.influx_url}/write"
        self.retries = 0  # failed attempts that were retried (read by the worker's metrics)
        self._params = {"db": settings.influx_db}  # no precision: nanoseconds everywhere
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if settings.influx_token is not None:
            self._headers["Authorization"] = f"Token {settings.influx_token.get_secret_value()}"
        elif settings.influx_username:
            secret = settings.influx_password
            password = secret.get_secret_value() if secret is not None else ""
            self._params.update(u=settings.influx_username, p=password)

    async def ensure_database(self) -> None:
        """``CREATE DATABASE`` (idempotent) on 1.x; 2.x/3.x create buckets/dbs themselves."""
        params = {k: v for k, v in self._params.items() if k in ("u", "p")}
        params["q"] = f'CREATE DATABASE "{self._settings.influx_db}"'
        await self._post(f"{self._settings.influx_url}/query", params, b"", "CREATE DATABASE")

    async def write(self, lines: Iterable[str]) -> int:
        """Write lines; retry transient failures until they are durable. Returns points written.

        Transient failures (connection errors, 5xx, 429) block and retry: backpressure instead of
        loss. A 4xx means InfluxDB refuses the data itself and raises ``InfluxRejectedError``.
        """
        body = "\n".join(lines)
        if not body:
            return 0
        count = body.count("\n") + 1
        await self._post(self._url, self._params, body.encode(), "write")
        return count

    async def _post(self, url: str, params: dict[str, str], body: bytes, what: str,
                    max_backoff_s: float = 10.0) -> None:
        delay_s = 0.2
        timeout = aiohttp.ClientTimeout(total=self._settings.influx_timeout_s)
        while True:
            try:
                async with self._session.post(url, params=params, data=body,
                                              headers=self._headers, timeout=timeout) as resp:
                    if resp.status in (200, 204):
                        return
                    if 400 <= resp.status < 500 and resp.status != 429:
                        # InfluxDB's error text can quote the data (vitals): not for the logs.
                        raise InfluxRejectedError(f"InfluxDB refused {what}: HTTP {resp.status}")
                    log.warning("InfluxDB %s failed (HTTP %s); retrying in %.1f s",
                                what, resp.status, delay_s)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("InfluxDB unreachable (%s); retrying in %.1f s",
                            type(exc).__name__, delay_s)
            self.retries += 1
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, max_backoff_s)
