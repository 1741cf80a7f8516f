"""PhysioNet RR records: AFDB (atrial fibrillation, with rhythm episodes) and NSR (sinus rhythm).

API::

    afdb_patients(root) -> list[str]    nsr_patients(root) -> list[str]     # unsorted
    load_afdb(root, patient, record, limit) -> PatientSeries                # RR-only samples
    load_nsr(root, patient, record, limit) -> PatientSeries
    afdb_episodes(data_dir, record) -> list[RhythmEpisode]  # record "04015" or "afdb-04015"

Records have no clock time; they start at ``AFDB_ORIGIN_MS`` (2000-01-01 UTC). Beats are grouped
into 5-second windows: one RR-only sample at each window start holds the intervals of the beats
in ``[t_ms, t_ms + 5 s)``.

- ``afdb``: beat times come from the QRS annotations (250 Hz sample numbers). The first row of a
  file (an "interval" measured from the record start, not from a beat) is skipped.
  ``afdb_episodes`` uses the same time base.
- ``nsr``: the same windows from the same origin plus the record's ``first_beat_offset_s``
  (``records.csv``); beat times are the cumulative sum of the intervals. Recording gaps are
  single long "intervals" (up to 202 s): ``plausible_only`` drops them (outside ``RR_RANGE``),
  so that time holds no beats and is not monitored.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from wearmon.stream.datasets.files import open_text, require
from wearmon.stream.datasets.series import (
    FloatArray,
    IntArray,
    PatientSeries,
    patient_id,
    series_from_parts,
)

AFDB_ORIGIN_MS: Final = 946_684_800_000  # 2000-01-01T00:00:00Z
AFDB_WINDOW_MS: Final = 5_000
AFDB_SAMPLE_HZ: Final = 250
AFDB_DIR = Path("afdb-rr")
AFDB_EPISODES = AFDB_DIR / "rhythm_episodes.csv"
NSR_DIR = Path("nsr-rr")


@dataclass(frozen=True, slots=True)
class RhythmEpisode:
    """One rhythm episode of an AFDB record, in the samples' time base (ms)."""

    patient: str  # "afdb-<record>"
    rhythm: str  # N | AFIB | AFL | J
    start_ms: int
    end_ms: int


def afdb_patients(root: Path) -> list[str]:
    """Ids of the records with a ``qrs<record>.txt.gz`` file."""
    files = require(root / AFDB_DIR).glob("qrs*.txt.gz")
    return [patient_id("afdb", p.name.removeprefix("qrs").split(".")[0]) for p in files]


def nsr_patients(root: Path) -> list[str]:
    """Ids of the records with an ``nsr<record>.rr.txt.gz`` file."""
    files = require(root / NSR_DIR).glob("nsr*.rr.txt.gz")
    return [patient_id("nsr", p.name.removeprefix("nsr").split(".")[0]) for p in files]


def load_afdb(root: Path, patient: str, record: str, limit: int | None) -> PatientSeries:
    """One AFDB record's beats in 5-second windows (see the module docstring)."""
    path = require(root / AFDB_DIR / f"qrs{record}.txt.gz")
    with gzip.open(path, "rt") as fh:
        beats = np.loadtxt(fh, dtype=np.int64, usecols=(0, 2), max_rows=limit, ndmin=2)
    if len(beats) and beats[0, 0] == 0:
        beats = beats[1:]  # interval from the record start, not from a beat
    previous, current = beats[:, 0], beats[:, 1]
    rr_ms = np.rint((current - previous) * 1000 / AFDB_SAMPLE_HZ)
    beat_ms = np.rint(current * 1000 / AFDB_SAMPLE_HZ).astype(np.int64)
    return _beat_windows(patient, beat_ms, rr_ms)


def load_nsr(root: Path, patient: str, record: str, limit: int | None) -> PatientSeries:
    """One NSR record's beats in 5-second windows, from its first-beat offset."""
    folder = require(root / NSR_DIR)
    path = require(folder / f"nsr{record}.rr.txt.gz")
    with gzip.open(path, "rt") as fh:
        rr_s = np.loadtxt(fh, dtype=np.float64, max_rows=limit, ndmin=1)
    offset_s = _nsr_offsets_s(folder).get(f"nsr{record}", 0.0)
    rr_ms = np.rint(rr_s * 1000)
    beat_ms = np.rint(offset_s * 1000 + np.cumsum(rr_s) * 1000).astype(np.int64)
    return _beat_windows(patient, beat_ms, rr_ms)


def afdb_episodes(data_dir: str | Path, record: str) -> list[RhythmEpisode]:
    """Rhythm episodes of one AFDB record (``"04015"`` or ``"afdb-04015"``), by start time."""
    record = record.removeprefix("afdb-")
    path = require(Path(data_dir) / AFDB_EPISODES)
    with open_text(path) as fh:
        episodes = [
            RhythmEpisode(
                patient=patient_id("afdb", record),
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


def _nsr_offsets_s(folder: Path) -> dict[str, float]:
    path = folder / "records.csv"
    if not path.exists():
        return {}
    with open_text(path) as fh:
        return {r["record"]: float(r["first_beat_offset_s"]) for r in csv.DictReader(fh)}


def _beat_windows(patient: str, beat_ms: IntArray, rr_ms: FloatArray) -> PatientSeries:
    """RR-only samples, one per ``AFDB_WINDOW_MS`` window from ``AFDB_ORIGIN_MS``."""
    window_ms = AFDB_ORIGIN_MS + beat_ms // AFDB_WINDOW_MS * AFDB_WINDOW_MS
    return series_from_parts(patient, rr=(window_ms, rr_ms))
