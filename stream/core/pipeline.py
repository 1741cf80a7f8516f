"""One upload through the pure stages: identity and lateness → features → detectors → results.

``process(state, upload, …)`` is the one function that both the stream worker and the offline
evaluation run for every upload. ``PatientState`` is everything Wearmon remembers about one
patient; it is JSON-serialisable (versioned) so the worker can keep it in a Faust table that
survives restarts and rebalances. No I/O happens here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from wearmon.models.base import BeatBlock, BoolArray, Day, Finding, Minute, Status
from wearmon.models.suite import PatientModels
from wearmon.stream.core.features import PatientFeatures, update_many
from wearmon.stream.core.issues import Issue
from wearmon.stream.core.schema import Upload

STATE_VERSION = 2
DEFAULT_MAX_LATENESS_MS = 172_800_000  # the worker's default (WEARMON_MAX_LATENESS_S)
RECENT_UPLOADS = 128
FINDING_REPEAT_MS = 60_000


class StateVersionError(ValueError):
    pass


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def utc_offset_ms(timezone: str, t_ms: int) -> int:
    """The patient's UTC offset at ``t_ms`` (e.g. summer time), in ms.

    >>> utc_offset_ms("Europe/London", 1_751_328_000_000), utc_offset_ms("UTC", 0)
    (3600000, 0)
    """
    if timezone == "UTC":
        return 0
    offset = datetime.fromtimestamp(t_ms / 1000, UTC).astimezone(_zone(timezone)).utcoffset()
    return 0 if offset is None else int(offset.total_seconds() * 1000)


@dataclass(slots=True)
class PatientState:
    watermark_ms: int = 0
    # (device_id, upload_id) → content digest of the most recent uploads (identity, not order)
    recent_uploads: dict[str, str] = field(default_factory=dict)
    features: PatientFeatures = field(default_factory=PatientFeatures)
    models: PatientModels = field(default_factory=PatientModels)
    last_emitted_ms: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "watermark_ms": self.watermark_ms,
            "uploads": list(self.recent_uploads.items()),
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
        st.recent_uploads = {str(k): str(v) for k, v in doc["uploads"]}
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
    upload: Upload  # its columns: the samples kept (not late)
    duplicate: bool = False  # the same upload again: nothing to do
    conflict: bool = False  # the same upload id with other content: refused, the first stays
    issues: list[Issue] = field(default_factory=list)
    minutes: list[Minute] = field(default_factory=list)  # minutes that closed
    days: list[Day] = field(default_factory=list)  # days that closed
    findings: list[Finding] = field(default_factory=list)
    quality: Quality | None = None
    baseline: tuple[int, float, float] | None = None  # (t_ms, resting HR, sd)
    beats: BeatBlock | None = None  # the in-order beats, and the rhythm decision at each
    beat_irregular: BoolArray | None = None


def _identity(state: PatientState, upload: Upload, result: Result) -> bool:
    """Record the upload's identity; False when it was seen before (duplicate or conflict)."""
    key = f"{upload.device_id}/{upload.upload_id}"
    digest = upload.columns.digest()
    seen = state.recent_uploads.get(key)
    if seen is not None:
        result.duplicate = seen == digest
        result.conflict = seen != digest
        return False
    state.recent_uploads[key] = digest
    while len(state.recent_uploads) > RECENT_UPLOADS:
        del state.recent_uploads[next(iter(state.recent_uploads))]
    return True


def _drop_late(state: PatientState, upload: Upload, max_lateness_ms: int,
               issues: list[Issue]) -> None:
    late_before_ms = state.watermark_ms - max_lateness_ms
    late = upload.columns.t_ms < late_before_ms
    if not late.any():
        return
    for index in np.flatnonzero(late).tolist():
        age_s = (state.watermark_ms - int(upload.columns.t_ms[index])) / 1000
        issues.append(Issue(
            f"samples[{index}].t_ms", "late_sample",
            f"{age_s:.0f} s older than the patient's newest sample (lateness bound "
            f"{max_lateness_ms / 1000:.0f} s)",
        ))
    upload.columns = upload.columns.take(~late)


@dataclass(slots=True)
class Job:
    """One upload for ``process_many``, with its patient's state and settings."""

    state: PatientState
    upload: Upload
    max_lateness_ms: int
    issues: list[Issue] = field(default_factory=list)
    timezone: str = "UTC"


def process(state: PatientState, upload: Upload, max_lateness_ms: int,
            issues: list[Issue] | None = None, timezone: str = "UTC") -> Result:
    """Run one validated upload through identity, lateness, features and detectors; mutate
    ``state``. ``timezone`` (IANA) is the patient's: hour of day and nights are local.

    >>> from wearmon.stream.core.schema import Columns, Sample
    >>> st = PatientState()
    >>> up = Upload("u1", "d1", "p-0001", 0, 0, Columns.from_samples(
    ...     [Sample(t_ms=t, hr_bpm=150, steps=0) for t in range(0, 35_000, 5_000)]))
    >>> [f.kind for f in process(st, up, 3_600_000).findings]
    ['tachycardia_at_rest']
    >>> process(st, up, 3_600_000).duplicate
    True
    """
    return process_many([Job(state, upload, max_lateness_ms, list(issues or ()), timezone)])[0]


def process_many(jobs: Sequence[Job]) -> list[Result]:
    """``process`` for many uploads at once, with the same results as one after the other.

    The uploads are taken in rounds of distinct patients (a patient's second upload of the
    batch goes in the next round, after its first has moved the state on); within a round the
    features and the sample detectors run over all the uploads' arrays together.
    """
    results: list[Result] = [Result(upload=job.upload, issues=list(job.issues)) for job in jobs]
    for round_ in _rounds(jobs):
        ready = [i for i in round_ if _admit(jobs[i], results[i])]
        if ready:
            _analyse([jobs[i] for i in ready], [results[i] for i in ready])
    return results


def _rounds(jobs: Sequence[Job]) -> list[list[int]]:
    """Indices of ``jobs`` in rounds in which no patient (state) appears twice."""
    rounds: list[list[int]] = []
    seen: dict[int, int] = {}  # state → how many rounds it is in already
    for index, job in enumerate(jobs):
        turn = seen.get(id(job.state), 0)
        seen[id(job.state)] = turn + 1
        if turn == len(rounds):
            rounds.append([])
        rounds[turn].append(index)
    return rounds


def _admit(job: Job, result: Result) -> bool:
    """Identity and lateness; True when samples are left to analyse."""
    if not _identity(job.state, job.upload, result):
        return False
    _drop_late(job.state, job.upload, job.max_lateness_ms, result.issues)
    return len(job.upload.columns) > 0


def _analyse(jobs: Sequence[Job], results: Sequence[Result]) -> None:
    """Features and detectors for uploads of distinct patients, together."""
    offsets = [utc_offset_ms(job.timezone, int(job.upload.columns.t_ms[-1])) for job in jobs]
    batch = update_many([job.state.features for job in jobs],
                        [job.upload.columns for job in jobs], offsets)
    sample_findings = PatientModels.score_many([job.state.models for job in jobs], batch.block,
                                               batch.starts)
    for k, (job, result) in enumerate(zip(jobs, results, strict=True)):
        state, models, feats = job.state, job.state.models, batch.uploads[k]
        found = sample_findings[k]
        if len(feats.beats):
            beat_findings, result.beat_irregular = models.score_beats(feats.beats)
            result.beats = feats.beats
            found += beat_findings
        for minute in feats.minutes:
            found += models.observe_minute(minute)
        for day in feats.days:
            found += models.observe_day(day)
        result.findings = [f for f in sorted(found, key=lambda f: f.t_ms) if _due(state, f)]
        result.minutes, result.days = feats.minutes, feats.days
        _summarise(job, result)


def _summarise(job: Job, result: Result) -> None:
    """Watermark, baseline and the upload's data-quality record."""
    columns = job.upload.columns
    last_ms = int(columns.t_ms[-1])
    state = job.state
    state.watermark_ms = max(state.watermark_ms, last_ms)
    baseline = state.models.baseline()
    if baseline is not None:
        result.baseline = (last_ms, *baseline)
    worn = int(np.count_nonzero(~np.isnan(columns.hr_bpm)))
    status = Status.OK
    if result.findings:
        status = Status.ATTENTION
    elif worn == 0:
        status = Status.CANT_ASSESS
    result.quality = Quality(
        t_ms=last_ms,
        samples=len(columns),
        worn_samples=worn,
        dropped=len(result.issues),
        sync_lag_s=max(0.0, (job.upload.received_ms - last_ms) / 1000),
        battery_pct=job.upload.battery_pct,
        status=status,
    )


def _due(state: PatientState, finding: Finding) -> bool:
    """One finding per detector and kind per minute of event time while it persists."""
    key = f"{finding.detector}:{finding.kind}"
    last = state.last_emitted_ms.get(key)
    if last is not None and finding.t_ms - last < FINDING_REPEAT_MS:
        return False
    state.last_emitted_ms[key] = finding.t_ms
    return True
