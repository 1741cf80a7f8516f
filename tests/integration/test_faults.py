"""Failures: a worker killed mid-stream, InfluxDB down, two workers sharing the partitions."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests.conftest import Services, Worker, influx_query, running_services, worker_factory
from tests.integration.conftest import consume, send_messages, settings_of
from tests.waiting import wait_until
from wearmon.stream.config import Settings
from wearmon.stream.core.validation import Limits, Rejection, validate
from wearmon.stream.datasets.simulator import Simulator
from wearmon.stream.tools.services import free_port, start_influxd

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.slow]
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def own_services() -> Iterator[Services]:
    """A broker and an InfluxDB of their own: crash tests must not share a broker with the
    hundreds of topics and groups of the rest of the suite."""
    yield from running_services()


@pytest.fixture
def make_worker(own_services: Services, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    yield from worker_factory(own_services, tmp_path)


def _simulated(patients: int, hours: float, seed: int) -> tuple[list[tuple[bytes, bytes]],
                                                                 Counter[str]]:
    now_ms = int(time.time() * 1000)
    sim = Simulator(patients, now_ms - int(hours * HOUR_MS), hours * 3600, seed=seed)
    messages = [(key, value) for key, value, _ in sim.uploads_until(now_ms)]
    expected: Counter[str] = Counter()
    for _, value in messages:
        checked = validate(value, now_ms, Limits())
        assert not isinstance(checked, Rejection)
        expected[checked.upload.patient_id] += len(checked.upload.columns)
    return messages, expected


def _stored_samples(url: str, db: str) -> dict[str, int]:
    """Samples per patient in InfluxDB (none while it or the database is not there)."""
    try:
        series = influx_query(url, db, "SELECT count(steps) FROM vitals GROUP BY patient")
    except (AssertionError, OSError):
        series = []
    return {s["tags"]["patient"]: int(s["values"][0][1]) for s in series}  # type: ignore[index]


def _wait_stored(url: str, db: str, expected: Counter[str], timeout_s: float = 120.0) -> None:
    """Poll InfluxDB until every patient has exactly the expected number of samples."""

    def stored_once() -> dict[str, int]:
        stored = _stored_samples(url, db)
        assert all(stored.get(p, 0) <= n for p, n in expected.items()), \
            f"duplicated samples: stored {stored}, expected {dict(expected)}"
        return stored

    wait_until(stored_once, f"the expected samples per patient {dict(expected)}", timeout_s,
               until=lambda stored: stored == dict(expected), interval_s=0.5)


async def _wait_state_saved(settings: Settings, uploads: list[tuple[bytes, bytes]],
                            timeout_s: float = 60.0) -> None:
    """Await the state changelog entries that record each patient's last upload."""
    last_upload = {key.decode(): orjson.loads(value)["upload_id"] for key, value in uploads}
    consumer = AIOKafkaConsumer(f"{settings.kafka.app_id}-patient-state-changelog",
                                bootstrap_servers=settings.kafka.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s  # reading a stream: each read waits 0.5 s
        while last_upload and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for m in messages:
                    patient = m.key.decode()
                    if patient.startswith("__") or not m.value:
                        continue  # the worker's own offset records
                    seen = [key for key, _ in orjson.loads(m.value)["uploads"]]
                    if any(key.endswith(f"/{last_upload.get(patient)}") for key in seen):
                        del last_upload[patient]
    finally:
        await consumer.stop()
    assert not last_upload, f"state never saved for {sorted(last_upload)}"


async def _rejections_of(settings: Settings, upload_ids: set[str]) -> list[dict[str, object]]:
    """Await the dead-letter records of these uploads."""
    return await consume(settings, settings.topics.rejected, len(upload_ids), timeout_s=120,
                         keep=lambda r: r["upload_id"] in upload_ids,
                         until=lambda found: {r["upload_id"] for r in found} >= upload_ids)


SOAK_RUNS = int(os.environ.get("WEARMON_SOAK_RUNS", "3"))


@pytest.mark.parametrize("run", range(SOAK_RUNS))
def test_killed_worker_loses_nothing_and_keeps_patient_state(make_worker, run: int) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL mid-stream, restart: every sample stored exactly once, state kept. Repeated
    ``WEARMON_SOAK_RUNS`` times (``make soak`` runs it 50 times)."""
    messages, expected = _simulated(4, 2, seed=21 + run)
    first_half, second_half = messages[: len(messages) // 2], messages[len(messages) // 2:]
    worker = make_worker()
    settings = settings_of(worker)
    asyncio.run(send_messages(settings, first_half))
    worker.start()
    worker.wait_processed(len(first_half))
    asyncio.run(_wait_state_saved(settings, first_half))
    worker.stop(kill=True)  # SIGKILL: no clean shutdown, no final commit

    # re-sent by a gateway after the crash, before new data (the dedup window is the last 128
    # uploads of each patient; an older re-send is processed again: the same points, and its
    # samples are behind the patient's newest, so the detectors do not see them twice)
    resent = first_half[-3:]
    asyncio.run(send_messages(settings, resent + second_half))
    restarted = make_worker(**worker.same_settings())
    restarted.start()
    try:
        _wait_stored(settings.influx.url, settings.influx.db, expected, timeout_s=90)
    except AssertionError:
        print("DIAG health", restarted.health())
        print("DIAG log", restarted.log_path, restarted.log_tail())
        print("DIAG lag", influx_query(settings.influx.url, settings.influx.db,
              "SELECT last(lag_messages), sum(uploads), sum(duplicates) FROM pipeline"))
        raise
    # the restored table remembers the uploads processed before the crash
    resent_ids = {orjson.loads(value)["upload_id"] for _, value in resent}
    records = asyncio.run(_rejections_of(settings, resent_ids))
    assert {r["upload_id"] for r in records if r["reason"] == "duplicate_upload"} == resent_ids, (
        f"{records}\n{restarted.log_tail()}")
    # what was processed twice: first-half uploads whose offsets were not saved before the kill
    # (the counters follow the commit, a moment after the points are readable)
    health = restarted.wait_handled_through(len(messages) + len(resent))
    twice = health["uploads"] + health["duplicates"] - len(second_half) - len(resent)
    print(f"SOAK run={run} first={len(first_half)} second={len(second_half)} "
          f"processed_twice={twice} skipped_by_offset={health.get('skipped_seen', 0)}")
    assert 0 <= twice <= 200  # at most the one batch in flight when the worker was killed


@pytest.mark.parametrize("run", range(SOAK_RUNS))
def test_killed_mid_backlog_processes_at_most_one_batch_twice(make_worker, run: int) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL while a backlog is being processed: nothing lost, and what is processed again
    is bounded by the batch in flight (offsets are saved with the state after every batch)."""
    messages, expected = _simulated(6, 3, seed=40 + run)
    worker = make_worker(WEARMON_BATCH_MAX_UPLOADS="50")
    settings = settings_of(worker)
    asyncio.run(send_messages(settings, messages))
    worker.start()
    done = worker.wait_processed(len(messages) // 3)  # a third of the backlog
    worker.stop(kill=True)
    restarted = make_worker(**worker.same_settings())
    restarted.start()
    _wait_stored(settings.influx.url, settings.influx.db, expected, timeout_s=120)
    health = restarted.wait_handled_through(len(messages))
    before_kill = done["uploads"]
    # uploads the restarted worker processed (again or for the first time) beyond the rest
    twice = health["uploads"] + health["duplicates"] - (len(messages) - before_kill)
    print(f"SOAK-MID run={run} messages={len(messages)} before_kill>={before_kill} "
          f"processed_twice<={max(twice, 0)} skipped_by_offset={health.get('skipped_seen', 0)}")
    assert twice <= 2 * 50  # the batch being processed plus the one being taken


def test_influxdb_outage_holds_the_sink_and_then_delivers_everything(make_worker) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    messages, expected = _simulated(3, 1, seed=22)
    worker = make_worker(WEARMON_INFLUX_URL=f"http://127.0.0.1:{port}")
    settings = settings_of(worker)
    asyncio.run(send_messages(settings, messages))
    worker.start()
    # InfluxDB is down: the worker judges everything (it needs Kafka only); the sink holds its
    # batch (retrying), never dropping it or crashing
    worker.wait_logged("InfluxDB unreachable", timeout_s=60, sink=True)
    wait_until(lambda: (worker.health() or {}).get("uploads", 0) >= len(messages),
               "the worker to process every upload during the outage", 120)
    assert worker.sink_proc is not None and worker.sink_proc.poll() is None
    influx = start_influxd(port=port)
    try:
        _wait_stored(influx.url, settings.influx.db, expected)
    finally:
        influx.stop()


def test_two_workers_share_partitions_without_duplicates(make_worker) -> None:  # type: ignore[no-untyped-def]
    messages, expected = _simulated(8, 1, seed=23)
    first = make_worker(WEARMON_PARTITIONS="4")
    settings = settings_of(first)
    second = make_worker(**first.same_settings())
    asyncio.run(send_messages(settings, messages))
    first.start()
    second.start()
    _wait_stored(settings.influx.url, settings.influx.db, expected, timeout_s=180)
    # a batch is counted after its points are durable (and its state and offsets saved)
    wait_until(lambda: _uploads(first, second), f"the workers to count {len(messages)} uploads",
               60, until=lambda uploads: uploads >= len(messages))


def _uploads(*workers: Worker) -> int:
    """Uploads the workers processed as new (not as duplicates), from their counters."""
    handled = [w.health() for w in workers]
    assert all(h is not None for h in handled)
    return sum(h["uploads"] for h in handled if h)


def _upload(patient: str, device: str, upload_id: str, start_ms: int, n: int = 12) -> bytes:
    return orjson.dumps({
        "schema_version": 1, "upload_id": upload_id, "device_id": device, "patient_id": patient,
        "uploaded_at_ms": start_ms + n * 5000,
        "samples": [{"t_ms": start_ms + i * 5000, "hr_bpm": 60 + i % 7, "steps": 0}
                    for i in range(n)]})


def _rejections_by_original(settings: Settings, count: int) -> dict[bytes, dict[str, object]]:
    """Await ``count`` dead-letter records, by the original bytes they carry."""
    records = asyncio.run(consume(settings, settings.topics.rejected, count, timeout_s=120))
    return {base64.b64decode(str(r["original_b64"])): r for r in records}


POISON = {
    # nested ~1,025 levels deep: the standard parser's recursion limit
    "too_deep": b'{"schema_version":1,"samples":' + b"[" * 1025 + b"]" * 1025 + b"}",
    # a lone surrogate as a sample key: text that cannot be encoded for InfluxDB
    "bad_text": (b'{"schema_version":1,"upload_id":"s1","device_id":"d-s","patient_id":"p-sur1",'
                 b'"uploaded_at_ms":1,"samples":[{"t_ms":1,"hr_bpm":70,"\\ud800":NaN}]}'),
}


def test_poison_uploads_never_stop_monitoring(make_worker) -> None:  # type: ignore[no-untyped-def]
    """Hostile uploads between valid ones: each is dead-lettered, everything else is stored."""
    messages, expected = _simulated(3, 1, seed=31)
    now_ms = int(time.time() * 1000)
    poison = dict(POISON)
    poison["bad_id"] = _upload("p-0001\n", "d-1", "n1", now_ms - 60_000)  # trailing newline
    poison["bad_id device"] = _upload("p-0002", "d-2\n", "n2", now_ms - 60_000)
    mixed: list[tuple[bytes | None, bytes]] = list(messages)
    for i, raw in enumerate(poison.values()):
        mixed.insert(5 + 20 * i, (None, raw))
    worker = make_worker()
    settings = settings_of(worker)
    asyncio.run(send_messages(settings, mixed))
    worker.start()
    _wait_stored(settings.influx.url, settings.influx.db, expected)
    assert worker.proc is not None and worker.proc.poll() is None  # never stopped
    records = _rejections_by_original(settings, len(poison))
    for name, raw in poison.items():
        assert records[raw]["reason"] == name.split()[0], (name, records[raw])
    assert "Traceback" not in worker.log_tail() and "CRITICAL" not in worker.log_tail()


def test_points_influxdb_refuses_are_dead_lettered_and_the_rest_is_stored(make_worker) -> None:  # type: ignore[no-untyped-def]
    """A field-type conflict (a string ``hr_bpm`` in the shard of one patient's old data)."""
    messages, expected = _simulated(3, 1, seed=32)
    worker = make_worker()
    settings = settings_of(worker)
    old_ms = int(time.time() * 1000) - 30 * 86_400_000  # another shard (InfluxDB shards by week)
    create = f'CREATE DATABASE "{settings.influx.db}"'
    asyncio.run(_influx(settings, "POST", "query", {"q": create}))
    asyncio.run(_influx(settings, "POST", "write", {"db": settings.influx.db, "precision": "ms"},
                        f'vitals,patient=p-old1,device=d-old hr_bpm="text" {old_ms}'.encode()))
    refused = [_upload("p-old1", "d-old", f"o{i}", old_ms + i * 60_000) for i in range(3)]
    asyncio.run(send_messages(settings, list(messages) + [(b"p-old1", raw) for raw in refused]))
    worker.start()
    _wait_stored(settings.influx.url, settings.influx.db, expected)
    # the sink dead-letters each refused upload's points (the document it could not store)
    records = asyncio.run(consume(settings, settings.topics.rejected, len(refused),
                                  timeout_s=120))
    assert {(r["patient_id"], r["upload_id"], r["reason"]) for r in records} == {
        ("p-old1", f"o{i}", "sink_refused") for i in range(len(refused))}
    for record in records:
        assert "field type conflict" in str(record["issues"])
        points = orjson.loads(base64.b64decode(str(record["original_b64"])))
        assert points["upload_id"] == record["upload_id"]  # what could not be stored
    assert worker.proc is not None and worker.proc.poll() is None


def test_a_dropped_database_is_an_outage_not_a_loss(make_worker) -> None:  # type: ignore[no-untyped-def]
    messages, _ = _simulated(3, 2, seed=33)
    first, second = messages[: len(messages) // 2], messages[len(messages) // 2:]
    worker = make_worker()
    settings = settings_of(worker)
    asyncio.run(send_messages(settings, first))
    worker.start()
    worker.wait_processed(len(first))
    asyncio.run(_influx(settings, "POST", "query", {"q": f'DROP DATABASE "{settings.influx.db}"'}))
    asyncio.run(send_messages(settings, second))
    expected: Counter[str] = Counter()
    for _, value in second:
        checked = validate(value, int(time.time() * 1000), Limits())
        assert not isinstance(checked, Rejection)
        expected[checked.upload.patient_id] += len(checked.upload.columns)
    # every sample that arrived after the drop is stored (the worker re-created the database);
    # samples of the first half written again after the drop would only add to this count
    wait_until(lambda: _stored_samples(settings.influx.url, settings.influx.db),
               f"at least the samples sent after the drop {dict(expected)}", 120,
               until=lambda stored: stored and all(stored.get(p, 0) >= n
                                                   for p, n in expected.items()),
               interval_s=0.5)
    assert "has no database" in worker.log_tail()


def test_a_forged_upload_id_cannot_erase_the_genuine_upload(make_worker) -> None:  # type: ignore[no-untyped-def]
    now_ms = int(time.time() * 1000)
    genuine = [_upload("p-real", "d-real", f"u{i}", now_ms - (10 - i) * 60_000) for i in range(6)]
    forged = _upload("p-real", "d-real", "u5", now_ms - 30 * 60_000, n=3)  # the next id, sent first
    other_device = _upload("p-real", "d-other", "u5", now_ms - 40 * 60_000, n=3)
    worker = make_worker()
    settings = settings_of(worker)
    sent = [*genuine[:5], forged, other_device, genuine[5]]
    asyncio.run(send_messages(settings, [(b"p-real", raw) for raw in sent]))
    worker.start()
    records = _rejections_by_original(settings, 1)
    assert records[genuine[5]]["reason"] == "conflicting_upload"  # refused, its bytes kept
    assert other_device not in records  # another device's u5 is another upload
    health = worker.wait_processed(len(sent))
    assert health["uploads"] == len(sent) - 1


async def _influx(settings: Settings, method: str, path: str, params: dict[str, str],
                  body: bytes = b"") -> None:
    async with aiohttp.ClientSession() as session, session.request(
            method, f"{settings.influx.url}/{path}", params=params, data=body) as resp:
        assert resp.status in (200, 204), await resp.text()
