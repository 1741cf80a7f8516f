"""``pipeline_run``: one real run simulator -> Kafka -> worker -> InfluxDB, shared by tests."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from tests.conftest import Services, Worker, influx_query, new_worker
from tests.integration.receivers import Inbox, WebhookServer
from tests.integration.test_notify_delivery import hook, smtp  # noqa: F401 (fixtures)
from tests.waiting import wait_until
from wearmon.stream.config import Settings, load_settings
from wearmon.stream.core.patients import PatientSettings, Recipient
from wearmon.stream.core.validation import Limits, Rejection, validate
from wearmon.stream.datasets.simulator import CLINICAL_KINDS, Label, Simulator
from wearmon.stream.kafka import ensure_topics, make_producer
from wearmon.stream.views.patients import publish_patient

HOUR_MS = 3_600_000
API_TOKEN = "pipeline-run-token"
EPISODE_PATIENT = "p-9901"  # an enrolled patient whose crafted episode is still open at the end


@dataclass
class PipelineRun:
    influx_url: str
    influx_db: str
    patients: list[str]
    labels: list[Label]
    expected_samples: Counter[str]
    expected_uploads: Counter[str]
    bad_messages: dict[str, bytes]
    rejections: list[dict[str, object]]
    anomalies: list[dict[str, object]]
    health: dict[str, int]
    worker: Worker
    start_ms: int = 0  # the run's time range: the first sample ...
    end_ms: int = 0  # ... to the last point written (alerts, deliveries, the acknowledgement)
    deliveries: list[dict[str, object]] = field(default_factory=list)
    acknowledged: str = ""  # the alert acknowledged through the API during the run

    @property
    def clinical_labels(self) -> list[Label]:
        """The injected events the detectors must find (tachycardia, bradycardia, desaturation)."""
        return [lab for lab in self.labels if lab.kind in CLINICAL_KINDS]


def settings_of(worker: Worker) -> Settings:
    return load_settings({k: v for k, v in worker.env.items() if k.startswith("WEARMON_")})


def bad_messages(now_ms: int, sim: Simulator) -> dict[str, bytes]:
    """One malformed upload per failure mode, keyed by the reason the worker must report."""

    def upload(patient: str, samples: list[dict[str, object]], **extra: object) -> bytes:
        doc = {
            "schema_version": 1,
            "upload_id": f"bad-{patient}-{len(samples)}",
            "device_id": "dev-bad",
            "patient_id": patient,
            "uploaded_at_ms": now_ms,
            "samples": samples,
            **extra,
        }
        return orjson.dumps(doc)

    first = sim.patients[0]
    return {
        "not_json": b"{this is not json",
        "wrong_type": b"[1, 2, 3]",
        "missing_field": orjson.dumps(
            {
                "schema_version": 1,
                "upload_id": "x1",
                "device_id": "d1",
                "uploaded_at_ms": now_ms,
                "samples": [],
            }
        ),
        "unknown_schema_version": upload("test-ver-01", [{"t_ms": now_ms}], schema_version=99),
        "not_finite": upload("test-nan-01", [{"t_ms": now_ms - 10_000, "steps": 3}]).replace(
            b'"steps":3', b'"steps":3,"hr_bpm":NaN'
        ),
        "out_of_range": upload(
            "test-range-01", [{"t_ms": now_ms - 5_000, "hr_bpm": 400, "steps": 1}]
        ),
        "future_sample": upload(
            "test-future-01",
            [{"t_ms": now_ms - 1_000, "hr_bpm": 70}, {"t_ms": now_ms + 86_400_000, "hr_bpm": 71}],
        ),
        "too_large": upload(
            "test-big-01", [{"t_ms": now_ms - i * 1000, "hr_bpm": 70} for i in range(1, 4000)]
        ),
        "late_sample": orjson.dumps(
            {
                "schema_version": 1,
                "upload_id": "late-upload-1",
                "device_id": first.device_id,
                "patient_id": first.patient_id,
                "uploaded_at_ms": now_ms,
                "samples": [{"t_ms": sim.start_ms - 2 * HOUR_MS, "hr_bpm": 66, "steps": 0}],
            }
        ),
    }


async def send_messages(settings: Settings, messages: list[tuple[bytes | None, bytes]]) -> None:
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        futures = [
            await producer.send(settings.topics.telemetry, value, key=key)
            for key, value in messages
        ]
        for fut in futures:
            await fut
    finally:
        await producer.stop()


Record = dict[str, object]


async def consume(
    settings: Settings, topic: str, count: int, timeout_s: float = 60.0,
    keep: Callable[[Record], bool] = lambda record: True,
    until: Callable[[list[Record]], bool] | None = None,
) -> list[Record]:
    """The topic's JSON records from the start that ``keep`` accepts, awaited until there are
    ``count`` of them (or until ``until`` holds) or the timeout passes."""
    done = until or (lambda records: len(records) >= count)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Record] = []
    try:
        deadline = time.monotonic() + timeout_s  # reading a stream: each read waits 0.5 s
        while not done(records) and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(r for m in messages if keep(r := orjson.loads(m.value)))
    finally:
        await consumer.stop()
    return records


def enrolment(patient: str, device: str, receiver: WebhookServer) -> bytes:
    return PatientSettings(
        patient_id=patient, devices=[device], ward="Ward 1",
        care_team=[Recipient(id="nurse", url=SecretStr(receiver.url("nurse")), label="Nurse")],
    ).to_json()


def episode(patient: str, end_ms: int) -> list[tuple[bytes | None, bytes]]:
    """Three minutes of heart rate 150 at rest ending at ``end_ms``: a critical alert."""
    out: list[tuple[bytes | None, bytes]] = []
    for minute in range(3):
        t0 = end_ms - (3 - minute) * 60_000
        doc = {"schema_version": 1, "upload_id": f"episode-{patient}-{minute}",
               "device_id": f"watch-{patient}", "patient_id": patient,
               "uploaded_at_ms": t0 + 55_000,
               "samples": [{"t_ms": t0 + k * 10_000, "hr_bpm": 150.0, "steps": 0}
                           for k in range(6)]}
        out.append((patient.encode(), orjson.dumps(doc)))
    return out


def acknowledge_one(worker: Worker, patient: str, timeout_s: float = 60.0) -> str:
    """Acknowledge the patient's open alert through the worker's API; returns its id."""
    url = f"http://127.0.0.1:{worker.web_port}/alerts"
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}

    def open_alerts() -> list[dict[str, object]]:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as resp:
            return [a for a in orjson.loads(resp.read())["alerts"] if a["patient"] == patient]

    alerts = wait_until(open_alerts, f"an open alert for {patient} in the worker's API",
                        timeout_s, interval_s=0.5)
    alert_id = str(alerts[0]["alert_id"])
    body = orjson.dumps({"actor": "nurse.run", "note": "seen"})
    request = urllib.request.Request(f"{url}/{alert_id}/ack", data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as resp:
        assert resp.status == 200
    return alert_id


def wait_acknowledgement_stored(worker: Worker, patient: str, alert_id: str,
                                timeout_s: float = 60.0) -> None:
    """Await the acknowledgement's ``alert_audit`` point in InfluxDB (the ward dashboard's
    ACKNOWLEDGED query): the sink writes it from the alerts topic, after the worker's API has
    answered."""
    query = ("SELECT \"actor\" FROM \"alert_audit\" WHERE \"action\" = 'acknowledged' "
             f"AND \"patient\" = '{patient}' AND \"alert_id\" = '{alert_id}'")
    wait_until(lambda: influx_query(worker.env["WEARMON_INFLUX_URL"],
                                    worker.env["WEARMON_INFLUX_DB"], query),
               f"the acknowledgement of {alert_id} in InfluxDB", timeout_s, interval_s=0.5,
               detail=worker.log_tail)


@pytest.fixture(scope="session")
def pipeline_run(
    services: Services, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PipelineRun]:
    directory = tmp_path_factory.mktemp("pipeline")
    worker = new_worker(
        services, directory, WEARMON_MAX_LATENESS_S="3600", WEARMON_MAX_UPLOAD_BYTES="100000",
        WEARMON_API_TOKEN=API_TOKEN,
    )
    settings = settings_of(worker)
    now_ms = int(time.time() * 1000)
    sim = Simulator(6, now_ms - 3 * HOUR_MS, 3 * 3600, seed=11, event_every_s=2400)
    receiver = WebhookServer(Inbox())  # the care team's messages go here: deliveries in the run
    receiver.start()
    for patient in sim.patients:
        asyncio.run(publish_patient(settings, patient.patient_id,
                                    enrolment(patient.patient_id, patient.device_id, receiver)))
    asyncio.run(publish_patient(settings, EPISODE_PATIENT,
                                enrolment(EPISODE_PATIENT, f"watch-{EPISODE_PATIENT}", receiver)))
    valid = [(key, value) for key, value, _ in sim.uploads_until(now_ms)]
    valid += episode(EPISODE_PATIENT, now_ms)
    bad = bad_messages(now_ms, sim)
    messages: list[tuple[bytes | None, bytes]] = []
    bad_iter = iter(bad.items())
    for index, message in enumerate(valid):
        messages.append(message)
        if index % 25 == 10:
            reason_and_bytes = next(bad_iter, None)
            if reason_and_bytes is not None:
                messages.append((None, reason_and_bytes[1]))
    messages.extend((None, value) for _, value in bad_iter)
    messages.extend(valid[-3:])  # re-sent recent batches: dropped, not double-counted
    messages.append((sim.patients[0].patient_id.encode(), bad["late_sample"]))
    bad_count = len(bad) + 3

    expected_samples: Counter[str] = Counter()
    expected_uploads: Counter[str] = Counter()
    limits = Limits(max_upload_bytes=100_000)
    for _, value in valid:
        checked = validate(value, now_ms, limits)
        assert not isinstance(checked, Rejection)
        expected_samples[checked.upload.patient_id] += len(checked.upload.columns)
        expected_uploads[checked.upload.patient_id] += 1

    asyncio.run(send_messages(settings, messages))
    worker.start()
    try:
        health = worker.wait_processed(len(messages))
        rejections = asyncio.run(consume(settings, settings.topics.rejected, bad_count))
        anomalies = asyncio.run(consume(settings, settings.topics.anomalies, 1))
        acknowledged = acknowledge_one(worker, EPISODE_PATIENT)
        wait_acknowledgement_stored(worker, EPISODE_PATIENT, acknowledged)
        deliveries = asyncio.run(consume(settings, settings.topics.deliveries, 1))
        worker.wait_stored()  # the deliveries read above are in InfluxDB too
        yield PipelineRun(
            influx_url=services.influx_url,
            influx_db=settings.influx.db,
            patients=[p.patient_id for p in sim.patients],
            labels=sim.labels,
            expected_samples=expected_samples,
            expected_uploads=expected_uploads,
            bad_messages=bad,
            rejections=rejections,
            anomalies=anomalies,
            health=health,
            worker=worker,
            start_ms=sim.start_ms,
            end_ms=int(time.time() * 1000) + 1000,
            deliveries=deliveries,
            acknowledged=acknowledged,
        )
    finally:
        worker.stop(sink=True)
        receiver.stop()
