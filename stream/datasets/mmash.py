"""MMASH (excerpt): an ActiGraph's per-second heart rate and steps, and its beat-to-beat RR.

API::

    mmash_patients(root) -> list[str]              # "mmash-01", ... (unsorted)
    load_mmash(root, patient, subject, limit) -> PatientSeries
    MMASH_DIR                                      # also holds subject_info.txt (ages)

One sample per second of ``actigraph`` (HR, steps); each beat of ``heartbeats`` (time stamped to
the second) adds its interval to ``rr_ms`` of the sample of that second, creating an RR-only
sample when actigraph has no row then.
"""

from __future__ import annotations

from pathlib import Path

from wearmon.stream.datasets.files import open_text, read_table, require
from wearmon.stream.datasets.series import PatientSeries, patient_id, series_from_parts

MMASH_DIR = Path("mmash-excerpt/dataset")


def mmash_patients(root: Path) -> list[str]:
    """Ids of the ``subject_<n>`` folders, numbers written with two digits."""
    subjects = require(root / MMASH_DIR).glob("subject_*")
    numbers = [p.name.removeprefix("subject_") for p in subjects if p.is_dir()]
    return [patient_id("mmash", f"{int(n):02d}") for n in numbers if n.isdigit()]


def load_mmash(root: Path, patient: str, subject: str, limit: int | None) -> PatientSeries:
    """One subject's actigraph samples with the beats of each second (see the module docstring)."""
    folder = require(root / MMASH_DIR / f"subject_{int(subject)}")
    acti_path = require(folder / "actigraph.txt.gz")
    with open_text(acti_path) as fh:
        t_ms, (hr, steps) = read_table(fh, acti_path, "Time", ("Heart rate (BPM)", "Steps"), limit)
    beats_path = require(folder / "heartbeats.txt.gz")
    with open_text(beats_path) as fh:
        beat_ms, (rr_s,) = read_table(
            fh, beats_path, "Time", ("Interval between heartbeats (s)",), limit
        )
    return series_from_parts(patient, hr=(t_ms, hr), steps=(t_ms, steps),
                             rr=(beat_ms, rr_s * 1000))
