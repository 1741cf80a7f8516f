"""Conditional updates to a FHIR server that return only once the server has taken them.

``PUT [base]/Flag?identifier=system|value`` (FHIR's conditional update: no match creates the
resource, one match updates it) with the resource as ``application/fhir+json``. What the server
answers decides what happens:

* 2xx: taken.
* 408, 409 (a concurrent update), 429, 5xx, connection errors and timeouts; 401 and 403 (the
  credentials or scopes; with SMART a 401 fetches a new token first); 404 and 405 (no such
  server or endpoint: ``WEARMON_FHIR_BASE_URL``): an outage. Retried with exponential backoff
  (at most ``WEARMON_FHIR_RETRY_MAX_S`` apart, longer if the server's ``Retry-After`` asks) until
  it ends: the exporter holds its batch, never drops it.
* any other 4xx (400, 412 when the identifier matches several resources, 422): the server
  refuses this resource. ``FhirRefused`` carries the element and the diagnostics of its
  ``OperationOutcome``; the caller dead-letters the resource and goes on.

Neither URLs (they hold identifiers) nor the server's texts are logged.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import aiohttp
import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from wearmon.stream.config import FhirSettings
from wearmon.stream.export.auth import Auth, FhirOutage
from wearmon.stream.export.plan import Write
from wearmon.stream.sinks.outage import OutageWatch

FHIR_JSON: Final = "application/fhir+json"
OUTAGE_STATUS: Final = frozenset({401, 403, 404, 405, 408, 409, 429})
MAX_DIAGNOSTICS: Final = 400


class FhirRefused(Exception):
    """The server refused the resource itself: sending it again cannot succeed."""

    def __init__(self, status: int, element: str, diagnostics: str) -> None:
        super().__init__(f"the FHIR server refused the resource: HTTP {status}")
        self.status = status
        self.element = element
        self.diagnostics = diagnostics


def outcome_of(body: bytes) -> tuple[str, str]:
    """The element (``expression``, else ``location``) and the diagnostics of an
    ``OperationOutcome``'s first error issue; ``("", "")`` when the body is not one.

    >>> outcome_of(b'{"resourceType": "OperationOutcome", "issue": [{"severity": "error",'
    ...            b' "code": "invalid", "diagnostics": "Flag.code: required",'
    ...            b' "expression": ["Flag.code"]}]}')
    ('Flag.code', 'Flag.code: required')
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", ""
    issues = doc.get("issue") if isinstance(doc, dict) else None
    if not isinstance(issues, list):
        return "", ""
    issues = [i for i in issues if isinstance(i, dict)]
    errors = [i for i in issues if i.get("severity") in ("error", "fatal")] or issues
    if not errors:
        return "", ""
    first = errors[0]
    where = first.get("expression") or first.get("location") or [""]
    details = first.get("details")
    text = first.get("diagnostics") or (details.get("text") if isinstance(details, dict)
                                        else None) or first.get("code") or ""
    element = str(where[0] if isinstance(where, list) and where else "")[:200]
    return element, " ".join(str(text).split())[:MAX_DIAGNOSTICS]


def retry_after_s(value: str | None) -> float | None:
    """A ``Retry-After`` of seconds (an HTTP date is ignored: the backoff applies).

    >>> retry_after_s("7"), retry_after_s("Wed, 21 Oct 2026 07:28:00 GMT"), retry_after_s(None)
    (7.0, None, None)
    """
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def problem(status: int) -> str:
    """What an answer that is not about the resource means, and what to check."""
    if status in (401, 403):
        return ("refuses the credentials (check WEARMON_FHIR_TOKEN, or the SMART client "
                "WEARMON_FHIR_CLIENT_ID and its WEARMON_FHIR_SCOPE)")
    if status in (404, 405):
        return "has no such endpoint (check WEARMON_FHIR_BASE_URL)"
    return "cannot take writes"


class FhirClient:
    """Awaited conditional updates with retry and backoff."""

    def __init__(self, config: FhirSettings, session: aiohttp.ClientSession, auth: Auth) -> None:
        self.config = config
        self.session = session
        self.auth = auth
        self.watch = OutageWatch("The FHIR server")

    async def put(self, write: Write) -> None:
        """Write until the server has taken it; ``FhirRefused`` when it refuses it."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(FhirOutage), wait=self.wait_s,
            before_sleep=lambda state: self.watch.retrying(
                state.outcome.exception() if state.outcome else None),
            reraise=True)
        async for attempt in retrying:
            with attempt:
                await self.put_once(write)
        self.watch.ended()

    def wait_s(self, state: RetryCallState) -> float:
        """Exponential backoff, at most ``retry_max_s``; longer when the server says so."""
        backoff = wait_exponential(multiplier=0.2, max=self.config.retry_max_s)(state)
        error = state.outcome.exception() if state.outcome is not None else None
        asked = error.retry_after_s if isinstance(error, FhirOutage) else None
        return max(backoff, min(asked or 0.0, 300.0))

    async def put_once(self, write: Write) -> None:
        headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, **await self.auth.headers()}
        url = f"{self.config.base_url}/{write.resource_type}"
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with self.session.put(url, params=write.search, data=orjson.dumps(write.body),
                                        headers=headers, timeout=timeout) as resp:
                if 200 <= resp.status < 300:
                    return
                status, body = resp.status, await resp.read()
                after = retry_after_s(resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FhirOutage(f"the FHIR server is unreachable ({type(exc).__name__})") from None
        if status == 401:
            self.auth.refused()
        if status in OUTAGE_STATUS or status >= 500:
            raise FhirOutage(f"the FHIR server {problem(status)}: HTTP {status}", status, after)
        element, diagnostics = outcome_of(body)
        raise FhirRefused(status, element, diagnostics)

    async def metadata(self) -> tuple[int, dict[str, Any]]:
        """``GET [base]/metadata`` with the credentials: (HTTP status, the JSON object);
        ``FhirOutage`` when the server (or the token endpoint) does not answer."""
        headers = {"Accept": FHIR_JSON, **await self.auth.headers()}
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with self.session.get(f"{self.config.base_url}/metadata", headers=headers,
                                        timeout=timeout) as resp:
                status, body = resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FhirOutage(f"the FHIR server is unreachable ({type(exc).__name__})") from None
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        return status, doc if isinstance(doc, dict) else {}

    async def probe(self) -> None:
        """While nothing is written: does the server answer, and take the credentials?
        Updates the outage like a failed write would."""
        try:
            status, _ = await self.metadata()
        except FhirOutage as outage:
            self.watch.failed(outage)
            return
        if status == 401:
            self.auth.refused()
        if status in OUTAGE_STATUS or status >= 500:
            self.watch.failed(FhirOutage(f"the FHIR server {problem(status)}: HTTP {status}",
                                         status))
        else:
            self.watch.ended()


async def put_all(client: FhirClient, writes: list[Write]
                  ) -> list[tuple[Write, FhirRefused]]:
    """Every write, ``concurrency`` at a time, each until taken; returns the refused ones."""
    gate = asyncio.Semaphore(client.config.concurrency)

    async def one(write: Write) -> FhirRefused | None:
        async with gate:
            try:
                await client.put(write)
            except FhirRefused as refused:
                return refused
            return None

    results = await asyncio.gather(*(one(w) for w in writes))
    return [(w, r) for w, r in zip(writes, results, strict=True) if r is not None]
