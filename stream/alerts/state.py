"""The alerting state of one patient: a small, versioned, JSON-serialisable object.

The worker keeps one ``PatientAlerts`` per patient in a Faust table keyed by patient id, so it
survives restarts and rebalances. Its size is bounded: at most one alert per dedup key (plus the
recently resolved ones inside their cooldown) and at most ``MAX_WINDOWS`` windows per finding kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from wearmon.stream.alerts.lifecycle import Alert

STATE_VERSION = 1
MAX_WINDOWS = 16


class StateVersionError(ValueError):
    pass


class QualityLike(Protocol):
    """What the policy needs from ``stream.core.pipeline.Quality`` (one upload's data quality)."""

    @property
    def t_ms(self) -> int: ...
    @property
    def worn_samples(self) -> int: ...
    @property
    def battery_pct(self) -> float | None: ...


@dataclass(slots=True)
class PatientAlerts:
    """Alerting state of one patient.

    >>> st = PatientAlerts.new("p-0001", now_ms=0)
    >>> PatientAlerts.from_json(st.to_json()) == st
    True
    """

    patient: str
    last_rx_ms: int | None = None  # processing time of the newest upload
    last_assessable_rx_ms: int | None = None  # ... of the newest upload with worn data
    watermark_ms: int = 0  # newest event time seen
    run_start_ms: int | None = None  # current run of gap-free worn data (event time)
    run_last_ms: int | None = None
    windows: dict[str, list[list[int]]] = field(default_factory=dict)  # kind → [[window, rank]]
    alerts: dict[str, Alert] = field(default_factory=dict)  # dedup key → active/recent alert
    episodes: dict[str, int] = field(default_factory=dict)  # device/wear kind → episode alerted

    @classmethod
    def new(cls, patient: str, now_ms: int) -> PatientAlerts:
        """State at enrolment: a device that never sends anything is reported offline."""
        return cls(patient=patient, last_rx_ms=now_ms, last_assessable_rx_ms=now_ms)

    def active(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.active]

    def find(self, alert_id: str) -> Alert | None:
        return next((a for a in self.alerts.values() if a.alert_id == alert_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "patient": self.patient,
            "last_rx_ms": self.last_rx_ms,
            "last_assessable_rx_ms": self.last_assessable_rx_ms,
            "watermark_ms": self.watermark_ms,
            "run": [self.run_start_ms, self.run_last_ms],
            "windows": self.windows,
            "alerts": [alert.to_json() for alert in self.alerts.values()],
            "episodes": self.episodes,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PatientAlerts:
        if doc.get("v") != STATE_VERSION:
            raise StateVersionError(f"alert state version {doc.get('v')!r} != {STATE_VERSION}")
        alerts = [Alert.from_json(a) for a in doc["alerts"]]
        return cls(
            patient=doc["patient"],
            last_rx_ms=doc["last_rx_ms"],
            last_assessable_rx_ms=doc["last_assessable_rx_ms"],
            watermark_ms=int(doc["watermark_ms"]),
            run_start_ms=doc["run"][0],
            run_last_ms=doc["run"][1],
            windows={k: [list(w) for w in v] for k, v in doc["windows"].items()},
            alerts={a.dedup_key: a for a in alerts},
            episodes={k: int(v) for k, v in doc["episodes"].items()},
        )
