"""covid-daily: published per-day values of people around a self-reported symptom onset.

API::

    covid_daily_people(data_dir) -> list[str]           # "covid-2KE5J9MZDQ", ..., sorted
    load_covid_daily(data_dir, person) -> DailySeries   # one row per day, day 0 = onset

Not sample data: each row is one day's fitted values (day from symptom onset, daily baseline
heart rate, steps, 5-minute bins with heart rate), the input of the daily decision logic. Days
without a row are absent.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from wearmon.stream.datasets.files import DataNotFoundError, open_text, require
from wearmon.stream.datasets.series import FloatArray, IntArray, patient_id

COVID_DAILY_DIR = Path("covid-daily")
BIN_MINUTES: Final = 5  # ``data_points`` counts 5-minute bins with heart rate


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


def covid_daily_people(data_dir: str | Path) -> list[str]:
    """Ids of the covid-daily people (``covid-<id>``), sorted."""
    folder = require(Path(data_dir) / COVID_DAILY_DIR)
    ids = [patient_id("covid", p.stem) for p in folder.glob("*.csv") if p.stem != "people"]
    if not ids:
        raise DataNotFoundError(f"no covid-daily people found under {folder}")
    return sorted(ids)


def load_covid_daily(data_dir: str | Path, person: str) -> DailySeries:
    """One covid-daily person's days (``"covid-<id>"`` or ``"<id>"``), in day order."""
    source_id = person.removeprefix("covid-")
    path = require(Path(data_dir) / COVID_DAILY_DIR / f"{source_id}.csv")
    with open_text(path) as fh:
        rows = list(csv.DictReader(fh))
    rows.sort(key=lambda r: int(r["day_from_onset"]))
    return DailySeries(
        person=patient_id("covid", source_id),
        source=rows[0]["source"] if rows else "",
        day=np.array([int(r["day_from_onset"]) for r in rows], dtype=np.int64),
        rest_hr_bpm=np.array([float(r["baseline_hr_bpm"]) for r in rows], dtype=np.float64),
        steps=np.array([round(float(r["steps_per_day"])) for r in rows], dtype=np.int64),
        hr_minutes=BIN_MINUTES * np.array([int(r["data_points"]) for r in rows], dtype=np.int64),
    )
