"""Fitabase: Fitbit heart rate every 5 seconds of five users, all in one gzipped CSV.

API::

    fitabase_patients(root) -> list[str]           # "fitabase-2022484408", ... (unsorted)
    load_fitabase(root, patient, user, limit) -> PatientSeries   # heart rate only

``limit`` counts the user's own rows (the file's other users are skipped first).
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path

from wearmon.stream.datasets.files import open_text, read_table, require
from wearmon.stream.datasets.series import PatientSeries, patient_id, series_from_parts

FITABASE_FILE = Path("fitabase-hr/fitabase_hr_5s_5users.csv.gz")


def fitabase_patients(root: Path) -> list[str]:
    """Ids of the users found in the file's first column."""
    with open_text(require(root / FITABASE_FILE)) as fh:
        next(fh, None)
        users = {line.split(",", 1)[0] for line in fh if line.strip()}
    return [patient_id("fitabase", u) for u in users]


def load_fitabase(root: Path, patient: str, user: str, limit: int | None) -> PatientSeries:
    """One user's heart-rate samples; a user without rows is a ``ValueError``."""
    path = require(root / FITABASE_FILE)
    prefix = f"{user},"
    with open_text(path) as fh:
        lines = chain([next(fh, "")], (line for line in fh if line.startswith(prefix)))
        t_ms, (hr,) = read_table(lines, path, "time", ("hr",), limit)
    if not len(t_ms):
        raise ValueError(f"patient {patient!r} has no rows in {path}")
    return series_from_parts(patient, hr=(t_ms, hr))
