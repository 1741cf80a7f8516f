"""``wearmon replay``: a real dataset into the telemetry topic as contract-v1 uploads.

API::

    async send_uploads(producer, topic, uploads, *, speed, progress=None) -> ReplayStats
    async replay(settings, dataset, data_dir, speed, max_patients, max_days, show_progress,
                 *, upload_every_s=900) -> ReplayStats
    add_replay_command(group)                                    # ``wearmon replay``

The I/O shell around ``wearmon.stream.datasets``: the patients are read there
(``load_patient``) and turned into uploads there (``uploads``: one device per patient, windows of
event time, times rebased by whole days to land in the last 24 hours, patients merged in
event-time order). Here they are produced to Kafka: ``speed`` is event seconds per wall second
(0 = as fast as possible); delivery of every message is awaited (``acks='all'``) before
``replay`` returns. Log lines carry counts only, never patient data.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import click
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from wearmon.stream.config import Settings, load_settings
from wearmon.stream.datasets import DATASETS, DAY_MS, DataNotFoundError, list_patients, load_patient
from wearmon.stream.datasets.uploads import (
    DEFAULT_MAX_SAMPLES,
    DEFAULT_UPLOAD_EVERY_S,
    DEVICE_KIND,
    Upload,
    build_uploads,
    encode,
    merge_by_time,
    rebase_shift_ms,
)
from wearmon.stream.kafka import client_options, ensure_topics

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 2_000  # messages handed to the producer before awaiting their delivery


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
