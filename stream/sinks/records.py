"""What the worker hands to the sinks: records of what to store, not yet formatted.

A telemetry batch's pure step returns these; the InfluxDB line protocol is made only where the
points are written (``sinks.lines``), so a point that InfluxDB refuses can still be traced to the
message that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wearmon.models.base import Status
from wearmon.stream.core.pipeline import Result
from wearmon.stream.core.validation import Rejection


@dataclass(frozen=True, slots=True)
class UploadPoints:
    """One processed upload's points: its result, and the patient's status as the alert policy
    assessed it (``None``: the upload had no data-quality summary)."""

    result: Result
    status: Status | None

    @classmethod
    def observed(cls, result: Result) -> UploadPoints:
        """The points of a result on its own, with the status its data showed (no alert
        policy)."""
        return cls(result, result.quality.status if result.quality is not None else None)


@dataclass(frozen=True, slots=True)
class Source:
    """The message a record came from: its bytes and arrival, for a dead letter if InfluxDB
    refuses its points."""

    value: bytes
    received_ms: int


@dataclass(slots=True)
class MessagePoints:
    """Everything one message stores: its upload's points (if it was processed) and the
    ``rejected`` points of its dead letters. ``source`` None: the batch's own points."""

    source: Source | None
    patient_id: str | None = None
    upload_id: str | None = None
    upload: UploadPoints | None = None
    rejections: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PipelineHealth:
    """One worker's ``pipeline`` point for a batch (wall-clock health data)."""

    worker: str
    t_ms: int
    values: dict[str, float]
