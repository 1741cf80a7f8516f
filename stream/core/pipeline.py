"""One upload through the pure stages: ordering checks -> features -> detectors -> results.

``PatientState`` is everything Wearmon remembers about one patient; it is JSON-serialisable
(versioned) so the worker can keep it in a Faust table that survives restarts and rebalances.
No I/O happens here.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from wearmon.models.base import Finding, Status
from wearmon.models.suite import PatientModels
from wearmon.stream.core.features import MinuteRollup, PatientFeatures
from wearmon.stream.core.schema import Upload
from wearmon.stream.core.validation import Issue

STATE_VERSION = 1
RECENT_UPLOADS = 128
FINDING_REPEAT_MS = 60_000


class StateVersionError(ValueError):
    pass


@dataclass(slots=True)
class PatientState:
    watermark_ms: int = 0
    recent_uploads: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_UPLOADS))
    features: PatientFeatures = field(default_factory=PatientFeatures)
    models: PatientModels = field(default_factory=PatientModels)
    last_emitted_ms: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "watermark_ms": self.watermark_ms,
            "uploads": list(self.recent_uploads),
            "features": self.features.to_state(),
            "models": self.models.to_state(),
            "emitted": self.last_emitted_ms,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PatientState:
        if doc.get("v") != STATE_VERSION:
            raise StateVersionError(f"patient state version {doc.get('v')!r} != {STATE_VERSION}")
        st = cls()
        st.watermark_ms = int(doc["watermark_ms"])
        st.recent_uploads.extend(doc["uploads"])
        st.features = PatientFeatures.from_state(doc["features"])
        st.models = PatientModels.from_state(doc["models"])
        st.last_emitted_ms = {k: int(v) for k, v in doc["emitted"].items()}
        return st


@dataclass(slots=True)
class Quality:
    """Data quality of one upload."""

    t_ms: int
    samples: int
    worn_samples: int
    dropped: int
    sync_lag_s: float
    battery_pct: float | None
    status: Status


@dataclass(slots=True)
class Result:
    upload: Upload
    duplicate: bool = False
    issues: list[Issue] = field(default_factory=list)
    rollups: list[MinuteRollup] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    quality: Quality | None = None
    baseline: tuple[int, float, float] | None = None  # (t_ms, resting HR, sd)


def process(state: PatientState, upload: Upload, max_lateness_ms: int,
            issues: list[Issue] | None = None) -> Result:
    """Run one validated upload through ordering, features and detectors; mutate ``state``.

    >>> from wearmon.stream.core.schema import Sample
    >>> st = PatientState()
    >>> up = Upload("u1", "d1", "p-0001", 0, 0, [Sample(t_ms=0, hr_bpm=150, steps=0)])
    >>> [f.kind for f in process(st, up, 3_600_000).findings]
    ['tachycardia_at_rest']
    >>> process(st, up, 3_600_000).duplicate
    True
    """
    result = Result(upload=upload, issues=list(issues or ()))
    if upload.upload_id in state.recent_uploads:
        result.duplicate = True
        return result
    state.recent_uploads.append(upload.upload_id)

    late_before_ms = state.watermark_ms - max_lateness_ms
    kept = []
    for index, sample in enumerate(upload.samples):
        if sample.t_ms < late_before_ms:
            result.issues.append(Issue(
                f"samples[{index}].t_ms", "late_sample",
                f"{(state.watermark_ms - sample.t_ms) / 1000:.0f} s older than the patient's "
                f"newest sample (lateness bound {max_lateness_ms / 1000:.0f} s)",
            ))
        else:
            kept.append(sample)
    upload.samples = kept
    if not kept:
        return result

    features = state.features
    for sample in kept:
        if sample.t_ms <= features.last_t_ms:
            minute = sample.t_ms - sample.t_ms % 60_000
            if minute in features.open_minutes:
                features.open_minutes[minute].add(sample)
            continue  # out of order: stored and rolled up, but detectors only move forward
        ctx = features.update(sample)
        result.findings.extend(f for f in state.models.observe(ctx) if _due(state, f))
    state.watermark_ms = max(state.watermark_ms, kept[-1].t_ms)
    result.rollups = features.close_minutes()

    baseline = state.models.baseline()
    if baseline is not None:
        result.baseline = (kept[-1].t_ms, *baseline)
    worn = sum(1 for s in kept if s.hr_bpm is not None)
    status = Status.OK
    if result.findings:
        status = Status.ATTENTION
    elif worn == 0:
        status = Status.CANT_ASSESS
    result.quality = Quality(
        t_ms=kept[-1].t_ms,
        samples=len(kept),
        worn_samples=worn,
        dropped=len(result.issues),
        sync_lag_s=max(0.0, (upload.received_ms - kept[-1].t_ms) / 1000),
        battery_pct=upload.battery_pct,
        status=status,
    )
    return result


def _due(state: PatientState, finding: Finding) -> bool:
    """One finding per detector and kind per minute of event time while it persists."""
    key = f"{finding.detector}:{finding.kind}"
    last = state.last_emitted_ms.get(key)
    if last is not None and finding.t_ms - last < FINDING_REPEAT_MS:
        return False
    state.last_emitted_ms[key] = finding.t_ms
    return True
