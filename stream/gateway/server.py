"""``wearmon gateway``: the aiohttp service in front of the telemetry topic.

``POST /v1/uploads`` with ``Authorization: Bearer <device token>`` and a contract-v1 upload:

* ``202`` ``{"upload_id", "partition", "offset", "issues"}`` once the broker acknowledged the upload
  (``acks=all``; idempotent producer); ``issues`` lists sample values the worker will drop;
* ``400``/``413`` ``{"error", "field", "detail", "issues"}`` invalid upload (same reasons as the
  worker's dead-letter topic), ``401`` unknown or revoked token, ``403`` device or patient not
  granted to the token;
* ``429`` + ``Retry-After`` when ``WEARMON_GATEWAY_MAX_INFLIGHT`` uploads already wait for the
  broker (backpressure: memory stays bounded), ``503`` + ``Retry-After`` when the broker did not
  acknowledge within ``WEARMON_GATEWAY_SEND_TIMEOUT_S``. Re-sending is safe: the worker drops
  uploads whose ``upload_id`` it has seen.

``GET /health`` and ``GET /metrics`` (Prometheus). Nothing about an upload is logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import time

from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from prometheus_client import CONTENT_TYPE_LATEST

from wearmon.stream.config import ConfigError, Settings
from wearmon.stream.gateway.admission import Refusal, admit, issues_json, refuse
from wearmon.stream.gateway.devices import registry_view
from wearmon.stream.gateway.metrics import GatewayMetrics
from wearmon.stream.kafka import client_options, ensure_topics
from wearmon.stream.signals import stop_on_signals

log = logging.getLogger(__name__)
UPLOADS_PATH = "/v1/uploads"


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
        self.registry, self.view = registry_view(settings)
        self.producer = AIOKafkaProducer(
            **client_options(settings), acks="all",
            enable_idempotence=settings.gateway.idempotent, linger_ms=2,
            max_batch_size=settings.kafka.producer_max_batch_bytes,
            max_request_size=max(2 * settings.uploads.max_upload_bytes, 1_048_576))
        self.inflight = 0
        self.metrics = GatewayMetrics(devices=lambda: len(self.registry),
                                      inflight=lambda: self.inflight)
        self.runner: web.AppRunner | None = None
        self.url = ""

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.uploads.max_upload_bytes)
        app.router.add_post(UPLOADS_PATH, self.upload)
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
        self.runner = web.AppRunner(self.application(), access_log=None)
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
        started_s = time.perf_counter()
        grant = self.registry.find(bearer(request))
        if grant is None:
            return self.refused(refuse(401, "Authorization", "unauthorized",
                                       "missing, unknown or revoked device token"),
                                {"WWW-Authenticate": 'Bearer realm="wearmon"'})
        if (request.content_length or 0) > self.settings.uploads.max_upload_bytes:
            return self.refused(self.too_large())
        if self.inflight >= self.settings.gateway.max_inflight:
            return self.refused(refuse(429, "$", "busy", "too many uploads in flight"),
                                self.retry_after())
        self.inflight += 1
        try:
            try:
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return self.refused(self.too_large())
            decision = admit(raw, grant, int(time.time() * 1000), self.limits)
            if isinstance(decision, Refusal):
                return self.refused(decision)
            try:
                meta = await asyncio.wait_for(self.send(raw, grant.patient_id),
                                              self.settings.gateway.send_timeout_s)
            except (KafkaError, TimeoutError):
                return self.refused(refuse(503, "$", "broker_unavailable",
                                           "the broker did not acknowledge the upload"),
                                    self.retry_after())
        finally:
            self.inflight -= 1
        self.metrics.accepted(len(decision.upload.columns), time.perf_counter() - started_s)
        return web.json_response({"upload_id": decision.upload.upload_id,
                                  "partition": meta.partition, "offset": meta.offset,
                                  "issues": issues_json(decision.issues)}, status=202)

    async def send(self, raw: bytes, patient_id: str) -> RecordMetadata:
        """Produce keyed by patient id; returns once the broker acknowledged (acks=all)."""
        future = await self.producer.send(self.settings.topics.telemetry, raw,
                                          key=patient_id.encode())
        return await future

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ready": self.view.ready, "devices": len(self.registry),
                                  "inflight": self.inflight})

    async def exposition(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.exposition(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    def too_large(self) -> Refusal:
        return refuse(413, "$", "too_large",
                      f"uploads are limited to {self.settings.uploads.max_upload_bytes} bytes")

    def retry_after(self) -> dict[str, str]:
        return {"Retry-After": str(self.settings.gateway.retry_after_s)}

    def refused(self, refusal: Refusal, headers: dict[str, str] | None = None) -> web.Response:
        self.metrics.refused(refusal.status, refusal.reason)
        return web.json_response(refusal.to_json(), status=refusal.status, headers=headers)


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
