"""Readers for the public wearable datasets (``../shared/data``, see its README.md).

API::

    DATASETS = ("stanford", "mmash", "fitabase", "afdb", "nsr")
    list_patients(dataset, data_dir) -> list[str]
    iter_samples(dataset, data_dir, patient, *, limit=None, plausible_only=False)
        -> Iterator[Sample]
    load_patient(dataset, data_dir, patient, *, limit=None, plausible_only=False)
        -> PatientSeries                                       # the same, as numpy columns
    stanford_events(data_dir) -> list[StanfordEvent]
    afdb_episodes(data_dir, record) -> list[RhythmEpisode]     # record "04015" or "afdb-04015"
    covid_daily_people(data_dir) -> list[str]                   # "covid-2KE5J9MZDQ", ...
    load_covid_daily(data_dir, person) -> DailySeries           # one row per day, day 0 = onset

Every reader takes the data directory as an argument and raises ``DataNotFoundError`` (a
``FileNotFoundError``) naming the missing path. One patient is read at a time into numpy columns
(``PatientSeries``, 32 bytes per sample), then handed out as ``stream.core.schema.Sample`` objects.

Conventions, the same for every dataset:

- Patient ids are pseudonyms that match the contract: ``stanford-A0NVTRV``, ``mmash-01``,
  ``fitabase-2022484408``, ``afdb-04015``, ``nsr-001``, ``covid-2KE5J9MZDQ``. ``stanford`` lists
  users with heart rate or steps (8 of the 16 have steps only).
- Times are integer ms since the epoch. The files hold *local naive* times (with per-user shifted
  dates); they are read as if they were UTC, so the UTC hour of a sample is the wearer's local
  hour (what night-time rules need). A DST change shows up as a one-hour gap or a repeated hour.
- Samples are sorted by time and times are strictly increasing: some files are not in order or
  repeat a time (a repeated DST hour, overlapping exports); of equal times the first row in the
  file wins.
- ``stanford``: per-minute steps sit on a sample at the minute start (the time in the steps
  file), merged into the heart-rate sample at that exact time when there is one, else a
  steps-only sample. This keeps every value at its own time and puts the steps in the minute
  they were counted in (the worker buckets steps by minute start).
- ``mmash``: one sample per second of ``actigraph`` (HR, steps); each beat of ``heartbeats``
  (time stamped to the second) adds its interval to ``rr_ms`` of the sample of that second,
  creating an RR-only sample when actigraph has no row then.
- ``afdb``: records have no clock time; they start at ``AFDB_ORIGIN_MS`` (2000-01-01 UTC). Beats
  are grouped into 5-second windows: one RR-only sample at each window start holds the intervals
  of the beats in ``[t_ms, t_ms + 5 s)``. The first row of a file (an "interval" measured from the
  record start, not from a beat) is skipped. ``afdb_episodes`` uses the same time base.
- ``nsr``: the same 5-second windows of RR-only samples from the same origin plus the record's
  ``first_beat_offset_s`` (``records.csv``); beat times are the cumulative sum of the intervals.
  Recording gaps are single long "intervals" (up to 202 s): ``plausible_only`` drops them
  (outside ``RR_RANGE``), so that time holds no beats and is not monitored.
- ``covid-daily`` is not sample data: ``load_covid_daily`` returns the published per-day values
  (``DailySeries``: day from symptom onset, daily baseline heart rate, steps, 5-minute bins with
  heart rate), the input of the daily decision logic. Days without a row are absent.
- Values are kept as they are in the files, artefacts included (HR 3 bpm, RR 61 s), so that a
  replay exercises the worker's validation. ``plausible_only=True`` drops values outside
  ``SAMPLE_RANGES`` / ``RR_RANGE`` (and samples left empty), for evaluation.
- ``limit`` reads only the first ``limit`` rows of each source file (for tests and quick looks).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import chain, islice
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from wearmon.stream.core.schema import (
    FLOAT_FIELDS,
    HR,
    PATIENT_ID_PATTERN,
    RR_RANGE,
    SAMPLE_RANGES,
    STEPS,
    Columns,
    Sample,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Part = tuple[IntArray, FloatArray]  # (t_ms, values) of one column read from a file

DATASETS: Final = ("stanford", "mmash", "fitabase", "afdb", "nsr")
DAY_MS: Final = 86_400_000
AFDB_ORIGIN_MS: Final = 946_684_800_000  # 2000-01-01T00:00:00Z
AFDB_WINDOW_MS: Final = 5_000
AFDB_SAMPLE_HZ: Final = 250
NO_STEPS: Final = -1  # ``PatientSeries.steps`` where a sample has no step count

STANFORD_RAW = Path("stanford-covid-wearables/raw")
STANFORD_EVENTS = Path("stanford-covid-wearables/labels/events_data_frame.csv")
MMASH_DIR = Path("mmash-excerpt/dataset")
FITABASE_FILE = Path("fitabase-hr/fitabase_hr_5s_5users.csv.gz")
AFDB_DIR = Path("afdb-rr")
AFDB_EPISODES = AFDB_DIR / "rhythm_episodes.csv"
NSR_DIR = Path("nsr-rr")
COVID_DAILY_DIR = Path("covid-daily")
BIN_MINUTES: Final = 5  # covid-daily: ``data_points`` counts 5-minute bins with heart rate

_CHUNK_ROWS = 50_000
_PATIENT_RE = re.compile(PATIENT_ID_PATTERN)


class DataNotFoundError(FileNotFoundError):
    """A dataset file or directory is missing; the message names the path."""


@dataclass(frozen=True, slots=True)
class PatientSeries:
    """One patient's samples as numpy columns, with strictly increasing ``t_ms``.

    ``hr_bpm`` is NaN and ``steps`` is ``NO_STEPS`` where absent. Sample ``i``'s RR intervals
    are ``rr_ms[rr_start[i]:rr_start[i + 1]]`` (``rr_start`` has ``len(self) + 1`` entries).
    """

    patient: str
    t_ms: IntArray
    hr_bpm: FloatArray
    steps: IntArray
    rr_ms: IntArray
    rr_start: IntArray

    def __len__(self) -> int:
        return len(self.t_ms)

    @property
    def first_t_ms(self) -> int:
        return int(self.t_ms[0])

    @property
    def last_t_ms(self) -> int:
        return int(self.t_ms[-1])

    def columns(self) -> Columns:
        """The samples as the stream's validated ``Columns`` (no SpO2, respiration, temperature
        in these datasets)."""
        values = np.full((len(FLOAT_FIELDS), len(self)), np.nan)
        values[HR] = self.hr_bpm
        values[STEPS] = np.where(self.steps == NO_STEPS, np.nan, self.steps)
        return Columns(self.t_ms.astype(np.int64), values, self.rr_ms.astype(np.int64),
                       np.diff(self.rr_start).astype(np.int64))

    def samples(self) -> Iterator[Sample]:
        """The samples in time order, converted a chunk at a time."""
        for lo in range(0, len(self), _CHUNK_ROWS):
            hi = min(lo + _CHUNK_ROWS, len(self))
            times = self.t_ms[lo:hi].tolist()
            hrs = self.hr_bpm[lo:hi].tolist()
            steps = self.steps[lo:hi].tolist()
            starts = self.rr_start[lo : hi + 1].tolist()
            base = starts[0]
            rrs = self.rr_ms[base : starts[-1]].tolist()
            for i, t_ms in enumerate(times):
                hr, step = hrs[i], steps[i]
                yield Sample(
                    t_ms=t_ms,
                    hr_bpm=None if hr != hr else hr,  # NaN != NaN
                    steps=None if step < 0 else step,
                    rr_ms=rrs[starts[i] - base : starts[i + 1] - base],
                )

    def select(self, keep: npt.NDArray[np.bool_]) -> PatientSeries:
        """The samples where ``keep`` is True (with their RR intervals)."""
        counts = np.diff(self.rr_start)
        return PatientSeries(
            self.patient,
            self.t_ms[keep],
            self.hr_bpm[keep],
            self.steps[keep],
            self.rr_ms[np.repeat(keep, counts)],
            _offsets(counts[keep]),
        )

    def first_days(self, days: float) -> PatientSeries:
        """The samples of the first ``days`` days, counted from the first sample."""
        if not len(self):
            return self
        return self.select(self.t_ms < self.first_t_ms + round(days * DAY_MS))

    def plausible(self) -> PatientSeries:
        """Drop values outside the contract's plausible ranges, then samples left empty."""
        hr, st = SAMPLE_RANGES["hr_bpm"], SAMPLE_RANGES["steps"]
        hr_ok = (self.hr_bpm >= hr.low) & (self.hr_bpm <= hr.high)
        steps_ok = (self.steps >= st.low) & (self.steps <= st.high)
        rr_ok = (self.rr_ms >= RR_RANGE.low) & (self.rr_ms <= RR_RANGE.high)
        owner = np.repeat(np.arange(len(self)), np.diff(self.rr_start))
        rr_counts = np.bincount(owner[rr_ok], minlength=len(self)).astype(np.int64)
        cleaned = PatientSeries(
            self.patient,
            self.t_ms,
            np.where(hr_ok, self.hr_bpm, np.nan),
            np.where(steps_ok, self.steps, NO_STEPS),
            self.rr_ms[rr_ok],
            _offsets(rr_counts),
        )
        return cleaned.select(hr_ok | steps_ok | (rr_counts > 0))


@dataclass(frozen=True, slots=True)
class StanfordEvent:
    """One row of ``labels/events_data_frame.csv``, in the data files' own (shifted) dates."""

    patient: str  # "stanford-<user>"
    event: str  # symptom_onset | covid_diagnosis | recovery | self_reported_illness_episode
    category: str  # "COVID-19", or "" for other illness
    start_date: date
    end_date: date | None
    inside_data_span: bool
    source: str
    detail: str

    @property
    def start_ms(self) -> int:
        """Midnight at the start of ``start_date``, in the samples' time base."""
        return _date_ms(self.start_date)

    @property
    def end_ms(self) -> int | None:
        """Midnight at the start of ``end_date`` (None without one), in the same time base."""
        return None if self.end_date is None else _date_ms(self.end_date)


@dataclass(frozen=True, slots=True)
class DailySeries:
    """One covid-daily person: one entry per day with a fitted row, in day order.

    ``day`` counts days from self-reported symptom onset (0 = onset); ``rest_hr_bpm`` is the
    day's fitted baseline heart rate (the resting-heart-rate analogue); ``hr_minutes`` the
    minutes of heart rate behind it (5-minute bins × 5).
    """

    person: str  # "covid-<id>"
    source: str  # IHS | Student
    day: IntArray
    rest_hr_bpm: FloatArray
    steps: IntArray
    hr_minutes: IntArray

    def __len__(self) -> int:
        return len(self.day)

    @property
    def covers_onset(self) -> bool:
        """The data span includes day 0 (the person counts as a symptom onset)."""
        return len(self) > 0 and int(self.day[0]) <= 0 <= int(self.day[-1])


@dataclass(frozen=True, slots=True)
class RhythmEpisode:
    """One rhythm episode of an AFDB record, in the samples' time base (ms)."""

    patient: str  # "afdb-<record>"
    rhythm: str  # N | AFIB | AFL | J
    start_ms: int
    end_ms: int


def list_patients(dataset: str, data_dir: str | Path) -> list[str]:
    """Pseudonymous ids of every patient of ``dataset`` found in ``data_dir``, sorted."""
    root = Path(data_dir)
    if dataset == "stanford":
        raw = _require(root / STANFORD_RAW)
        names = [p.name for p in raw.glob("*_*.csv.zip")]
        users = {n.split("_", 1)[0] for n in names if n.endswith(("_hr.csv.zip", "_steps.csv.zip"))}
        ids = [_patient_id("stanford", u) for u in users]
    elif dataset == "mmash":
        subjects = _require(root / MMASH_DIR).glob("subject_*")
        numbers = [p.name.removeprefix("subject_") for p in subjects if p.is_dir()]
        ids = [_patient_id("mmash", f"{int(n):02d}") for n in numbers if n.isdigit()]
    elif dataset == "fitabase":
        with _open_text(_require(root / FITABASE_FILE)) as fh:
            next(fh, None)
            users = {line.split(",", 1)[0] for line in fh if line.strip()}
        ids = [_patient_id("fitabase", u) for u in users]
    elif dataset == "afdb":
        files = _require(root / AFDB_DIR).glob("qrs*.txt.gz")
        ids = [_patient_id("afdb", p.name.removeprefix("qrs").split(".")[0]) for p in files]
    elif dataset == "nsr":
        files = _require(root / NSR_DIR).glob("nsr*.rr.txt.gz")
        ids = [_patient_id("nsr", p.name.removeprefix("nsr").split(".")[0]) for p in files]
    else:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if not ids:
        raise DataNotFoundError(f"no {dataset} patients found under {root}")
    return sorted(ids)


def load_patient(
    dataset: str,
    data_dir: str | Path,
    patient: str,
    *,
    limit: int | None = None,
    plausible_only: bool = False,
) -> PatientSeries:
    """All samples of one patient as columns (see ``iter_samples``)."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    source_id = patient.removeprefix(f"{dataset}-")
    if source_id == patient or not source_id:
        raise ValueError(f"patient {patient!r} is not a {dataset} id ('{dataset}-...')")
    root = Path(data_dir)
    if dataset == "stanford":
        series = _load_stanford(root, patient, source_id, limit)
    elif dataset == "mmash":
        series = _load_mmash(root, patient, source_id, limit)
    elif dataset == "fitabase":
        series = _load_fitabase(root, patient, source_id, limit)
    elif dataset == "nsr":
        series = _load_nsr(root, patient, source_id, limit)
    else:
        series = _load_afdb(root, patient, source_id, limit)
    return series.plausible() if plausible_only else series


def iter_samples(
    dataset: str,
    data_dir: str | Path,
    patient: str,
    *,
    limit: int | None = None,
    plausible_only: bool = False,
) -> Iterator[Sample]:
    """One patient's samples in strictly increasing time order."""
    yield from load_patient(
        dataset, data_dir, patient, limit=limit, plausible_only=plausible_only
    ).samples()


def stanford_events(data_dir: str | Path) -> list[StanfordEvent]:
    """The Stanford illness events (onsets, diagnoses, recoveries, episodes), file order."""
    path = _require(Path(data_dir) / STANFORD_EVENTS)
    with _open_text(path) as fh:
        return [
            StanfordEvent(
                patient=_patient_id("stanford", row["user"]),
                event=row["event"],
                category=row["category"],
                start_date=date.fromisoformat(row["date_data"]),
                end_date=date.fromisoformat(row["end_data"]) if row["end_data"] else None,
                inside_data_span=row["inside_data_span"] == "True",
                source=row["source"],
                detail=row["detail"],
            )
            for row in csv.DictReader(fh)
        ]


def afdb_episodes(data_dir: str | Path, record: str) -> list[RhythmEpisode]:
    """Rhythm episodes of one AFDB record (``"04015"`` or ``"afdb-04015"``), by start time."""
    record = record.removeprefix("afdb-")
    path = _require(Path(data_dir) / AFDB_EPISODES)
    with _open_text(path) as fh:
        episodes = [
            RhythmEpisode(
                patient=_patient_id("afdb", record),
                rhythm=row["rhythm"],
                start_ms=AFDB_ORIGIN_MS + round(float(row["start_s"]) * 1000),
                end_ms=AFDB_ORIGIN_MS + round(float(row["end_s"]) * 1000),
            )
            for row in csv.DictReader(fh)
            if row["record"] == record
        ]
    if not episodes:
        raise ValueError(f"no rhythm episodes for AFDB record {record!r} in {path}")
    return sorted(episodes, key=lambda e: e.start_ms)


def covid_daily_people(data_dir: str | Path) -> list[str]:
    """Ids of the covid-daily people (``covid-<id>``), sorted."""
    folder = _require(Path(data_dir) / COVID_DAILY_DIR)
    ids = [_patient_id("covid", p.stem) for p in folder.glob("*.csv") if p.stem != "people"]
    if not ids:
        raise DataNotFoundError(f"no covid-daily people found under {folder}")
    return sorted(ids)


def load_covid_daily(data_dir: str | Path, person: str) -> DailySeries:
    """One covid-daily person's days (``"covid-<id>"`` or ``"<id>"``), in day order."""
    source_id = person.removeprefix("covid-")
    path = _require(Path(data_dir) / COVID_DAILY_DIR / f"{source_id}.csv")
    with _open_text(path) as fh:
        rows = list(csv.DictReader(fh))
    rows.sort(key=lambda r: int(r["day_from_onset"]))
    return DailySeries(
        person=_patient_id("covid", source_id),
        source=rows[0]["source"] if rows else "",
        day=np.array([int(r["day_from_onset"]) for r in rows], dtype=np.int64),
        rest_hr_bpm=np.array([float(r["baseline_hr_bpm"]) for r in rows], dtype=np.float64),
        steps=np.array([round(float(r["steps_per_day"])) for r in rows], dtype=np.int64),
        hr_minutes=BIN_MINUTES * np.array([int(r["data_points"]) for r in rows], dtype=np.int64),
    )


# --- one loader per dataset -------------------------------------------------------------------


def _load_stanford(root: Path, patient: str, user: str, limit: int | None) -> PatientSeries:
    raw = _require(root / STANFORD_RAW)
    hr_path, steps_path = raw / f"{user}_hr.csv.zip", raw / f"{user}_steps.csv.zip"
    if not hr_path.exists() and not steps_path.exists():
        raise DataNotFoundError(f"neither {hr_path} nor {steps_path} exists")
    hr = steps = None
    if hr_path.exists():
        with _open_zipped_csv(hr_path) as fh:
            t_ms, (values,) = _read_table(fh, hr_path, "datetime", ("heartrate",), limit)
        hr = (t_ms, values)
    if steps_path.exists():
        with _open_zipped_csv(steps_path) as fh:
            t_ms, (values,) = _read_table(fh, steps_path, "datetime", ("steps",), limit)
        steps = (t_ms, values)
    return _series(patient, hr=hr, steps=steps)


def _load_mmash(root: Path, patient: str, subject: str, limit: int | None) -> PatientSeries:
    folder = _require(root / MMASH_DIR / f"subject_{int(subject)}")
    acti_path = _require(folder / "actigraph.txt.gz")
    with _open_text(acti_path) as fh:
        t_ms, (hr, steps) = _read_table(fh, acti_path, "Time", ("Heart rate (BPM)", "Steps"), limit)
    beats_path = _require(folder / "heartbeats.txt.gz")
    with _open_text(beats_path) as fh:
        beat_ms, (rr_s,) = _read_table(
            fh, beats_path, "Time", ("Interval between heartbeats (s)",), limit
        )
    return _series(patient, hr=(t_ms, hr), steps=(t_ms, steps), rr=(beat_ms, rr_s * 1000))


def _load_fitabase(root: Path, patient: str, user: str, limit: int | None) -> PatientSeries:
    path = _require(root / FITABASE_FILE)
    prefix = f"{user},"
    with _open_text(path) as fh:
        lines = chain([next(fh, "")], (line for line in fh if line.startswith(prefix)))
        t_ms, (hr,) = _read_table(lines, path, "time", ("hr",), limit)
    if not len(t_ms):
        raise ValueError(f"patient {patient!r} has no rows in {path}")
    return _series(patient, hr=(t_ms, hr))


def _load_afdb(root: Path, patient: str, record: str, limit: int | None) -> PatientSeries:
    path = _require(root / AFDB_DIR / f"qrs{record}.txt.gz")
    with gzip.open(path, "rt") as fh:
        beats = np.loadtxt(fh, dtype=np.int64, usecols=(0, 2), max_rows=limit, ndmin=2)
    if len(beats) and beats[0, 0] == 0:
        beats = beats[1:]  # interval from the record start, not from a beat
    previous, current = beats[:, 0], beats[:, 1]
    rr_ms = np.rint((current - previous) * 1000 / AFDB_SAMPLE_HZ)
    beat_ms = np.rint(current * 1000 / AFDB_SAMPLE_HZ).astype(np.int64)
    return _beat_windows(patient, beat_ms, rr_ms)


def _load_nsr(root: Path, patient: str, record: str, limit: int | None) -> PatientSeries:
    folder = _require(root / NSR_DIR)
    path = _require(folder / f"nsr{record}.rr.txt.gz")
    with gzip.open(path, "rt") as fh:
        rr_s = np.loadtxt(fh, dtype=np.float64, max_rows=limit, ndmin=1)
    offset_s = _nsr_offsets_s(folder).get(f"nsr{record}", 0.0)
    rr_ms = np.rint(rr_s * 1000)
    beat_ms = np.rint(offset_s * 1000 + np.cumsum(rr_s) * 1000).astype(np.int64)
    return _beat_windows(patient, beat_ms, rr_ms)


def _nsr_offsets_s(folder: Path) -> dict[str, float]:
    path = folder / "records.csv"
    if not path.exists():
        return {}
    with _open_text(path) as fh:
        return {r["record"]: float(r["first_beat_offset_s"]) for r in csv.DictReader(fh)}


def _beat_windows(patient: str, beat_ms: IntArray, rr_ms: FloatArray) -> PatientSeries:
    """RR-only samples, one per ``AFDB_WINDOW_MS`` window from ``AFDB_ORIGIN_MS``."""
    window_ms = AFDB_ORIGIN_MS + beat_ms // AFDB_WINDOW_MS * AFDB_WINDOW_MS
    return _series(patient, rr=(window_ms, rr_ms))


# --- helpers ----------------------------------------------------------------------------------


def _series(
    patient: str, *, hr: Part | None = None, steps: Part | None = None, rr: Part | None = None
) -> PatientSeries:
    """Merge columns read from files into one series with strictly increasing times."""
    hr_t, hr_v = _one_per_time(hr)
    steps_t, steps_v = _one_per_time(steps)
    rr_t, rr_v = _finite(rr)
    order = np.argsort(rr_t, kind="stable")  # keeps the beats of one time in file order
    rr_t, rr_v = rr_t[order], rr_v[order]
    t_ms = np.unique(np.concatenate([hr_t, steps_t, rr_t]))
    hr_bpm = np.full(len(t_ms), np.nan)
    hr_bpm[np.searchsorted(t_ms, hr_t)] = hr_v
    step_counts = np.full(len(t_ms), NO_STEPS, dtype=np.int64)
    step_counts[np.searchsorted(t_ms, steps_t)] = np.rint(steps_v).astype(np.int64)
    rr_start = np.append(np.searchsorted(rr_t, t_ms, side="left"), len(rr_t)).astype(np.int64)
    return PatientSeries(
        patient, t_ms, hr_bpm, step_counts, np.rint(rr_v).astype(np.int64), rr_start
    )


def _finite(part: Part | None) -> Part:
    if part is None:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    t_ms, values = part
    ok = np.isfinite(values)
    return t_ms[ok], values[ok]


def _one_per_time(part: Part | None) -> Part:
    """Sort by time; of equal times keep the first in file order."""
    t_ms, values = _finite(part)
    order = np.argsort(t_ms, kind="stable")
    t_ms, values = t_ms[order], values[order]
    first = np.ones(len(t_ms), dtype=bool)
    first[1:] = t_ms[1:] != t_ms[:-1]
    return t_ms[first], values[first]


def _offsets(counts: IntArray) -> IntArray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _read_table(
    lines: Iterable[str], path: Path, time_col: str, value_cols: Sequence[str], limit: int | None
) -> tuple[IntArray, list[FloatArray]]:
    """Read a CSV's time column (naive times read as UTC -> ms) and numeric value columns.

    Rows with an unreadable time are dropped; unreadable values become NaN.
    """
    reader = csv.reader(lines)
    header = next(reader, None) or []
    missing = [c for c in (time_col, *value_cols) if c not in header]
    if missing:
        raise ValueError(f"{path}: columns {missing} not found in header {header}")
    ti, vis = header.index(time_col), [header.index(c) for c in value_cols]
    width = max(ti, *vis)
    rows = islice(reader, limit) if limit is not None else reader
    times: list[IntArray] = []
    values: list[list[FloatArray]] = [[] for _ in value_cols]
    while chunk := [r for r in islice(rows, _CHUNK_ROWS) if len(r) > width]:
        t_ms = _times_ms([r[ti] for r in chunk])
        ok = t_ms != np.iinfo(np.int64).min  # NaT
        times.append(t_ms[ok])
        for acc, vi in zip(values, vis, strict=True):
            acc.append(_floats([r[vi] for r in chunk])[ok])
    if not times:
        return np.empty(0, dtype=np.int64), [np.empty(0) for _ in value_cols]
    return np.concatenate(times), [np.concatenate(acc) for acc in values]


def _times_ms(texts: list[str]) -> IntArray:
    try:
        stamps = np.array(texts, dtype="datetime64[ms]")
    except ValueError:
        stamps = np.array([_time_or_nat(t) for t in texts], dtype="datetime64[ms]")
    return stamps.astype(np.int64)


def _time_or_nat(text: str) -> np.datetime64:
    try:
        return np.datetime64(text.strip(), "ms")
    except ValueError:
        return np.datetime64("NaT", "ms")


def _floats(texts: list[str]) -> FloatArray:
    try:
        return np.array(texts, dtype=np.float64)
    except ValueError:
        return np.array([_float_or_nan(t) for t in texts], dtype=np.float64)


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _date_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _patient_id(dataset: str, source_id: str) -> str:
    patient = f"{dataset}-{source_id}"
    if not _PATIENT_RE.match(patient):
        raise ValueError(f"{patient!r} does not match the contract's patient id pattern")
    return patient


def _require(path: Path) -> Path:
    if not path.exists():
        raise DataNotFoundError(
            f"{path} not found: point WEARMON_DATA_DIR (or --data-dir) at the shared data directory"
        )
    return path


def _open_text(path: Path) -> io.TextIOWrapper:
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _open_zipped_csv(path: Path) -> io.TextIOWrapper:
    """The first CSV member of a zip archive, as text (the archive closes with it)."""
    archive = zipfile.ZipFile(path)
    members = [n for n in archive.namelist() if n.endswith(".csv")]
    if not members:
        archive.close()
        raise ValueError(f"{path}: no .csv file inside")
    member = archive.open(members[0])
    archive.close()  # the open member keeps the underlying file open until it is closed
    return io.TextIOWrapper(member, encoding="utf-8-sig", newline="")
