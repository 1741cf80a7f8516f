"""Telemetry contract v1: the wire format gateways send to the telemetry topic.

One Kafka message = one upload from one device = many samples; key = pseudonymous patient id.
Times are integer milliseconds since the Unix epoch, UTC. Units are in field names.
``docs/telemetry.md`` describes the contract; ``stream/core/contract/telemetry-v1.schema.json``
is the JSON Schema generated from this module (``wearmon contract``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from wearmon.models.base import BeatBlock, FloatArray, IntArray

SCHEMA_VERSION: Final = 1
#: Whole-string patterns (match them with ``re.fullmatch``: ``$`` alone accepts a final newline).
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
PATIENT_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$"


@dataclass(frozen=True, slots=True)
class Range:
    """Plausible physiological range of one sample field (inclusive), with its unit."""

    low: float
    high: float
    unit: str
    description: str
    integer: bool = False


#: Per-field plausible ranges. Values outside are physiologically impossible or sensor artefacts.
SAMPLE_RANGES: Final[dict[str, Range]] = {
    "hr_bpm": Range(25, 250, "beats/min", "heart rate"),
    "steps": Range(0, 1000, "steps", "steps since the previous sample", integer=True),
    "spo2_pct": Range(50, 100, "%", "peripheral oxygen saturation"),
    "resp_rate_brpm": Range(3, 70, "breaths/min", "respiration rate"),
    "skin_temp_c": Range(20, 45, "°C", "skin temperature"),
}
#: Each beat-to-beat interval (ms); 200-3000 ms is 20-300 beats/min.
RR_RANGE: Final = Range(200, 3000, "ms", "beat-to-beat (RR) interval", integer=True)
MAX_RR_PER_SAMPLE: Final = 400
BATTERY_RANGE: Final = Range(0, 100, "%", "device battery level")
VALUE_FIELDS: Final = tuple(SAMPLE_RANGES)


@dataclass(slots=True)
class Sample:
    """One timestamped sample; any vital may be absent (None)."""

    t_ms: int
    hr_bpm: float | None = None
    steps: int | None = None
    spo2_pct: float | None = None
    resp_rate_brpm: float | None = None
    skin_temp_c: float | None = None
    rr_ms: list[int] = field(default_factory=list)


#: The rows of ``Columns.values`` (``steps`` holds whole numbers; NaN means absent).
FLOAT_FIELDS: Final = ("hr_bpm", "steps", "spo2_pct", "resp_rate_brpm", "skin_temp_c")
HR, STEPS, SPO2, RESP, TEMP = range(len(FLOAT_FIELDS))


@dataclass(slots=True)
class Columns:
    """The samples of one validated upload as arrays: sorted by ``t_ms``, unique times.

    ``values`` has one row per field of ``FLOAT_FIELDS`` and one column per sample; absent
    values are NaN. Beat intervals are flat in ``rr_ms`` (all beats, in order), with
    ``rr_count`` beats per sample.

    >>> c = Columns.from_samples([Sample(t_ms=5000, hr_bpm=70, rr_ms=[800, 810]),
    ...                           Sample(t_ms=0, steps=3)])
    >>> c.t_ms.tolist(), c.hr_bpm.tolist(), c.steps.tolist(), c.rr_count.tolist()
    ([0, 5000], [nan, 70.0], [3.0, nan], [0, 2])
    >>> c.beats().t_ms.tolist()
    [5000, 5800]
    """

    t_ms: IntArray
    values: npt.NDArray[np.float64]
    rr_ms: IntArray
    rr_count: IntArray

    def __len__(self) -> int:
        return len(self.t_ms)

    @property
    def hr_bpm(self) -> FloatArray:
        return self.values[HR]

    @property
    def steps(self) -> FloatArray:
        return self.values[STEPS]

    @property
    def spo2_pct(self) -> FloatArray:
        return self.values[SPO2]

    @property
    def resp_rate_brpm(self) -> FloatArray:
        return self.values[RESP]

    @property
    def skin_temp_c(self) -> FloatArray:
        return self.values[TEMP]

    @classmethod
    def empty(cls) -> Columns:
        return cls.from_samples([])

    @classmethod
    def from_samples(cls, samples: Sequence[Sample]) -> Columns:
        ordered = sorted(samples, key=lambda s: s.t_ms)
        values = np.array([[getattr(s, name) for s in ordered] for name in FLOAT_FIELDS],
                          dtype=np.float64).reshape(len(FLOAT_FIELDS), len(ordered))
        rr = [v for s in ordered for v in s.rr_ms]
        return cls(
            t_ms=np.array([s.t_ms for s in ordered], dtype=np.int64).reshape(-1),
            values=values,
            rr_ms=np.array(rr, dtype=np.int64).reshape(-1),
            rr_count=np.array([len(s.rr_ms) for s in ordered], dtype=np.int64).reshape(-1),
        )

    def take(self, keep: np.ndarray) -> Columns:
        """The samples where boolean ``keep`` is true (with their beats)."""
        rr_ms = self.rr_ms[np.repeat(keep, self.rr_count)] if len(self.rr_ms) else self.rr_ms
        return Columns(self.t_ms[keep], self.values[:, keep], rr_ms, self.rr_count[keep])

    def slice(self, lo: int, hi: int) -> Columns:
        """Samples ``lo`` to ``hi`` (exclusive), with their beats."""
        first = int(self.rr_count[:lo].sum())
        last = first + int(self.rr_count[lo:hi].sum())
        return Columns(self.t_ms[lo:hi], self.values[:, lo:hi], self.rr_ms[first:last],
                       self.rr_count[lo:hi])

    def split(self, every_ms: int) -> list[Columns]:
        """Consecutive windows of ``every_ms`` of event time (as a gateway batches uploads).

        >>> c = Columns.from_samples([Sample(t_ms=t, hr_bpm=60) for t in (0, 30, 60, 130)])
        >>> [len(part) for part in c.split(60)]
        [2, 1, 1]
        """
        if not len(self):
            return []
        window = (self.t_ms - self.t_ms[0]) // every_ms
        cuts = np.flatnonzero(window[1:] != window[:-1]) + 1
        bounds = [0, *cuts.tolist(), len(self)]
        return [self.slice(lo, hi) for lo, hi in pairwise(bounds)]

    def beats(self) -> BeatBlock:
        """Each beat at its sample's time plus the intervals before it in that sample."""
        if not len(self.rr_ms):
            return BeatBlock(np.zeros(0, dtype=np.int64), self.rr_ms)
        first = np.cumsum(self.rr_count) - self.rr_count  # index of each sample's first beat
        before = np.cumsum(self.rr_ms) - self.rr_ms  # all intervals before each beat
        sample_t = np.repeat(self.t_ms, self.rr_count)
        with_beats = self.rr_count > 0
        offset = before - np.repeat(before[first[with_beats]], self.rr_count[with_beats])
        return BeatBlock(sample_t + offset, self.rr_ms)

    def digest(self) -> str:
        """A short fingerprint of the content (re-sent uploads have the same one)."""
        h = hashlib.blake2b(self.t_ms.tobytes(), digest_size=8)
        h.update(self.values.tobytes())
        h.update(self.rr_ms.tobytes())
        return h.hexdigest()

    def to_samples(self) -> list[Sample]:
        """Back to one object per sample (tests and tools)."""
        out = []
        beats = iter(self.rr_ms.tolist())
        rows = self.values.T.tolist()
        for i, t in enumerate(self.t_ms.tolist()):
            hr, steps, spo2, resp, temp = (None if v != v else v for v in rows[i])  # NaN: absent
            out.append(Sample(t_ms=t, hr_bpm=hr, steps=None if steps is None else int(steps),
                              spo2_pct=spo2, resp_rate_brpm=resp, skin_temp_c=temp,
                              rr_ms=[next(beats) for _ in range(int(self.rr_count[i]))]))
        return out


@dataclass(slots=True)
class Upload:
    """A validated upload: its envelope and its samples as ``Columns``."""

    upload_id: str
    device_id: str
    patient_id: str
    uploaded_at_ms: int
    received_ms: int
    columns: Columns
    battery_pct: float | None = None


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a v1 upload, generated from the ranges above."""

    def number(r: Range) -> dict[str, Any]:
        return {
            "type": "integer" if r.integer else "number",
            "minimum": r.low,
            "maximum": r.high,
            "description": f"{r.description} ({r.unit})",
        }

    sample_props: dict[str, Any] = {
        "t_ms": {"type": "integer", "minimum": 0, "description": "event time, ms since epoch, UTC"},
        **{name: number(r) for name, r in SAMPLE_RANGES.items()},
        "rr_ms": {
            "type": "array",
            "items": number(RR_RANGE),
            "maxItems": MAX_RR_PER_SAMPLE,
            "description": "beat-to-beat intervals (ms) of beats in this sample, in order",
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://wearmon.dev/schema/telemetry-v1.schema.json",
        "title": "Wearmon telemetry upload v1",
        "type": "object",
        "required": ["schema_version", "upload_id", "device_id", "patient_id", "uploaded_at_ms",
                     "samples"],
        "additionalProperties": False,
        "properties": {
            "schema_version": {"const": SCHEMA_VERSION},
            "upload_id": {"type": "string", "pattern": ID_PATTERN,
                          "description": "unique per upload; re-sent uploads reuse it"},
            "device_id": {"type": "string", "pattern": ID_PATTERN},
            "patient_id": {"type": "string", "pattern": PATIENT_ID_PATTERN,
                           "description": "pseudonym issued at enrolment; never a name or MRN"},
            "uploaded_at_ms": {"type": "integer", "minimum": 0,
                               "description": "gateway send time, ms since epoch, UTC"},
            "battery_pct": number(BATTERY_RANGE),
            "samples": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["t_ms"],
                    "additionalProperties": False,
                    "properties": sample_props,
                },
            },
        },
    }
