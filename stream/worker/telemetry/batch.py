"""What a telemetry batch is made of: the messages in, and everything they cause out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from wearmon.stream.core.validation import Rejection
from wearmon.stream.sinks.records import MessagePoints, Source
from wearmon.stream.worker.paging import Page


@dataclass(frozen=True, slots=True)
class Incoming:
    """One telemetry message as the worker received it."""

    value: bytes
    received_ms: int  # broker timestamp of the message
    partition: int = 0
    offset: int = 0

    def source(self) -> Source:
        return Source(self.value, self.received_ms)


@dataclass
class BatchOutput:
    """Everything one batch causes, in the order it must be made durable: the page first
    (``worker.paging``), then points, dead letters and the patients' state (``durable``)."""

    points: list[MessagePoints] = field(default_factory=list)  # → InfluxDB, by message
    rejections: list[Rejection] = field(default_factory=list)  # → dead-letter topic
    page: Page = field(default_factory=Page)  # → alerts and anomalies topics, alert state
    patients: set[str] = field(default_factory=set)  # patient states to save
    counts: Counter[str] = field(default_factory=Counter)
    e2e_latency_ms: float = 0.0  # oldest message of the batch: broker arrival → processing (ms)

    def message(self, source: Incoming) -> MessagePoints:
        """The points record of one more message."""
        new = MessagePoints(source.source())
        self.points.append(new)
        return new

    def reject(self, points: MessagePoints, rejection: Rejection, count: str = "rejected"
               ) -> None:
        """A dead letter of this message (and its ``rejected`` point)."""
        self.rejections.append(rejection)
        self.counts[count] += 1
        points.rejections.append(rejection)

    def merge(self, other: BatchOutput) -> None:
        self.points += other.points
        self.rejections += other.rejections
        self.page.merge(other.page)
        self.patients |= other.patients
        self.counts.update(other.counts)
