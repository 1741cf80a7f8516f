"""``wearmon bench --gateway``: the same uploads into the telemetry topic both ways, side by side.

* baseline, straight to Kafka: an acks=all producer, ``concurrency`` uploads awaiting their ack;
* through a real ``wearmon gateway`` process: ``concurrency`` HTTP clients posting with device
  tokens, each waiting for its ``202`` (which comes after the broker's ack);
* the same uploads as FHIR R4 transaction Bundles (an Observation per vital and sample,
  ``POST /fhir/r4/Bundle``) through the same gateway: parsing, validation with the FHIR models
  and the translation to contract v1 are in its time.

All on the embedded broker, on this machine's cores, in one run. Reported: uploads/s and the
latency of one upload (send → acknowledgement) at p50 and p99.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import orjson

from wearmon.stream.config import Settings, load_settings
from wearmon.stream.datasets.simulator import Simulator
from wearmon.stream.gateway.devices import issue_tokens
from wearmon.stream.kafka import ensure_topics, make_producer
from wearmon.stream.tools.services import free_port, start_broker

#: contract field → (LOINC code, UCUM unit) of the Observation it becomes
FHIR_CODES = {"hr_bpm": ("8867-4", "/min"), "spo2_pct": ("59408-5", "%"),
              "resp_rate_brpm": ("9279-1", "/min"), "skin_temp_c": ("8310-5", "Cel"),
              "steps": ("55423-8", "{steps}")}


def fhir_bundle(upload: bytes) -> bytes:
    """A contract-v1 upload as the FHIR transaction Bundle a vendor's cloud would send (beat
    intervals have no Observation here: they are left out)."""
    doc = orjson.loads(upload)
    entries = []
    for sample in doc["samples"]:
        moment = datetime.fromtimestamp(sample["t_ms"] / 1000, UTC).isoformat()
        for name, (code, unit) in FHIR_CODES.items():
            if sample.get(name) is None:
                continue
            entries.append({"resource": {
                "resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "subject": {"reference": f"Patient/{doc['patient_id']}"},
                "device": {"reference": f"Device/{doc['device_id']}"},
                "effectiveDateTime": moment,
                "valueQuantity": {"value": sample[name], "unit": unit, "code": unit,
                                  "system": "http://unitsofmeasure.org"}},
                "request": {"method": "POST", "url": "Observation"}})
    return orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})


@dataclass(frozen=True, slots=True)
class WayIn:
    name: str
    uploads: int
    seconds: float
    latencies_s: list[float]

    @property
    def per_second(self) -> float:
        return self.uploads / self.seconds

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        return (f"{self.name}: {self.per_second:,.0f} uploads/s, latency p50 "
                f"{self.percentile_ms(0.5):.1f} ms, p99 {self.percentile_ms(0.99):.1f} ms")


async def drive(name: str, uploads: list[tuple[bytes, bytes]], concurrency: int,
                send: Callable[[bytes, bytes], Awaitable[None]]) -> WayIn:
    """``concurrency`` senders share the uploads; each times its sends until acknowledged."""
    queue = iter(uploads)
    latencies: list[float] = []

    async def sender() -> None:
        for key, value in queue:
            started = time.perf_counter()
            await send(key, value)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return WayIn(name, len(uploads), time.perf_counter() - started, latencies)


async def direct(settings: Settings, uploads: list[tuple[bytes, bytes]],
                 concurrency: int) -> WayIn:
    producer = make_producer(settings)
    await producer.start()

    async def send(key: bytes, value: bytes) -> None:
        await (await producer.send(settings.topics.telemetry, value, key=key))

    try:
        return await drive("Kafka producer (acks=all)", uploads, concurrency, send)
    finally:
        await producer.stop()


async def through_gateway(url: str, tokens: dict[bytes, str], uploads: list[tuple[bytes, bytes]],
                          concurrency: int, path: str = "/v1/uploads",
                          name: str = "gateway (HTTP POST, 202 after the ack)") -> WayIn:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def send(key: bytes, value: bytes) -> None:
            headers = {"Authorization": f"Bearer {tokens[key]}"}
            async with http.post(f"{url}{path}", data=value, headers=headers) as resp:
                if resp.status != 202:
                    raise RuntimeError(f"gateway answered {resp.status}: {await resp.text()}")

        return await drive(name, uploads, concurrency, send)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the gateway exited while starting")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the gateway did not start")


def run_gateway_bench(patients: int = 50, hours: float = 2.0, concurrency: int = 64
                      ) -> tuple[WayIn, WayIn, WayIn]:
    """Direct production, the gateway and the gateway's FHIR way in, on the same uploads and a
    fresh embedded broker."""
    broker = start_broker()
    gateway: subprocess.Popen[bytes] | None = None
    try:
        port = free_port()
        settings = load_settings({"WEARMON_BROKER": broker.url, "WEARMON_GATEWAY_PORT": str(port),
                                  "WEARMON_GATEWAY_IDEMPOTENT": "false",
                                  "WEARMON_STATE_DIR": tempfile.gettempdir()})
        end_ms = int(time.time() * 1000)
        sim = Simulator(patients, end_ms - int(hours * 3_600_000), hours * 3600, seed=5)
        uploads = [(key, value) for key, value, _ in sim.uploads_until(end_ms)]
        asyncio.run(ensure_topics(settings, extra=[settings.topics.devices]))
        kafka = asyncio.run(direct(settings, uploads, concurrency))
        tokens = asyncio.run(issue_tokens(settings, {p.device_id: p.patient_id
                                                     for p in sim.patients}))
        by_key = {p.patient_id.encode(): tokens[p.device_id] for p in sim.patients}
        env = {**os.environ, "WEARMON_BROKER": broker.url, "WEARMON_GATEWAY_PORT": str(port),
               "WEARMON_GATEWAY_IDEMPOTENT": "false",
               "WEARMON_GATEWAY_MAX_INFLIGHT": str(4 * concurrency),
               # one client, few devices, many uploads each at once: not what the limits guard
               "WEARMON_GATEWAY_MAX_REQUESTS_PER_DEVICE": str(concurrency),
               "WEARMON_GATEWAY_MAX_REQUESTS_PER_ADDRESS": str(4 * concurrency)}
        gateway = subprocess.Popen([sys.executable, "-m", "wearmon", "gateway"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, gateway)
        http = asyncio.run(through_gateway(url, by_key, uploads, concurrency))
        bundles = [(key, fhir_bundle(value)) for key, value in uploads]
        fhir = asyncio.run(through_gateway(url, by_key, bundles, concurrency, "/fhir/r4/Bundle",
                                           "gateway, FHIR R4 Bundles (same samples)"))
        return kafka, http, fhir
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(timeout=30)
        broker.stop()


def report(patients: int, hours: float, concurrency: int = 64) -> list[str]:
    kafka, http, fhir = run_gateway_bench(patients, hours, concurrency)
    return [f"ways in, {kafka.uploads} uploads, {concurrency} in flight:", f"  {kafka.line()}",
            f"  {http.line()}", f"  {fhir.line()}",
            f"  gateway/Kafka: {http.per_second / kafka.per_second:.2f}x throughput, "
            f"{http.percentile_ms(0.99) / kafka.percentile_ms(0.99):.1f}x p99 latency",
            f"  FHIR/native contract: {fhir.per_second / http.per_second:.2f}x throughput, "
            f"{fhir.percentile_ms(0.99) / http.percentile_ms(0.99):.1f}x p99 latency"]
