"""The detector interface: score first, then learn; explain every finding; bounded state.

A detector sees one ``Context`` (the patient's features at one instant of event time) and returns
a ``Finding`` when something deserves attention, or ``None``. ``status`` tells whether it can
assess at all (warm-up, not worn): "can't assess" is never reported as normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Status(StrEnum):
    OK = "ok"
    ATTENTION = "attention"
    ALERT = "alert"  # a patient's status while a clinical alert is open (set by the stream)
    CANT_ASSESS = "cant_assess"


@dataclass(frozen=True, slots=True)
class Context:
    """A patient's features at event time ``t_ms`` (all optional values may be missing).

    ``hr_bpm`` is a short rolling median (robust to single-beat artefacts); ``steps_recent`` counts
    steps in the activity look-back window; ``at_rest`` means no steps in that window
    (known only when the device reports steps).
    """

    t_ms: int
    hr_bpm: float | None = None
    spo2_pct: float | None = None
    resp_rate_brpm: float | None = None
    skin_temp_c: float | None = None
    steps_recent: int = 0
    at_rest: bool = False
    hour_of_day: int = 0
    worn: bool = True
    steps: int | None = None  # steps in this sample (None: the device sent none)
    has_steps: bool = False  # the patient's device reports steps at all (else activity unknown)
    rr_ms: tuple[int, ...] = ()  # beat-to-beat intervals of this sample, in order


@dataclass(frozen=True, slots=True)
class Finding:
    """One detector's judgement at one instant, with a nurse-readable explanation."""

    detector: str
    t_ms: int
    severity: Severity
    score: float
    observed: float
    baseline: float | None
    explanation: str
    kind: str = "anomaly"  # e.g. tachycardia_at_rest, desaturation, irregular_rhythm


class Detector(Protocol):
    name: str

    def score_then_learn(self, ctx: Context) -> Finding | None:
        """Score ``ctx`` against what was learned so far, then learn from it unless flagged."""

    def status(self) -> Status: ...

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state (bounded size), restorable with ``from_state``."""
