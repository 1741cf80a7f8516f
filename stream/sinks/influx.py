"""Awaited writes to InfluxDB: a batch returns only once it is durable.

Writes go to ``POST /write?db=…``: the one endpoint that InfluxDB 1.x, 2.x (db is mapped to the
bucket) and 3.x all accept (influxdb-client always writes to ``/api/v2/write``, which 1.6/1.7
lack). What InfluxDB answers decides what happens:

* 2xx: durable.
* 400 and 422 (points it cannot take: a field-type conflict, a parse error, outside the
  retention period) and 413 (too large): raise
  ``InfluxRejectedError`` with a content-free ``kind``, so that the caller can split the batch,
  dead-letter the uploads that are refused and write the rest.
* connection errors, timeouts, 5xx, 429, and 401/403/404 (credentials, a missing database or
  bucket: an operator's problem, not the data's): an outage. Block and retry with backoff until
  it ends (backpressure, never a drop); with ``WEARMON_INFLUX_CREATE_DB`` a missing database is
  created again. One warning when an outage starts, then one every 30 s (``OutageWatch``).

InfluxDB's error text can quote the data (vitals): it is never logged.
"""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from wearmon.stream.config import InfluxSettings
from wearmon.stream.sinks.outage import OutageWatch

CREDENTIALS = ("refuses the credentials (set WEARMON_INFLUX_USERNAME and "
               "WEARMON_INFLUX_PASSWORD for 1.x, or WEARMON_INFLUX_TOKEN for 2.x/3.x)")
#: Content-free names for what InfluxDB says when it refuses points (matched, never quoted).
REFUSAL_KINDS = (
    ("field type conflict", "field type conflict"),
    ("unable to parse", "unparsable line"),
    ("points beyond retention policy", "beyond retention policy"),
    ("invalid field format", "invalid field"),
    ("max-values-per-tag", "tag limit"),
    ("max-series-per-database", "series limit"),
)


class InfluxRejectedError(RuntimeError):
    """InfluxDB refused the data itself: retrying the same lines cannot succeed."""

    def __init__(self, status: int, kind: str) -> None:
        super().__init__(f"InfluxDB refused the points: HTTP {status} ({kind})")
        self.status = status
        self.kind = kind


class InfluxOutage(Exception):
    """InfluxDB cannot take writes now (down, overloaded, credentials, missing database)."""

    def __init__(self, what: str, status: int | None = None, missing_database: bool = False
                 ) -> None:
        super().__init__(what)
        self.status = status
        self.missing_database = missing_database


def refusal_kind(text: str) -> str:
    """What kind of refusal an error body describes, without quoting it.

    >>> refusal_kind('partial write: field type conflict: input field "hr_bpm" ... dropped=1')
    'field type conflict'
    """
    lowered = text.lower()
    return next((kind for phrase, kind in REFUSAL_KINDS if phrase in lowered), "other")


class InfluxWriter:
    """Awaited batch writes with retry and backoff; a batch returns only once it is durable."""

    def __init__(self, config: InfluxSettings, session: aiohttp.ClientSession) -> None:
        self.config = config
        self._session = session
        self._url = f"{config.url}/write"
        self._params = {"db": config.db}  # no precision: nanoseconds everywhere
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if config.token is not None:
            self._headers["Authorization"] = f"Token {config.token.get_secret_value()}"
        elif config.username:
            secret = config.password
            password = secret.get_secret_value() if secret is not None else ""
            self._params.update(u=config.username, p=password)
        self.watch = OutageWatch("InfluxDB")

    @property
    def outage_since(self) -> float | None:
        """Monotonic time since which writes fail (None: they do not)."""
        return self.watch.since

    @property
    def outage(self) -> InfluxOutage | None:
        """The last failure of the outage."""
        last = self.watch.last
        return last if isinstance(last, InfluxOutage) else None

    @property
    def retries(self) -> int:
        return self.watch.retries

    async def ensure_database(self) -> None:
        """``CREATE DATABASE`` (idempotent) on 1.x; 2.x/3.x create buckets/dbs themselves."""
        params = {k: v for k, v in self._params.items() if k in ("u", "p")}
        params["q"] = f'CREATE DATABASE "{self.config.db}"'
        await self._retrying(f"{self.config.url}/query", params, b"")

    async def _create_database_once(self) -> None:
        """One attempt to create a database that disappeared (dropped): errors are ignored."""
        params = {k: v for k, v in self._params.items() if k in ("u", "p")}
        params["q"] = f'CREATE DATABASE "{self.config.db}"'
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with self._session.post(f"{self.config.url}/query", params=params,
                                          headers=self._headers, timeout=timeout):
                pass
        except (aiohttp.ClientError, TimeoutError):
            pass

    async def write(self, lines: Iterable[str]) -> int:
        """Write lines; wait out outages until they are durable. Returns the points written.

        Raises ``InfluxRejectedError`` when InfluxDB refuses the data itself (400, 413).
        """
        body = "\n".join(lines)
        if not body:
            return 0
        await self._retrying(self._url, self._params, body.encode())
        return body.count("\n") + 1

    async def _retrying(self, url: str, params: dict[str, str], body: bytes) -> None:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(InfluxOutage),
            wait=wait_exponential(multiplier=0.2, max=10.0),
            before_sleep=lambda state: self.watch.retrying(state.outcome.exception()
                                                           if state.outcome else None),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._post_once(url, params, body)
        self.watch.ended()

    async def _post_once(self, url: str, params: dict[str, str], body: bytes) -> None:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with self._session.post(url, params=params, data=body,
                                          headers=self._headers, timeout=timeout) as resp:
                if 200 <= resp.status < 300:
                    return
                text = await resp.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise InfluxOutage(f"InfluxDB unreachable ({type(exc).__name__})") from None
        if resp.status in (400, 413, 422):
            raise InfluxRejectedError(resp.status, "too large" if resp.status == 413
                                      else refusal_kind(text))
        missing = resp.status == 404 and "database not found" in text.lower()
        if missing and self.config.create_db and url == self._url:
            await self._create_database_once()
        raise InfluxOutage(f"InfluxDB {self.problem(resp.status)}: HTTP {resp.status}",
                           resp.status, missing)

    def problem(self, status: int) -> str:
        """What an answer that is not about the data means, and what to set."""
        if status in (401, 403):
            return CREDENTIALS
        if status == 404:
            return (f"has no database/bucket {self.config.db!r} (create it, or set "
                    "WEARMON_INFLUX_CREATE_DB=true)")
        return "cannot take writes"

    async def check(self) -> str | None:
        """At start-up: None when InfluxDB takes these credentials and has the database
        (created first with ``WEARMON_INFLUX_CREATE_DB``), else one line saying what to set.
        Raises ``InfluxOutage`` when it does not answer."""
        status, text = await self._query({"q": "SHOW MEASUREMENTS LIMIT 1",
                                          "db": self.config.db})
        refused = status in (401, 403)
        missing = not refused and (status == 404 or "database not found" in text.lower())
        if missing and self.config.create_db:
            await self.ensure_database()
            return None
        if refused or missing:
            return f"InfluxDB at {self.config.url} {self.problem(404 if missing else status)}"
        if status >= 500:
            raise InfluxOutage(f"InfluxDB cannot answer: HTTP {status}", status)
        return None

    async def probe(self) -> None:
        """While nothing is written: is InfluxDB there (``/ping``) and does it take the
        credentials (``SHOW DATABASES``)? Updates ``outage`` like a failed write would."""
        try:
            status, _ = await self._query({"q": "SHOW DATABASES"})
        except InfluxOutage as outage:
            self.failed(outage)
            return
        if status in (401, 403) or status >= 500:
            self.failed(InfluxOutage(f"InfluxDB {self.problem(status)}: HTTP {status}", status))
        else:
            self.watch.ended()

    def failed(self, outage: InfluxOutage) -> None:
        self.watch.failed(outage)

    async def _query(self, params: dict[str, str]) -> tuple[int, str]:
        """One InfluxQL request with the credentials: (HTTP status, body)."""
        params = {**{k: v for k, v in self._params.items() if k in ("u", "p")}, **params}
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with self._session.get(f"{self.config.url}/query", params=params,
                                         headers=self._headers, timeout=timeout) as resp:
                return resp.status, await resp.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise InfluxOutage(f"InfluxDB unreachable ({type(exc).__name__})") from None
