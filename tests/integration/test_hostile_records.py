"""Records any producer can write, against a running worker and sink (issue 23):

* a tombstone (a record without a value) amid valid uploads: the worker stays up, every valid
  sample is stored, the tombstone is dead-lettered (``empty``) and counted;
* unreadable records on the care-team agents' topics (alert commands, alert events, outbox: a
  tombstone, bytes that are not UTF-8, a field of the wrong type): each is dead-lettered naming
  the field and the reason, and the worker goes on;
* a record whose timestamp is five years ahead, with a sample at that time: its arrival is the
  worker's clock, so the sample is ``future_sample`` and the patient's later genuine samples are
  all stored (before, the patient's clock jumped and everything later was ``late_sample``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import orjson
import pytest

from tests.conftest import Worker
from tests.integration.conftest import consume, settings_of
from tests.integration.test_alert_notifications import uploads
from tests.integration.test_faults import _simulated, _wait_stored
from tests.unit.test_care_messages import OPENED
from wearmon.stream.config import Settings
from wearmon.stream.kafka import ensure_topics, make_producer

pytestmark = pytest.mark.integration
YEAR_MS = 365 * 24 * 3_600_000


async def produce(settings: Settings, records: list[tuple[bytes | None, bytes | None,
                                                          int | None]],
                  topic: str | None = None) -> None:
    """(key, value, timestamp in ms) each, in order, acknowledged (on the telemetry topic
    unless ``topic`` is given)."""
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        for key, value, timestamp_ms in records:
            await producer.send_and_wait(topic or settings.topics.telemetry, value, key=key,
                                         timestamp_ms=timestamp_ms)
    finally:
        await producer.stop()


def test_a_tombstone_amid_valid_uploads_is_dead_lettered_and_the_rest_stored(
        make_worker: Callable[..., Worker]) -> None:
    messages, expected = _simulated(3, 0.5, seed=31)
    worker = make_worker()
    settings = settings_of(worker)
    middle = len(messages) // 2
    records: list[tuple[bytes | None, bytes | None, int | None]] = [
        (k, v, None) for k, v in messages[:middle]]
    records += [(b"p-tomb", None, None), (b"", None, None)]  # tombstones (an empty key too)
    records += [(k, v, None) for k, v in messages[middle:]]
    asyncio.run(produce(settings, records))
    worker.start()
    health = worker.wait_processed(len(records))
    assert worker.proc is not None and worker.proc.poll() is None
    assert health["rejected"] == 2
    _wait_stored(settings.influx.url, settings.influx.db, expected)
    letters = asyncio.run(consume(settings, settings.topics.rejected, 2))
    assert [letter["reason"] for letter in letters] == ["empty", "empty"]


def test_a_record_from_the_future_does_not_silence_its_patient(
        make_worker: Callable[..., Worker]) -> None:
    worker = make_worker()
    settings = settings_of(worker)
    patient = "p-future"
    now_ms = int(time.time() * 1000)
    ahead_ms = now_ms + 5 * YEAR_MS
    future = orjson.dumps({"schema_version": 1, "upload_id": "from-the-future",
                           "device_id": f"watch-{patient}", "patient_id": patient,
                           "uploaded_at_ms": ahead_ms,
                           "samples": [{"t_ms": ahead_ms, "hr_bpm": 70.0, "steps": 0}]})
    genuine = uploads(patient, now_ms - 10 * 60_000, 3, 70.0, "genuine")
    asyncio.run(produce(settings, [(patient.encode(), future, ahead_ms),
                                   *[(k, v, None) for k, v in genuine]]))
    worker.start()
    worker.wait_processed(4)
    letters = asyncio.run(consume(settings, settings.topics.rejected, 1))
    assert letters[0]["upload_id"] == "from-the-future", letters
    assert "future_sample" in {issue["reason"] for issue in letters[0]["issues"]}, letters
    _wait_stored(settings.influx.url, settings.influx.db, Counter({patient: 18}))


def test_unreadable_care_records_are_dead_lettered_and_the_worker_goes_on(
        make_worker: Callable[..., Worker]) -> None:
    worker = make_worker()
    settings = settings_of(worker)
    topics = settings.topics
    wrong_patient = orjson.dumps({**OPENED.to_json(), "patient": 5})
    wrong_command = orjson.dumps({"v": 1, "id": "c1", "patient": 5, "type": "act"})
    for topic, values in [(topics.alert_commands, [None, wrong_command]),
                          (topics.alerts, [wrong_patient]),
                          (topics.outbox, [None, b"\xff\xfe"])]:
        asyncio.run(produce(settings, [(b"p-0001", v, None) for v in values], topic))
    worker.start()
    letters = asyncio.run(consume(settings, topics.rejected, 5))
    assert sorted((letter["field"], letter["reason"]) for letter in letters) == [
        ("$", "empty"), ("$", "empty"), ("$", "not_json"), ("patient", "wrong_type"),
        ("patient", "wrong_type")], letters
    messages, expected = _simulated(1, 0.1, seed=5)  # and the worker goes on
    asyncio.run(produce(settings, [(k, v, None) for k, v in messages]))
    worker.wait_processed(len(messages))
    assert worker.proc is not None and worker.proc.poll() is None
    _wait_stored(settings.influx.url, settings.influx.db, expected)
