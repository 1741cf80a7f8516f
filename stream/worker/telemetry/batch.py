"""What a telemetry batch is made of: the messages in, and everything they cause out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from wearmon.stream.core.validation import Rejection
from wearmon.stream.sinks.records import UploadPoints
from wearmon.stream.worker.paging import Page


@dataclass(frozen=True, slots=True)
class Incoming:
    """One telemetry message as the worker received it."""

    value: bytes
    received_ms: int  # when it arrived (the broker's timestamp)
    partition: int = 0
    offset: int = 0


@dataclass
class BatchOutput:
    """Everything one batch (or one of its messages) causes, in the order it must be made
    durable: the page first (``worker.paging``), then points, dead letters and the patients'
    state (``durable``)."""

    uploads: list[tuple[int, UploadPoints]] = field(default_factory=list)  # (partition, points)
    rejections: list[Rejection] = field(default_factory=list)  # → dead-letter topic
    page: Page = field(default_factory=Page)  # → alerts and anomalies topics, alert state
    patients: set[str] = field(default_factory=set)  # patient states to save
    counts: Counter[str] = field(default_factory=Counter)
    e2e_latency_ms: float = 0.0  # oldest message of the batch: broker arrival → processing (ms)
    about: tuple[str, str] | None = None  # one message's output: its (patient id, upload id)

    def reject(self, rejection: Rejection, count: str = "rejected") -> None:
        self.rejections.append(rejection)
        self.counts[count] += 1

    def merge(self, other: BatchOutput) -> None:
        self.uploads += other.uploads
        self.rejections += other.rejections
        self.page.merge(other.page)
        self.patients |= other.patients
        self.counts.update(other.counts)
