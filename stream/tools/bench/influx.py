"""The sink's baseline: the same points written raw to InfluxDB (``POST /write``, 5,000 lines a
request, one connection), as fast as one client can, into a database of their own."""

from __future__ import annotations

import http.client
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import closing

import orjson

from wearmon.stream.tools.bench.kafka_io import Timed

BATCH_LINES = 5_000


def chunks(lines: list[str], size: int) -> Iterator[bytes]:
    """
    >>> list(chunks(["a 1", "b 2", "c 3"], 2))
    [b'a 1\\nb 2', b'c 3']
    """
    for start in range(0, len(lines), size):
        yield "\n".join(lines[start:start + size]).encode()


def _post(conn: http.client.HTTPConnection, path: str, body: bytes, ok: int) -> None:
    conn.request("POST", path, body=body,
                 headers={"Content-Type": "application/x-www-form-urlencoded"
                          if path.startswith("/query") else "text/plain; charset=utf-8"})
    resp = conn.getresponse()
    text = resp.read()
    if resp.status != ok:
        raise RuntimeError(f"InfluxDB {path.split('?')[0]} answered {resp.status}: {text[:300]!r}")


def query_mean(influx_url: str, db: str, measurement: str, field: str, since_ms: int
               ) -> float | None:
    """Mean of ``field`` over the points of ``measurement`` since ``since_ms`` (None: none)."""
    query = f'SELECT mean("{field}") FROM "{measurement}" WHERE time >= {since_ms}ms'
    params = urllib.parse.urlencode({"db": db, "q": query})
    url = urllib.parse.urlsplit(influx_url)
    with closing(http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port,
                                            timeout=60)) as conn:
        conn.request("GET", f"/query?{params}")
        doc = orjson.loads(conn.getresponse().read())
    series = doc["results"][0].get("series")
    return float(series[0]["values"][0][1]) if series else None


def write_raw(influx_url: str, db: str, lines: list[str]) -> Timed:
    """Create ``db``, then write ``lines`` in requests of 5,000; timed from the first request."""
    url = urllib.parse.urlsplit(influx_url)
    with closing(http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port,
                                            timeout=60)) as conn:
        _post(conn, "/query", urllib.parse.urlencode({"q": f'CREATE DATABASE "{db}"'}).encode(),
              200)
        path = f"/write?{urllib.parse.urlencode({'db': db})}"
        started = time.perf_counter()
        for body in chunks(lines, BATCH_LINES):
            _post(conn, path, body, 204)
        return Timed(len(lines), time.perf_counter() - started)
