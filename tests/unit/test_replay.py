"""Replay: uploads built from samples are valid contract v1; sending is paced and awaited."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import click
import jsonschema
import orjson
import pytest
from click.testing import CliRunner

from tests.unit.datadir import DATA_DIR, require
from wearmon.stream.core.schema import ID_PATTERN, Sample, json_schema
from wearmon.stream.core.validation import Limits, Validated, validate
from wearmon.stream.datasets import DATASETS, DAY_MS, list_patients, load_patient
from wearmon.stream.datasets.uploads import (
    DEVICE_KIND,
    build_uploads,
    encode,
    merge_by_time,
    rebase_shift_ms,
)
from wearmon.stream.tools.dataset_replay import add_replay_command, send_uploads

SCHEMA = jsonschema.Draft202012Validator(json_schema())
MINUTE_MS = 60_000


@pytest.fixture(scope="module")
def data_dir() -> Path:
    return require(DATA_DIR)


def check_valid(upload: dict[str, Any], now_ms: int) -> None:
    """The upload passes the worker's validation without any issue, and the JSON Schema."""
    raw = encode(upload)
    result = validate(raw, now_ms, Limits())
    assert isinstance(result, Validated), result
    assert result.issues == [], result.issues[:3]
    assert len(result.upload.columns) == len(upload["samples"])
    SCHEMA.validate(orjson.loads(raw))


def minute_samples(start_ms: int, minutes: int) -> list[Sample]:
    return [
        Sample(t_ms=start_ms + i * MINUTE_MS, hr_bpm=60.0 + i % 7, steps=i % 3, rr_ms=[900, 950])
        for i in range(minutes)
    ]


def test_uploads_are_aligned_windows_with_deterministic_ids() -> None:
    samples = minute_samples(start_ms=10 * MINUTE_MS, minutes=40)
    first = list(build_uploads("pat-0001", samples, device_id="pat-0001-fitbit"))
    again = list(build_uploads("pat-0001", samples, device_id="pat-0001-fitbit"))
    assert [encode(u) for u in first] == [encode(u) for u in again]
    # 15-minute windows: minutes 10-14, 15-29, 30-44, 45-49
    assert [len(u["samples"]) for u in first] == [5, 15, 15, 5]
    for upload in first:
        times = [s["t_ms"] for s in upload["samples"]]
        assert upload["upload_id"] == f"pat-0001-{times[0]}"
        assert re.match(ID_PATTERN, upload["upload_id"])
        assert upload["uploaded_at_ms"] == times[-1]
        assert len({t // (15 * MINUTE_MS) for t in times}) == 1
        check_valid(upload, now_ms=times[-1])


def test_upload_size_cap_and_absent_fields() -> None:
    samples = [Sample(t_ms=t * 1000, hr_bpm=70.0) for t in range(25)]
    uploads = list(build_uploads("pat-0002", samples, device_id="d", max_samples=10))
    assert [len(u["samples"]) for u in uploads] == [10, 10, 5]
    assert uploads[0]["samples"][0] == {"t_ms": 0, "hr_bpm": 70.0}  # no nulls, no empty lists


def test_every_dataset_has_a_device_kind() -> None:
    """``wearmon replay --dataset nsr`` once failed with KeyError: 'nsr' (no device kind)."""
    assert set(DEVICE_KIND) == set(DATASETS)
    for dataset, kind in DEVICE_KIND.items():
        assert re.match(ID_PATTERN, f"{dataset}-001-{kind}")


def test_rebase_whole_days_keeps_hour_and_stays_in_the_past() -> None:
    now_ms = int(time.time() * 1000)
    for last_ms in (0, 1_583_800_000_123, now_ms - 5, now_ms + 3 * DAY_MS):  # also future data
        shift = rebase_shift_ms(last_ms, now_ms)
        assert shift % DAY_MS == 0
        assert now_ms - DAY_MS < last_ms + shift <= now_ms
    samples = minute_samples(start_ms=1_583_800_000_000, minutes=30)
    shift = rebase_shift_ms(samples[-1].t_ms, now_ms)
    uploads = list(build_uploads("pat-0003", samples, device_id="d", shift_ms=shift))
    sent = [s["t_ms"] for u in uploads for s in u["samples"]]
    assert sent == [s.t_ms + shift for s in samples]
    assert max(sent) <= now_ms
    assert sent[0] % DAY_MS == samples[0].t_ms % DAY_MS  # same time of day


def test_merge_interleaves_patients_in_event_time() -> None:
    a = build_uploads("pat-000a", minute_samples(0, 60), device_id="a")
    b = build_uploads("pat-000b", minute_samples(7 * MINUTE_MS, 60), device_id="b")
    merged = list(merge_by_time([a, b]))
    keys = [(u["uploaded_at_ms"], u["patient_id"]) for u in merged]
    assert keys == sorted(keys)
    assert {u["patient_id"] for u in merged[:3]} == {"pat-000a", "pat-000b"}


class FakeProducer:
    """Accepts messages and confirms each a moment later, like a broker would."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.futures: list[asyncio.Future[None]] = []

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[None]:
        self.sent.append((topic, key, value))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, future.set_result, None)
        self.futures.append(future)
        return future


async def test_send_uploads_keys_and_awaits_delivery() -> None:
    a = build_uploads("pat-000a", minute_samples(0, 40), device_id="a")
    b = build_uploads("pat-000b", minute_samples(0, 20), device_id="b")
    producer = FakeProducer()
    seen: list[int] = []
    stats = await send_uploads(
        producer, "telemetry", merge_by_time([a, b]), speed=0, progress=seen.append
    )
    assert (stats.patients, stats.samples, stats.uploads) == (2, 60, len(producer.sent))
    assert sum(seen) == 60 and stats.bytes == sum(len(v) for _, _, v in producer.sent)
    assert all(f.done() for f in producer.futures)
    for topic, key, value in producer.sent:
        assert topic == "telemetry" and orjson.loads(value)["patient_id"] == key.decode()


async def test_send_uploads_is_paced_by_speed() -> None:
    uploads = build_uploads(
        "pat-0001", minute_samples(0, 31), device_id="d", upload_every_ms=15 * MINUTE_MS
    )  # uploaded at minutes 14, 29 and 30: 16 event minutes
    stats = await send_uploads(FakeProducer(), "t", uploads, speed=16 * 60 / 0.2)
    assert 0.18 <= stats.elapsed_s < 1.0
    with pytest.raises(ValueError, match="speed"):
        await send_uploads(FakeProducer(), "t", [], speed=-1)


def test_cli_command_needs_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    group = click.Group("wearmon")
    add_replay_command(group)
    runner = CliRunner()
    helped = runner.invoke(group, ["replay", "--help"])
    assert helped.exit_code == 0
    for option in ("--dataset", "--data-dir", "--speed", "--max-patients", "--max-days"):
        assert option in helped.output
    monkeypatch.setenv("WEARMON_BROKER", "")
    failed = runner.invoke(group, ["replay", "--dataset", "mmash"])
    assert failed.exit_code != 0 and "WEARMON_BROKER" in failed.output


@pytest.mark.data
@pytest.mark.parametrize("dataset", DATASETS)
def test_real_uploads_validate(data_dir: Path, dataset: str) -> None:
    patient = list_patients(dataset, data_dir)[0]
    series = load_patient(dataset, data_dir, patient, limit=3_000, plausible_only=True)
    now_ms = int(time.time() * 1000)
    shift = rebase_shift_ms(series.last_t_ms, now_ms)
    uploads = list(build_uploads(patient, series.samples(), device_id="dev-1", shift_ms=shift))
    assert sum(len(u["samples"]) for u in uploads) == len(series) > 0
    assert max(u["uploaded_at_ms"] for u in uploads) <= now_ms
    for upload in uploads:
        check_valid(upload, now_ms)
    again = build_uploads(patient, series.samples(), device_id="dev-1", shift_ms=shift)
    assert [u["upload_id"] for u in again] == [u["upload_id"] for u in uploads]


@pytest.mark.data
def test_real_artefacts_reach_the_validator(data_dir: Path) -> None:
    """Raw replay keeps artefacts: the worker flags them per value, never the whole upload."""
    series = load_patient("mmash", data_dir, "mmash-01")
    uploads = build_uploads("mmash-01", series.samples(), device_id="dev-1")
    results = [validate(encode(u), 2**62, Limits()) for u in uploads]
    assert all(isinstance(r, Validated) for r in results)
    reasons = {i.reason for r in results if isinstance(r, Validated) for i in r.issues}
    assert reasons == {"out_of_range"}
