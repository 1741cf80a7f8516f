"""The public wearable datasets (``../shared/data``, see its README.md) and synthetic patients.

API (re-exported here; each lives in the module named in brackets)::

    DATASETS = ("stanford", "mmash", "fitabase", "afdb", "nsr")            [catalog]
    list_patients(dataset, data_dir) -> list[str]                          [catalog]
    load_patient(dataset, data_dir, patient, *, limit=None, plausible_only=False)
        -> PatientSeries                                                   [catalog]
    iter_samples(dataset, data_dir, patient, *, limit=None, plausible_only=False)
        -> Iterator[Sample]                                                [catalog]
    stanford_events(data_dir) -> list[StanfordEvent]                       [stanford]
    afdb_episodes(data_dir, record) -> list[RhythmEpisode]                 [physionet]
    covid_daily_people(data_dir) -> list[str]                              [covid_daily]
    load_covid_daily(data_dir, person) -> DailySeries                      [covid_daily]

The modules, each readable on its own:

* ``series`` — ``PatientSeries`` (one patient's samples as numpy columns, 32 bytes per sample)
  and the merge of columns read from files into one series;
* ``files`` — ``DataNotFoundError``, opening plain, gzipped and zipped CSVs, reading columns;
* ``stanford``, ``mmash``, ``fitabase``, ``physionet`` (afdb, nsr), ``covid_daily`` — one reader
  per source, each documenting how its files become samples;
* ``catalog`` — the list above and ``list_patients`` / ``load_patient`` for any of them;
* ``uploads`` — a dataset as contract-v1 uploads (``build_uploads``, pure), what
  ``wearmon replay`` sends and the evaluation's policy replay validates;
* ``simulator`` — seeded synthetic patients with labelled events, as contract-v1 uploads.

Conventions, the same for every dataset:

- Every reader takes the data directory as an argument and raises ``DataNotFoundError`` (a
  ``FileNotFoundError``) naming the missing path. One patient is read at a time.
- Patient ids are pseudonyms that match the contract: ``stanford-A0NVTRV``, ``mmash-01``,
  ``fitabase-2022484408``, ``afdb-04015``, ``nsr-001``, ``covid-2KE5J9MZDQ``.
- Times are integer ms since the epoch. The files hold *local naive* times (with per-user shifted
  dates); they are read as if they were UTC, so the UTC hour of a sample is the wearer's local
  hour (what night-time rules need). A DST change shows up as a one-hour gap or a repeated hour.
- Samples are sorted by time and times are strictly increasing: some files are not in order or
  repeat a time (a repeated DST hour, overlapping exports); of equal times the first row in the
  file wins.
- Values are kept as they are in the files, artefacts included (HR 3 bpm, RR 61 s), so that a
  replay exercises the worker's validation. ``plausible_only=True`` drops values outside
  ``SAMPLE_RANGES`` / ``RR_RANGE`` (and samples left empty), for evaluation.
- ``limit`` reads only the first ``limit`` rows of each source file (for tests and quick looks).

Nothing here imports ``wearmon.stream.tools`` (the demo, replay command and bench build on this
room, not the other way round).
"""

from wearmon.stream.datasets.catalog import DATASETS, iter_samples, list_patients, load_patient
from wearmon.stream.datasets.covid_daily import DailySeries, covid_daily_people, load_covid_daily
from wearmon.stream.datasets.files import DataNotFoundError
from wearmon.stream.datasets.mmash import MMASH_DIR
from wearmon.stream.datasets.physionet import (
    AFDB_ORIGIN_MS,
    AFDB_WINDOW_MS,
    RhythmEpisode,
    afdb_episodes,
)
from wearmon.stream.datasets.series import DAY_MS, NO_STEPS, PatientSeries
from wearmon.stream.datasets.stanford import STANFORD_RAW, StanfordEvent, stanford_events

__all__ = [
    "AFDB_ORIGIN_MS",
    "AFDB_WINDOW_MS",
    "DATASETS",
    "DAY_MS",
    "MMASH_DIR",
    "NO_STEPS",
    "STANFORD_RAW",
    "DailySeries",
    "DataNotFoundError",
    "PatientSeries",
    "RhythmEpisode",
    "StanfordEvent",
    "afdb_episodes",
    "covid_daily_people",
    "iter_samples",
    "list_patients",
    "load_covid_daily",
    "load_patient",
    "stanford_events",
]
