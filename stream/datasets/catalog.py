"""Which sample datasets there are, and one entry for listing and loading any of them.

API::

    DATASETS = ("stanford", "mmash", "fitabase", "afdb", "nsr")
    list_patients(dataset, data_dir) -> list[str]                  # sorted
    load_patient(dataset, data_dir, patient, *, limit=None, plausible_only=False)
        -> PatientSeries
    iter_samples(dataset, data_dir, patient, *, limit=None, plausible_only=False)
        -> Iterator[Sample]                                        # the same, as Samples

``plausible_only=True`` drops values outside ``SAMPLE_RANGES`` / ``RR_RANGE`` (and samples left
empty), for evaluation; without it the values are as in the files, artefacts included, so that a
replay exercises the worker's validation. ``limit`` reads only the first ``limit`` rows of each
source file (for tests and quick looks). covid-daily holds daily values, not samples: it has its
own reader (``covid_daily``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from wearmon.stream.core.schema import Sample
from wearmon.stream.datasets.files import DataNotFoundError
from wearmon.stream.datasets.fitabase import fitabase_patients, load_fitabase
from wearmon.stream.datasets.mmash import load_mmash, mmash_patients
from wearmon.stream.datasets.physionet import afdb_patients, load_afdb, load_nsr, nsr_patients
from wearmon.stream.datasets.series import PatientSeries
from wearmon.stream.datasets.stanford import load_stanford, stanford_patients

#: ``(root, patient, source_id, limit)`` -> the patient's samples as read from the files
SeriesLoader = Callable[[Path, str, str, int | None], PatientSeries]

DATASETS: Final = ("stanford", "mmash", "fitabase", "afdb", "nsr")
LISTERS: Final[dict[str, Callable[[Path], list[str]]]] = {
    "stanford": stanford_patients,
    "mmash": mmash_patients,
    "fitabase": fitabase_patients,
    "afdb": afdb_patients,
    "nsr": nsr_patients,
}
LOADERS: Final[dict[str, SeriesLoader]] = {
    "stanford": load_stanford,
    "mmash": load_mmash,
    "fitabase": load_fitabase,
    "afdb": load_afdb,
    "nsr": load_nsr,
}


def list_patients(dataset: str, data_dir: str | Path) -> list[str]:
    """Pseudonymous ids of every patient of ``dataset`` found in ``data_dir``, sorted."""
    if dataset not in LISTERS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    root = Path(data_dir)
    ids = LISTERS[dataset](root)
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
    if dataset not in LOADERS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    source_id = patient.removeprefix(f"{dataset}-")
    if source_id == patient or not source_id:
        raise ValueError(f"patient {patient!r} is not a {dataset} id ('{dataset}-...')")
    series = LOADERS[dataset](Path(data_dir), patient, source_id, limit)
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
