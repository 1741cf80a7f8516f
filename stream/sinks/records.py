"""What the worker hands to the InfluxDB sink: records of what to store, not yet formatted.

A telemetry batch's pure step returns ``UploadPoints`` (one per processed upload); the worker
publishes them on the points topic (``points_records``: a few records per batch and partition,
each at most ``MAX_RECORD_BYTES``), and ``wearmon sink`` formats them as InfluxDB line protocol
where it writes them (``sinks.lines``). A record is JSON, so that any consumer can read it::

    {"schema": "wearmon.points/1", "uploads": [UploadPoints.to_json(), …],
     "pipeline": PipelineHealth.to_json() | null}

Arrays keep their exact values (orjson writes numpy floats as ``repr`` does, NaN as ``null``),
so a point stored from a record is the point the upload carried.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from wearmon.models.base import Finding, Minute, Severity, Status
from wearmon.stream.core.pipeline import Quality, Result
from wearmon.stream.core.schema import Columns

SCHEMA = "wearmon.points/1"
MAX_RECORD_BYTES = 256 * 1024  # well below Kafka's default 1 MB message limit


@dataclass(frozen=True, slots=True)
class Rollup:
    """One closed minute as stored (``rollup_1m``)."""

    start_ms: int
    hr_samples: int = 0
    hr_mean_bpm: float | None = None
    hr_min_bpm: float | None = None
    hr_max_bpm: float | None = None
    steps: int = 0
    steps_samples: int = 0
    spo2_samples: int = 0
    spo2_mean_pct: float | None = None
    spo2_min_pct: float | None = None

    @classmethod
    def of(cls, m: Minute) -> Rollup:
        return cls(m.start_ms, m.hr_samples, m.hr_mean_bpm, m.hr_min_bpm, m.hr_max_bpm,
                   m.steps, m.steps_samples, m.spo2_samples, m.spo2_mean_pct, m.spo2_min_pct)


@dataclass(frozen=True, slots=True)
class UploadPoints:
    """One processed upload's points: its samples, closed minutes, findings, baseline, data
    quality, and the patient's status as the alert policy assessed it."""

    patient_id: str
    device_id: str
    upload_id: str
    columns: Columns
    rollups: tuple[Rollup, ...] = ()
    findings: tuple[Finding, ...] = ()
    baseline: tuple[int, float, float] | None = None  # (t_ms, resting HR, sd)
    quality: Quality | None = None
    status: Status | None = None  # None: the upload had no data-quality summary
    ward: str = ""  # the patient's ward from enrolment ("": none)

    @classmethod
    def of(cls, result: Result, status: Status | None, ward: str = "") -> UploadPoints:
        up = result.upload
        return cls(up.patient_id, up.device_id, up.upload_id, up.columns,
                   tuple(Rollup.of(m) for m in result.minutes), tuple(result.findings),
                   result.baseline, result.quality, status, ward)

    @classmethod
    def observed(cls, result: Result) -> UploadPoints:
        """A result's points on its own, with the status its data showed (no alert policy)."""
        return cls.of(result, result.quality.status if result.quality is not None else None)

    def to_json(self) -> dict[str, Any]:
        c, q = self.columns, self.quality
        return {
            "patient_id": self.patient_id, "device_id": self.device_id,
            "upload_id": self.upload_id,
            "t_ms": contiguous(c.t_ms), "values": contiguous(c.values),
            "rr_ms": contiguous(c.rr_ms), "rr_count": contiguous(c.rr_count),
            "rollups": [[r.start_ms, r.hr_samples, r.hr_mean_bpm, r.hr_min_bpm, r.hr_max_bpm,
                         r.steps, r.steps_samples, r.spo2_samples, r.spo2_mean_pct,
                         r.spo2_min_pct] for r in self.rollups],
            "findings": [[f.detector, f.t_ms, f.severity.value, f.score, f.observed, f.baseline,
                          f.explanation, f.kind] for f in self.findings],
            "baseline": self.baseline,
            "quality": None if q is None else [q.t_ms, q.samples, q.worn_samples, q.dropped,
                                               q.sync_lag_s, q.battery_pct, q.status.value],
            "status": None if self.status is None else self.status.value,
            "ward": self.ward,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> UploadPoints:
        """Raises ``ValueError``, ``KeyError`` or ``TypeError`` for a document it cannot read."""
        values = np.array(doc["values"], dtype=np.float64)
        t_ms = np.array(doc["t_ms"], dtype=np.int64)
        if values.ndim != 2 or values.shape[1] != len(t_ms):
            raise ValueError("values and t_ms do not match")
        columns = Columns(t_ms, values, np.array(doc["rr_ms"], dtype=np.int64),
                          np.array(doc["rr_count"], dtype=np.int64))
        q = doc["quality"]
        return cls(
            str(doc["patient_id"]), str(doc["device_id"]), str(doc["upload_id"]), columns,
            tuple(Rollup(*row) for row in doc["rollups"]),
            tuple(Finding(f[0], f[1], Severity(f[2]), f[3], f[4], f[5], f[6], f[7])
                  for f in doc["findings"]),
            None if doc["baseline"] is None else tuple(doc["baseline"]),
            None if q is None else Quality(q[0], q[1], q[2], q[3], q[4], q[5], Status(q[6])),
            None if doc["status"] is None else Status(doc["status"]),
            str(doc.get("ward", "")))


def contiguous(array: np.ndarray) -> np.ndarray:
    """The array as orjson writes it (a copy only for a strided view)."""
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


@dataclass(frozen=True, slots=True)
class PipelineHealth:
    """One worker's ``pipeline`` point for a batch (wall-clock health data)."""

    worker: str
    t_ms: int
    values: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"worker": self.worker, "t_ms": self.t_ms, "values": self.values}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PipelineHealth:
        return cls(str(doc["worker"]), int(doc["t_ms"]),
                   {str(k): float(v) for k, v in doc["values"].items()})


def encode_upload(points: UploadPoints) -> bytes:
    return orjson.dumps(points.to_json(), option=orjson.OPT_SERIALIZE_NUMPY)


def points_records(uploads: Sequence[bytes], health: PipelineHealth | None = None,
                   max_bytes: int = MAX_RECORD_BYTES) -> Iterator[bytes]:
    """Encoded uploads (``encode_upload``) in records of at most about ``max_bytes`` each (an
    upload larger than that gets a record of its own); the health point goes in the first.

    >>> upload = b'{"upload_id":"u-1234"}'
    >>> [len(orjson.loads(r)["uploads"]) for r in points_records([upload] * 5, max_bytes=70)]
    [3, 2]
    """
    head = orjson.dumps(None if health is None else health.to_json())
    chunk: list[bytes] = []
    size = 0
    for upload in uploads:
        if chunk and size + len(upload) > max_bytes:
            yield record(chunk, head)
            chunk, size, head = [], 0, b"null"
        chunk.append(upload)
        size += len(upload) + 1
    if chunk or head != b"null":
        yield record(chunk, head)


def record(uploads: list[bytes], health: bytes) -> bytes:
    return (b'{"schema":"' + SCHEMA.encode() + b'","pipeline":' + health + b',"uploads":['
            + b",".join(uploads) + b"]}")
