"""Stanford COVID-19 wearables (Fitbit exports): per-user heart rate and step CSVs, and events.

API::

    stanford_patients(root) -> list[str]           # "stanford-A0NVTRV", ... (unsorted)
    load_stanford(root, patient, user, limit) -> PatientSeries
    stanford_events(data_dir) -> list[StanfordEvent]

Users with heart rate or steps are listed (8 of the 16 have steps only). Per-minute steps sit on
a sample at the minute start (the time in the steps file), merged into the heart-rate sample at
that exact time when there is one, else a steps-only sample. This keeps every value at its own
time and puts the steps in the minute they were counted in (the worker buckets steps by minute
start). Event dates are the data files' own (per-user shifted) dates, on the samples' time base.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from wearmon.stream.datasets.files import (
    DataNotFoundError,
    open_text,
    open_zipped_csv,
    read_table,
    require,
)
from wearmon.stream.datasets.series import PatientSeries, patient_id, series_from_parts

STANFORD_RAW = Path("stanford-covid-wearables/raw")
STANFORD_EVENTS = Path("stanford-covid-wearables/labels/events_data_frame.csv")


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


def stanford_patients(root: Path) -> list[str]:
    """Ids of the users with a heart-rate or a steps file."""
    raw = require(root / STANFORD_RAW)
    names = [p.name for p in raw.glob("*_*.csv.zip")]
    users = {n.split("_", 1)[0] for n in names if n.endswith(("_hr.csv.zip", "_steps.csv.zip"))}
    return [patient_id("stanford", u) for u in users]


def load_stanford(root: Path, patient: str, user: str, limit: int | None) -> PatientSeries:
    """One user's heart rate and steps, merged (see the module docstring)."""
    raw = require(root / STANFORD_RAW)
    hr_path, steps_path = raw / f"{user}_hr.csv.zip", raw / f"{user}_steps.csv.zip"
    if not hr_path.exists() and not steps_path.exists():
        raise DataNotFoundError(f"neither {hr_path} nor {steps_path} exists")
    hr = steps = None
    if hr_path.exists():
        with open_zipped_csv(hr_path) as fh:
            t_ms, (values,) = read_table(fh, hr_path, "datetime", ("heartrate",), limit)
        hr = (t_ms, values)
    if steps_path.exists():
        with open_zipped_csv(steps_path) as fh:
            t_ms, (values,) = read_table(fh, steps_path, "datetime", ("steps",), limit)
        steps = (t_ms, values)
    return series_from_parts(patient, hr=hr, steps=steps)


def stanford_events(data_dir: str | Path) -> list[StanfordEvent]:
    """The Stanford illness events (onsets, diagnoses, recoveries, episodes), file order."""
    path = require(Path(data_dir) / STANFORD_EVENTS)
    with open_text(path) as fh:
        return [
            StanfordEvent(
                patient=patient_id("stanford", row["user"]),
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


def _date_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
