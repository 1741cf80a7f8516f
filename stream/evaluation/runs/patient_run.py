"""Replay one patient's data through the stream's own ``process()``, upload by upload.

The samples are cut into uploads of ``UPLOAD_MS`` of event time (as a phone gateway would send
them) and each goes through ``core.pipeline.process``: the very function the worker runs, with
the same features, minute and day accumulator, detectors and out-of-order rule; a detector only
ever sees the past (no look-ahead). Alongside the findings a coarse trace is kept for the
report's plots (one point per ``bucket_ms``: mean heart rate, personal baselines; one per day:
the night's resting heart rate) and, when beat intervals are present, the rhythm decision at
every beat (for time-based sensitivity and specificity).

Findings become **alerts** the way a care team would see them: consecutive warning or critical
findings of the same detector and kind, less than ``ALERT_GAP_MS`` apart, are one alert.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from wearmon.models.base import Day, Finding, Minute, Severity
from wearmon.stream.core.pipeline import DEFAULT_MAX_LATENESS_MS, PatientState, Result, process
from wearmon.stream.core.schema import Columns, Upload

ALERT_GAP_MS = 60 * 60_000
DAY_MS = 86_400_000
UPLOAD_MS = 60_000  # event time per replayed upload


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
    """Per-bucket points for plots (None where nothing was known)."""

    t_ms: list[int] = field(default_factory=list)
    hr_bpm: list[float | None] = field(default_factory=list)
    spo2_pct: list[float | None] = field(default_factory=list)
    baseline_bpm: list[float | None] = field(default_factory=list)
    slow_baseline_bpm: list[float | None] = field(default_factory=list)
    daily_t_ms: list[int] = field(default_factory=list)
    daily_rest_bpm: list[float] = field(default_factory=list)
    nrmssd_t_ms: list[int] = field(default_factory=list)
    nrmssd: list[float] = field(default_factory=list)


@dataclass(slots=True)
class RhythmTrace:
    """Per beat: time, its interval (ms) and whether the rhythm detector says irregular."""

    t_ms: list[int] = field(default_factory=list)
    span_ms: list[int] = field(default_factory=list)
    irregular: list[bool] = field(default_factory=list)


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
    days: list[Day] = field(default_factory=list)  # the closed monitoring days, in order
    trace: Trace = field(default_factory=Trace)
    rhythm: RhythmTrace = field(default_factory=RhythmTrace)
    state_bytes: int = 0
    seconds: float = 0.0
    minutes: list[Minute] | None = None  # the closed minutes, when asked for (candidates)

    @property
    def monitored_days(self) -> float:
        return self.worn_minutes / 1440

    @property
    def sample_interval_s(self) -> float:
        """Typical seconds between heart-rate samples while worn (device sampling rate)."""
        return self.worn_minutes * 60 / self.hr_samples if self.hr_samples else float("nan")


@dataclass(slots=True)
class _Buckets:
    """Hourly (``bucket_ms``) heart-rate means from the closed minutes."""

    bucket_ms: int
    current: int = -1
    hr_sum: float = 0.0
    hr_n: int = 0
    spo2_sum: float = 0.0
    spo2_n: int = 0

    def add(self, run: PatientRun, result: Result, state: PatientState) -> None:
        for m in result.minutes:
            b = m.start_ms // self.bucket_ms
            if b != self.current:
                self.flush(run, state)
                self.current = b
            if m.hr_mean_bpm is not None:
                self.hr_sum += m.hr_mean_bpm * m.hr_samples
                self.hr_n += m.hr_samples
            if m.spo2_mean_pct is not None:
                self.spo2_sum += m.spo2_mean_pct * m.spo2_samples
                self.spo2_n += m.spo2_samples

    def flush(self, run: PatientRun, state: PatientState) -> None:
        if self.current < 0:
            return
        trace = run.trace
        base = state.models.baseline()
        trace.t_ms.append(self.current * self.bucket_ms)
        trace.hr_bpm.append(self.hr_sum / self.hr_n if self.hr_n else None)
        trace.spo2_pct.append(self.spo2_sum / self.spo2_n if self.spo2_n else None)
        trace.baseline_bpm.append(base[0] if base else None)
        trace.slow_baseline_bpm.append(state.models.slow.baseline())
        self.hr_sum, self.hr_n, self.spo2_sum, self.spo2_n = 0.0, 0, 0.0, 0


def _record(run: PatientRun, result: Result, state: PatientState) -> None:
    run.findings.extend(result.findings)
    if run.minutes is not None:
        run.minutes.extend(result.minutes)
    for m in result.minutes:
        if m.worn:
            run.worn_minutes += 1
            run.worn_days.add(m.start_ms // DAY_MS)
        run.hr_samples += m.hr_samples
    run.days.extend(result.days)
    for day in result.days:
        if day.rest_hr_bpm is not None:
            run.trace.daily_t_ms.append(day.end_ms)
            run.trace.daily_rest_bpm.append(day.rest_hr_bpm)
    if result.beats is not None and result.beat_irregular is not None:
        run.rhythm.t_ms.extend(result.beats.t_ms.tolist())
        run.rhythm.span_ms.extend(result.beats.rr_ms.tolist())
        run.rhythm.irregular.extend(result.beat_irregular.tolist())
        run.trace.nrmssd_t_ms.append(int(result.beats.t_ms[-1]))
        run.trace.nrmssd.append(state.models.rhythm.last_nrmssd)


def replay_patient(
    patient: str,
    columns: Columns,
    *,
    state: PatientState | None = None,
    bucket_ms: int = 3_600_000,
    upload_ms: int = UPLOAD_MS,
    timezone: str = "UTC",
    on_samples: Callable[[int], None] | None = None,
    keep_minutes: bool = False,
) -> PatientRun:
    """Run a patient's samples (time order) through ``process()`` upload by upload.

    >>> from wearmon.stream.core.schema import Sample
    >>> run = replay_patient("p-0001", Columns.from_samples(
    ...     [Sample(t_ms=i * 5_000, hr_bpm=150, steps=0) for i in range(7)]))
    >>> [f.kind for f in run.findings], run.samples
    (['tachycardia_at_rest'], 7)
    >>> [a.kind for a in alerts_of(run.findings)]
    ['tachycardia_at_rest']
    """
    started = time.perf_counter()
    state = state if state is not None else PatientState()
    run = PatientRun(patient, minutes=[] if keep_minutes else None)
    buckets = _Buckets(bucket_ms)
    for n, part in enumerate(columns.split(upload_ms)):
        last_ms = int(part.t_ms[-1])
        upload = Upload(f"replay-{n}", "replay", patient, last_ms, last_ms, part)
        result = process(state, upload, DEFAULT_MAX_LATENESS_MS, timezone=timezone)
        _record(run, result, state)
        buckets.add(run, result, state)
        run.samples += len(part)
        if on_samples is not None:
            on_samples(len(part))
    tail = Result(upload=Upload("end", "replay", patient, 0, 0, Columns.empty()),
                  minutes=state.features.close_all())
    _record(run, tail, state)
    buckets.add(run, tail, state)
    buckets.flush(run, state)
    if len(columns):
        run.first_t_ms, run.last_t_ms = int(columns.t_ms[0]), int(columns.t_ms[-1])
    run.state_bytes = len(orjson.dumps(state.models.to_state()))
    run.seconds = time.perf_counter() - started
    return run


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

    >>> from wearmon.models.base import Day, Finding, Severity
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
