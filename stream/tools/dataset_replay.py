"""Replay a real dataset into the telemetry topic as contract-v1 uploads, like phone gateways.

API::

    build_uploads(patient, samples, *, device_id, shift_ms=0, upload_every_ms=900_000,
                  max_samples=1_000) -> Iterator[dict]          # pure, one patient
    merge_by_time(streams) -> Iterator[dict]                     # pure, all patients
    encode(upload) -> bytes                                      # orjson
    rebase_shift_ms(last_t_ms, now_ms) -> int                    # pure
    async send_uploads(producer, topic, uploads, *, speed, progress=None) -> ReplayStats
    async replay(settings, dataset, data_dir, speed, max_patients, max_days, show_progress,
                 *, upload_every_s=900) -> ReplayStats
    add_replay_command(group)                                    # ``wearmon replay``

How an upload is formed: one device per patient (``<patient>-<kind>``) sends the samples of each
``upload_every`` window of event time (windows aligned to multiples of it, at most
``max_samples`` samples each). ``uploaded_at_ms`` is the upload's last sample time and
``upload_id`` is ``<patient>-<first t_ms>``, so the same run builds the same ids.

Rebasing: all times move by one constant per run, a whole number of days, so that the newest
sample of the replayed data lands in the 24 hours up to now: nothing is in the future and every
sample keeps its hour of day (the datasets' local times are read as UTC, and detectors use the
hour). Runs started within the same day therefore send identical uploads (idempotent re-runs).

Patients are interleaved in event-time order (a heap merge on ``uploaded_at_ms``). ``speed`` is
event seconds per wall second (0 = as fast as possible); delivery of every message is awaited
(``acks='all'``) before ``replay`` returns. Log lines carry counts only, never patient data.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import click
import orjson
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from wearmon.stream.config import Settings, load_settings
from wearmon.stream.core.schema import SCHEMA_VERSION, VALUE_FIELDS, Sample
from wearmon.stream.kafka import client_options, ensure_topics
from wearmon.stream.tools.datasets import (
    DATASETS,
    DAY_MS,
    DataNotFoundError,
    list_patients,
    load_patient,
)

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_EVERY_S = 900
DEFAULT_MAX_SAMPLES = 1_000
MAX_IN_FLIGHT = 2_000  # messages handed to the producer before awaiting their delivery
DEVICE_KIND = {"stanford": "fitbit", "mmash": "actigraph", "fitabase": "fitbit", "afdb": "holter"}

Upload = dict[str, Any]


@dataclass(slots=True)
class ReplayStats:
    uploads: int = 0
    samples: int = 0
    patients: int = 0
    bytes: int = 0
    shift_ms: int = 0
    elapsed_s: float = 0.0


class Producer(Protocol):
    """What ``send_uploads`` needs of ``aiokafka.AIOKafkaProducer``."""

    async def send(self, topic: str, value: bytes, key: bytes) -> Awaitable[Any]: ...


def sample_json(sample: Sample) -> dict[str, Any]:
    """A sample as contract-v1 JSON: absent values are left out."""
    doc: dict[str, Any] = {"t_ms": sample.t_ms}
    for name in VALUE_FIELDS:
        value = getattr(sample, name)
        if value is not None:
            doc[name] = value
    if sample.rr_ms:
        doc["rr_ms"] = sample.rr_ms
    return doc


def build_uploads(
    patient: str,
    samples: Iterable[Sample],
    *,
    device_id: str,
    shift_ms: int = 0,
    upload_every_ms: int = DEFAULT_UPLOAD_EVERY_S * 1000,
    max_samples: int = DEFAULT_MAX_SAMPLES,
) -> Iterator[Upload]:
    """Group one patient's time-ordered samples into uploads, times shifted by ``shift_ms``.

    >>> samples = [Sample(t_ms=t, hr_bpm=60.0) for t in (0, 1, 300_000)]
    >>> ups = build_uploads("p-0001", samples, device_id="d1", shift_ms=1_000,
    ...                     upload_every_ms=300_000)
    >>> [(u["upload_id"], len(u["samples"]), u["uploaded_at_ms"]) for u in ups]
    [('p-0001-1000', 2, 1001), ('p-0001-301000', 1, 301000)]
    """
    if upload_every_ms <= 0 or max_samples <= 0:
        raise ValueError("upload_every_ms and max_samples must be positive")
    batch: list[dict[str, Any]] = []
    window: int | None = None
    for sample in samples:
        doc = sample_json(sample)
        doc["t_ms"] += shift_ms
        sample_window = doc["t_ms"] // upload_every_ms
        if batch and (sample_window != window or len(batch) >= max_samples):
            yield _upload(patient, device_id, batch)
            batch = []
        window = sample_window
        batch.append(doc)
    if batch:
        yield _upload(patient, device_id, batch)


def _upload(patient: str, device_id: str, samples: list[dict[str, Any]]) -> Upload:
    return {
        "schema_version": SCHEMA_VERSION,
        "upload_id": f"{patient}-{samples[0]['t_ms']}",
        "device_id": device_id,
        "patient_id": patient,
        "uploaded_at_ms": samples[-1]["t_ms"],
        "samples": samples,
    }


def merge_by_time(streams: Iterable[Iterator[Upload]]) -> Iterator[Upload]:
    """Interleave per-patient upload streams in event-time order (each stream is in order)."""
    return heapq.merge(*streams, key=lambda u: (u["uploaded_at_ms"], u["patient_id"]))


def encode(upload: Upload) -> bytes:
    return orjson.dumps(upload)


def rebase_shift_ms(last_t_ms: int, now_ms: int) -> int:
    """Whole days to add so that ``last_t_ms`` lands in ``(now_ms - 1 day, now_ms]``."""
    return (now_ms - last_t_ms) // DAY_MS * DAY_MS


async def send_uploads(
    producer: Producer,
    topic: str,
    uploads: Iterable[Upload],
    *,
    speed: float,
    progress: Callable[[int], None] | None = None,
) -> ReplayStats:
    """Produce uploads (key = patient id) paced by ``speed``; await every delivery."""
    if speed < 0:
        raise ValueError("speed must be >= 0 (0 = as fast as possible)")
    loop = asyncio.get_running_loop()
    stats = ReplayStats()
    patients: set[str] = set()
    in_flight: list[Awaitable[Any]] = []
    wall_start = loop.time()
    event_start: int | None = None
    for upload in uploads:
        if speed > 0:
            event_start = upload["uploaded_at_ms"] if event_start is None else event_start
            due = wall_start + (upload["uploaded_at_ms"] - event_start) / 1000 / speed
            if (delay := due - loop.time()) > 0:
                await asyncio.sleep(delay)
        value = encode(upload)
        in_flight.append(await producer.send(topic, value=value, key=upload["patient_id"].encode()))
        if len(in_flight) >= MAX_IN_FLIGHT:
            await asyncio.gather(*in_flight)
            in_flight.clear()
        stats.uploads += 1
        stats.samples += len(upload["samples"])
        stats.bytes += len(value)
        patients.add(upload["patient_id"])
        if progress is not None:
            progress(len(upload["samples"]))
    await asyncio.gather(*in_flight)
    stats.patients = len(patients)
    stats.elapsed_s = loop.time() - wall_start
    return stats


async def replay(
    settings: Settings,
    dataset: str,
    data_dir: str | Path,
    speed: float,
    max_patients: int | None,
    max_days: float | None,
    show_progress: bool,
    *,
    upload_every_s: float = DEFAULT_UPLOAD_EVERY_S,
) -> ReplayStats:
    """Replay ``dataset`` from ``data_dir`` into ``settings.topics.telemetry``."""
    patients = list_patients(dataset, data_dir)[:max_patients]
    series = []
    for patient in patients:  # all patients are merged, so all are held (32 bytes/sample)
        one = await asyncio.to_thread(load_patient, dataset, data_dir, patient)
        one = one.first_days(max_days) if max_days is not None else one
        if len(one):
            series.append(one)
    if not series:
        raise ValueError(f"no samples to replay in {dataset}")
    shift_ms = rebase_shift_ms(max(s.last_t_ms for s in series), int(time.time() * 1000))
    total = sum(len(s) for s in series)
    log.info(
        "replay: %d patients, %d samples, times shifted by %d days",
        len(series),
        total,
        shift_ms // DAY_MS,
    )
    streams = [
        build_uploads(
            s.patient,
            s.samples(),
            device_id=f"{s.patient}-{DEVICE_KIND[dataset]}",
            shift_ms=shift_ms,
            upload_every_ms=round(upload_every_s * 1000),
            max_samples=min(DEFAULT_MAX_SAMPLES, settings.uploads.max_samples_per_upload),
        )
        for s in series
    ]
    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        **client_options(settings),
        client_id=f"{settings.kafka.app_id}-replay",
        acks="all",
        linger_ms=20,
        max_batch_size=settings.kafka.producer_max_batch_bytes,
        max_request_size=max(2 * settings.uploads.max_upload_bytes, 1_048_576),
    )
    await producer.start()
    try:
        with _Progress(total, show_progress) as progress:
            stats = await send_uploads(
                producer,
                settings.topics.telemetry,
                merge_by_time(streams),
                speed=speed,
                progress=progress.advance,
            )
    finally:
        await producer.stop()
    stats.shift_ms = shift_ms
    return stats


class _Progress:
    """A rich bar on a terminal, a plain line every 10 s (and at the end) otherwise."""

    def __init__(self, total_samples: int, enabled: bool) -> None:
        console = Console(stderr=True)
        self.total, self.done = total_samples, 0
        self.plain = enabled and not console.is_terminal
        self.bar: Progress | None = None
        if enabled and console.is_terminal:
            self.bar = Progress(
                TextColumn("replay"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("samples"),
                TimeElapsedColumn(),
                console=console,
            )
            self.task = self.bar.add_task("replay", total=total_samples)
        self.next_line_s = time.monotonic() + 10

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
        elif self.plain:
            self._line()

    def advance(self, samples: int) -> None:
        self.done += samples
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        elif self.plain and time.monotonic() >= self.next_line_s:
            self._line()
            self.next_line_s = time.monotonic() + 10

    def _line(self) -> None:
        share = 100 * self.done / self.total if self.total else 100.0
        print(
            f"replay: {self.done}/{self.total} samples sent ({share:.0f}%)",
            file=sys.stderr,
            flush=True,
        )


def add_replay_command(group: click.Group) -> None:
    """Register ``replay`` on the CLI group."""

    @group.command("replay")
    @click.option("--dataset", type=click.Choice(DATASETS), required=True)
    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Dataset directory [default: WEARMON_DATA_DIR or ../shared/data]",
    )
    @click.option(
        "--speed",
        type=click.FloatRange(min=0),
        default=0.0,
        show_default=True,
        help="Event seconds per wall second; 0 = as fast as possible",
    )
    @click.option("--max-patients", type=click.IntRange(min=1), default=None)
    @click.option(
        "--max-days",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Replay only each patient's first N days",
    )
    @click.option(
        "--upload-every-s",
        type=click.FloatRange(min=1),
        show_default=True,
        default=float(DEFAULT_UPLOAD_EVERY_S),
        help="Event time per upload",
    )
    @click.option("--progress/--no-progress", default=True, show_default=True)
    def replay_command(
        dataset: str,
        data_dir: str | None,
        speed: float,
        max_patients: int | None,
        max_days: float | None,
        upload_every_s: float,
        progress: bool,
    ) -> None:
        """Replay a real dataset into the telemetry topic as gateway uploads."""
        settings = load_settings()
        settings.require_broker()
        try:
            stats = asyncio.run(
                replay(
                    settings,
                    dataset,
                    data_dir or settings.data.data_dir,
                    speed,
                    max_patients,
                    max_days,
                    progress,
                    upload_every_s=upload_every_s,
                )
            )
        except (DataNotFoundError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(
            f"replayed {stats.uploads} uploads, {stats.samples} samples, {stats.patients} "
            f"patients ({stats.bytes / 1e6:.1f} MB) in {stats.elapsed_s:.1f} s; times shifted "
            f"by {stats.shift_ms // DAY_MS} days"
        )
