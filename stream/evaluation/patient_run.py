"""Replay one patient's samples through the production feature and detector code.

The same ``PatientFeatures.update`` → ``PatientModels.observe`` sequence as ``core.pipeline``,
one sample at a time in event-time order: a detector only ever sees the past (no look-ahead).
Alongside the findings a coarse trace is kept for the report's plots (one point per
``bucket_ms``: mean heart rate, personal baselines) and, when beat intervals are present, the
rhythm detector's decision per sample (for time-based sensitivity and specificity).

Findings become **alerts** the way a care team would see them: consecutive warning or critical
findings of the same detector and kind, less than ``ALERT_GAP_MS`` apart, are one alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from wearmon.models.base import Finding, Severity
from wearmon.models.suite import PatientModels
from wearmon.stream.core.features import PatientFeatures
from wearmon.stream.core.schema import Sample

ALERT_GAP_MS = 60 * 60_000
DAY_MS = 86_400_000
CLOSE_EVERY = 512  # samples between rollup closes (bounded open minutes, as the stream does)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert episode: findings of one detector and kind close together in time."""

    detector: str
    kind: str
    severity: str
    start_ms: int
    end_ms: int
    findings: int
    explanation: str  # the first finding's explanation


@dataclass(slots=True)
class Trace:
    """Per-bucket points for plots (NaN-free lists; None where nothing was known)."""

    t_ms: list[int] = field(default_factory=list)
    hr_bpm: list[float | None] = field(default_factory=list)
    baseline_bpm: list[float | None] = field(default_factory=list)
    slow_baseline_bpm: list[float | None] = field(default_factory=list)
    daily_t_ms: list[int] = field(default_factory=list)
    daily_rest_bpm: list[float] = field(default_factory=list)


@dataclass(slots=True)
class RhythmTrace:
    """Per sample with beats: time, span (ms) and whether the rhythm detector says irregular."""

    t_ms: list[int] = field(default_factory=list)
    span_ms: list[int] = field(default_factory=list)
    irregular: list[bool] = field(default_factory=list)
    nrmssd: list[float] = field(default_factory=list)


@dataclass(slots=True)
class PatientRun:
    patient: str
    samples: int = 0
    first_t_ms: int = -1
    last_t_ms: int = -1
    worn_days: set[int] = field(default_factory=set)
    worn_minutes: int = 0
    hr_samples: int = 0
    findings: list[Finding] = field(default_factory=list)
    trace: Trace = field(default_factory=Trace)
    rhythm: RhythmTrace = field(default_factory=RhythmTrace)
    state_bytes: int = 0
    seconds: float = 0.0

    @property
    def monitored_days(self) -> float:
        return self.worn_minutes / 1440

    @property
    def sample_interval_s(self) -> float:
        """Typical seconds between heart-rate samples while worn (device sampling rate)."""
        return self.worn_minutes * 60 / self.hr_samples if self.hr_samples else float("nan")


def replay_patient(
    patient: str,
    samples: Iterable[Sample],
    *,
    models: PatientModels | None = None,
    bucket_ms: int = 3_600_000,
    on_sample: Callable[[int], None] | None = None,
) -> PatientRun:
    """Run ``samples`` (time order) through features and detectors; keep findings and a trace.

    >>> from wearmon.stream.core.schema import Sample
    >>> run = replay_patient("p-0001", [Sample(t_ms=i * 5_000, hr_bpm=150, steps=0)
    ...                                 for i in range(3)])
    >>> [f.kind for f in run.findings], run.samples
    (['tachycardia_at_rest', 'tachycardia_at_rest', 'tachycardia_at_rest'], 3)
    >>> [a.kind for a in alerts_of(run.findings)]
    ['tachycardia_at_rest']
    """
    import json
    import time

    started = time.perf_counter()
    features = PatientFeatures()
    models = models if models is not None else PatientModels()
    run = PatientRun(patient)
    trace, rhythm = run.trace, run.rhythm
    bucket = -1
    hr_sum, hr_n = 0.0, 0
    last_minute = -1
    slow_day = -1
    n = 0
    for s in samples:
        if s.t_ms <= features.last_t_ms:
            continue  # detectors only move forward, as in the stream
        ctx = features.update(s)
        found = models.observe(ctx)
        if found:
            run.findings.extend(found)
        n += 1
        if n % CLOSE_EVERY == 0:
            features.close_minutes()
            if on_sample is not None:
                on_sample(CLOSE_EVERY)
        if run.first_t_ms < 0:
            run.first_t_ms = s.t_ms
        run.last_t_ms = s.t_ms
        if ctx.worn:
            minute = s.t_ms // 60_000
            if minute != last_minute:
                run.worn_minutes += 1
                last_minute = minute
                run.worn_days.add(s.t_ms // DAY_MS)
        if s.rr_ms:
            rhythm.t_ms.append(s.t_ms)
            rhythm.span_ms.append(sum(s.rr_ms))
            rhythm.irregular.append(models.rhythm.irregular)
            rhythm.nrmssd.append(models.rhythm.last_nrmssd)
        if models.slow.day != slow_day:
            slow_day = models.slow.day
            if models.slow.last_value is not None and (
                not trace.daily_t_ms
                or trace.daily_rest_bpm[-1] != models.slow.last_value
                or trace.daily_t_ms[-1] != s.t_ms
            ):
                trace.daily_t_ms.append(s.t_ms)
                trace.daily_rest_bpm.append(models.slow.last_value)
        b = s.t_ms // bucket_ms
        if b != bucket:
            if bucket >= 0:
                _push(trace, bucket * bucket_ms, hr_sum, hr_n, models)
            bucket, hr_sum, hr_n = b, 0.0, 0
        if ctx.hr_bpm is not None:
            hr_sum += ctx.hr_bpm
            hr_n += 1
            run.hr_samples += 1
    if bucket >= 0:
        _push(trace, bucket * bucket_ms, hr_sum, hr_n, models)
    if on_sample is not None:
        on_sample(n % CLOSE_EVERY)
    features.close_minutes(force=True)
    run.samples = n
    run.state_bytes = len(json.dumps(models.to_state(), separators=(",", ":")))
    run.seconds = time.perf_counter() - started
    return run


def _push(trace: Trace, t_ms: int, hr_sum: float, hr_n: int, models: PatientModels) -> None:
    base = models.baseline()
    trace.t_ms.append(t_ms)
    trace.hr_bpm.append(hr_sum / hr_n if hr_n else None)
    trace.baseline_bpm.append(base[0] if base else None)
    trace.slow_baseline_bpm.append(models.slow.baseline())


@dataclass(slots=True)
class _Episode:
    detector: str
    kind: str
    severity: Severity
    start_ms: int
    end_ms: int
    findings: int
    explanation: str

    def close(self) -> Alert:
        return Alert(
            self.detector,
            self.kind,
            self.severity.value,
            self.start_ms,
            self.end_ms,
            self.findings,
            self.explanation,
        )


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def alerts_of(
    findings: Iterable[Finding],
    gap_ms: int = ALERT_GAP_MS,
    min_severity: Severity = Severity.WARNING,
) -> list[Alert]:
    """Group warning/critical findings into alert episodes per detector and kind.

    >>> from wearmon.models.base import Finding, Severity
    >>> f = [Finding("d", t, Severity.WARNING, 1.0, 1.0, None, "x", kind="k")
    ...      for t in (0, 60_000, 10 * 3_600_000)]
    >>> [(a.start_ms, a.end_ms, a.findings) for a in alerts_of(f)]
    [(0, 60000, 2), (36000000, 36000000, 1)]
    """
    floor = _RANK[min_severity]
    current: dict[tuple[str, str], _Episode] = {}
    done: list[Alert] = []
    for f in sorted(findings, key=lambda f: f.t_ms):
        if _RANK[f.severity] < floor:
            continue
        key = (f.detector, f.kind)
        ep = current.get(key)
        if ep is not None and f.t_ms - ep.end_ms <= gap_ms:
            ep.end_ms = f.t_ms
            ep.findings += 1
            if _RANK[f.severity] > _RANK[ep.severity]:
                ep.severity = f.severity
            continue
        if ep is not None:
            done.append(ep.close())
        current[key] = _Episode(f.detector, f.kind, f.severity, f.t_ms, f.t_ms, 1, f.explanation)
    done.extend(ep.close() for ep in current.values())
    return sorted(done, key=lambda a: (a.start_ms, a.detector))
