"""``wearmon gateway``: the aiohttp service in front of the telemetry topic.

``POST /v1/uploads`` with ``Authorization: Bearer <device token>`` and a contract-v1 upload:

* ``202`` ``{"upload_id", "partition", "offset", "issues"}`` once the broker acknowledged the upload
  (``acks=all``; idempotent producer); ``issues`` lists sample values the worker will drop;
* ``400``/``413`` ``{"error", "field", "detail", "issues"}`` invalid upload (same reasons as the
  worker's dead-letter topic), ``401`` unknown or revoked token, ``403`` device or patient not
  granted to the token;
* ``429`` + ``Retry-After`` when ``WEARMON_GATEWAY_MAX_INFLIGHT`` uploads already wait for the
  broker (backpressure: memory stays bounded), or the device or the client address already has
  its most requests in progress (``limits``); ``408`` when the body does not arrive at the
  minimum pace (``body``); ``503`` + ``Retry-After`` when the broker did not acknowledge within
  ``WEARMON_GATEWAY_SEND_TIMEOUT_S``. Re-sending is safe: the worker drops uploads whose
  ``upload_id`` it has seen.

Refusals of an authenticated request's content (400, 403) are also dead-lettered, as the worker
dead-letters what it refuses. ``GET /health`` and ``GET /metrics`` (Prometheus). Nothing about an
upload is logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import time
from functools import partial

from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from orjson import dumps
from prometheus_client import CONTENT_TYPE_LATEST

from wearmon.stream.config import ConfigError, Settings
from wearmon.stream.core.validation import Rejection, Validated
from wearmon.stream.gateway.admission import (
    Converted,
    Format,
    NativeFormat,
    Refusal,
    admit,
    refuse,
    relabel,
)
from wearmon.stream.gateway.body import BodyRefused, read_body, too_large
from wearmon.stream.gateway.devices import registry_view
from wearmon.stream.gateway.interop.formats import FhirFormat, OmhFormat
from wearmon.stream.gateway.limits import BodyLimits, Occupancy
from wearmon.stream.gateway.metrics import GatewayMetrics
from wearmon.stream.gateway.tokens import Grant
from wearmon.stream.kafka import client_options, ensure_topics
from wearmon.stream.signals import stop_on_signals

log = logging.getLogger(__name__)
UPLOADS_PATH = "/v1/uploads"
FHIR_BUNDLE_PATH, FHIR_OBSERVATION_PATH = "/fhir/r4/Bundle", "/fhir/r4/Observation"
OMH_PATH = "/omh/v1/datapoints"
#: The other ways in: health IT's formats, turned into contract-v1 uploads (``interop``)
WAYS_IN: dict[str, Format] = {FHIR_BUNDLE_PATH: FhirFormat("Bundle"),
                              FHIR_OBSERVATION_PATH: FhirFormat("Observation"),
                              OMH_PATH: OmhFormat()}


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """HTTPS when a certificate is configured; plain HTTP only on loopback unless allowed."""
    if not settings.gateway.tls_cert:
        if not (is_loopback(settings.gateway.host) or settings.gateway.plaintext_ok):
            raise ConfigError(
                f"the gateway would serve plain HTTP on {settings.gateway.host}: set "
                "WEARMON_GATEWAY_TLS_CERT and WEARMON_GATEWAY_TLS_KEY, or "
                "WEARMON_GATEWAY_PLAINTEXT_OK=true when a TLS proxy is in front of it")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.gateway.tls_cert, settings.gateway.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            "cannot load the gateway's certificate: check WEARMON_GATEWAY_TLS_CERT and "
            f"WEARMON_GATEWAY_TLS_KEY ({type(exc).__name__}: {exc.strerror or exc})") from None
    return context


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class Gateway:
    """One gateway: the device registry, an acks=all producer and the HTTP application."""

    def __init__(self, settings: Settings) -> None:
        settings.require_broker()
        self.settings = settings
        self.limits = settings.uploads.limits()
        self.body_limits = BodyLimits.of(settings)
        self.occupancy = Occupancy(settings.gateway.max_requests_per_device,
                                   settings.gateway.max_requests_per_address)
        self.registry, self.view = registry_view(settings)
        self.producer = AIOKafkaProducer(
            **client_options(settings), acks="all",
            enable_idempotence=settings.gateway.idempotent, linger_ms=2,
            max_batch_size=settings.kafka.producer_max_batch_bytes,
            max_request_size=max(2 * settings.uploads.max_upload_bytes, 1_048_576))
        self.inflight = 0
        self.receiving = 0
        self.metrics = GatewayMetrics(devices=lambda: len(self.registry),
                                      inflight=lambda: self.inflight,
                                      receiving=lambda: self.receiving,
                                      skipped=lambda: self.registry.skipped)
        self.native = NativeFormat()
        self.runner: web.AppRunner | None = None
        self.url = ""

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.uploads.max_upload_bytes)
        app.router.add_post(UPLOADS_PATH, self.upload)
        for path, way in WAYS_IN.items():
            app.router.add_post(path, partial(self.receive, way=way))
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.exposition)
        return app

    async def start(self) -> str:
        """Read the registry, connect the producer, listen; returns the base URL."""
        context = tls_context(self.settings)
        await ensure_topics(self.settings, extra=[self.settings.topics.devices])
        try:
            await self.producer.start()
        except KafkaError as exc:
            await self.producer.stop()
            hint = (" (it may not support idempotent producers: set "
                    "WEARMON_GATEWAY_IDEMPOTENT=false)" if self.settings.gateway.idempotent
                    else "")
            raise ConfigError(f"the broker at {self.settings.kafka.broker} refused the gateway's "
                              f"producer: {type(exc).__name__}{hint}") from None
        await self.view.wait_ready()
        # keepalive_timeout: aiohttp closes a connection whose next request's headers are not
        # complete within it (from the connection's start or the previous answer)
        self.runner = web.AppRunner(self.application(), access_log=None,
                                    keepalive_timeout=self.settings.gateway.header_timeout_s)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.settings.gateway.host, self.settings.gateway.port,
                           ssl_context=context)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"{'https' if context else 'http'}://{self.settings.gateway.host}:{port}"
        log.info("gateway listening on %s (%d devices)", self.url, len(self.registry))
        return self.url

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        await self.view.stop()
        await self.producer.stop()

    # --- handlers -----------------------------------------------------------------------

    async def upload(self, request: web.Request) -> web.Response:
        return await self.receive(request, self.native)

    async def receive(self, request: web.Request, way: Format) -> web.Response:
        """Token, then the device's and the address's slots, then the body, then ``accept``."""
        started_s = time.perf_counter()
        grant = self.registry.find(bearer(request))
        if grant is None:
            return self.refused(way, refuse(401, "Authorization", "unauthorized",
                                            "missing, unknown or revoked device token"),
                                {"WWW-Authenticate": 'Bearer realm="wearmon"'})
        if (request.content_length or 0) > self.body_limits.max_bytes:
            return self.refused(way, too_large(self.body_limits))
        address = request.remote or ""
        busy = self.occupancy.enter(grant.device_id, address)
        if busy is not None:
            where = "the device" if busy == "device_busy" else "the client address"
            return self.refused(way, refuse(429, "$", busy,
                                            f"{where} has its most requests in progress"),
                                self.retry_after())
        try:
            self.receiving += 1
            try:
                body = await read_body(request.content, self.body_limits)
            except BodyRefused as exc:
                return self.refused(way, exc.refusal)
            finally:
                self.receiving -= 1
            return await self.accept(way, body, grant, started_s)
        finally:
            self.occupancy.leave(grant.device_id, address)

    async def accept(self, way: Format, body: bytes, grant: Grant,
                     started_s: float) -> web.Response:
        """A received body: convert, validate, produce; 202 once the broker acknowledged."""
        if self.inflight >= self.settings.gateway.max_inflight:
            return self.refused(way, refuse(429, "$", "busy", "too many uploads in flight"),
                                self.retry_after())
        self.inflight += 1
        try:
            received_ms = int(time.time() * 1000)
            if way is self.native:
                checked = self.check(way, body, grant, received_ms)
            else:  # the FHIR models take ~0.25 ms per Observation: keep the loop answering
                checked = await asyncio.to_thread(self.check, way, body, grant, received_ms)
            if isinstance(checked, Refusal):
                await self.dead_letter(way.kept(body), checked, grant, received_ms)
                return self.refused(way, checked)
            converted, decision = checked
            try:
                meta = await asyncio.wait_for(self.send(converted.raw, grant.patient_id),
                                              self.settings.gateway.send_timeout_s)
            except (KafkaError, TimeoutError):
                return self.refused(way, refuse(503, "$", "broker_unavailable",
                                                "the broker did not acknowledge the upload"),
                                    self.retry_after())
        finally:
            self.inflight -= 1
        self.metrics.accepted(len(decision.upload.columns), time.perf_counter() - started_s)
        answer = way.accepted(decision.upload.upload_id, meta.partition, meta.offset,
                              relabel(decision.issues, converted.origin))
        return self.answer(way, answer, 202)

    def check(self, way: Format, body: bytes, grant: Grant,
              received_ms: int) -> tuple[Converted, Validated] | Refusal:
        """The request as a contract-v1 upload checked as the worker will, or a refusal naming
        the request's own element."""
        converted = way.convert(body, grant, received_ms)
        if isinstance(converted, Refusal):
            return converted
        decision = admit(converted.raw, grant, received_ms, self.limits)
        if isinstance(decision, Refusal):
            return decision.relabel(converted.origin)
        return converted, decision

    async def send(self, raw: bytes, patient_id: str) -> RecordMetadata:
        """Produce keyed by patient id; returns once the broker acknowledged (acks=all)."""
        future = await self.producer.send(self.settings.topics.telemetry, raw,
                                          key=patient_id.encode())
        return await future

    async def dead_letter(self, kept: bytes, refusal: Refusal, grant: Grant,
                          received_ms: int) -> None:
        """The refused request on the dead-letter topic, as the worker writes its own; a broker
        that does not take it delays nothing (the sender has its 4xx and its request)."""
        record = Rejection(refusal.issues, kept, received_ms, patient_id=grant.patient_id)
        value = dumps(record.to_record(self.settings.uploads.dead_letter_max_bytes))
        try:
            future = await self.producer.send(self.settings.topics.rejected, value,
                                              key=grant.patient_id.encode())
            await asyncio.wait_for(future, self.settings.gateway.send_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            log.warning("a refused upload was not dead-lettered: %s", type(exc).__name__)
            self.metrics.dead_letters_lost.inc()

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ready": self.view.ready, "devices": len(self.registry),
                                  "inflight": self.inflight, "receiving": self.receiving})

    async def exposition(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.exposition(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    def retry_after(self) -> dict[str, str]:
        return {"Retry-After": str(self.settings.gateway.retry_after_s)}

    def refused(self, way: Format, refusal: Refusal,
                headers: dict[str, str] | None = None) -> web.Response:
        self.metrics.refused(refusal.status, refusal.reason)
        return self.answer(way, way.refused(refusal), refusal.status, headers)

    def answer(self, way: Format, doc: dict[str, object], status: int,
               headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(body=dumps(doc), status=status, headers=headers,
                            content_type=way.content_type)


async def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM (``wearmon gateway``)."""
    stop = stop_on_signals()
    gateway = Gateway(settings)
    try:
        url = await gateway.start()
        print(f"wearmon gateway: POST {url}{UPLOADS_PATH} (Ctrl-C stops)", flush=True)
        await stop.wait()
    finally:
        await gateway.stop()
