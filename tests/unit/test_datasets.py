"""Dataset readers: synthetic files for the documented rules, the real data (marker ``data``)."""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from tests.unit.datadir import DATA_DIR, require
from wearmon.stream import datasets
from wearmon.stream.core.schema import PATIENT_ID_PATTERN, RR_RANGE, SAMPLE_RANGES, Sample
from wearmon.stream.datasets import (
    AFDB_ORIGIN_MS,
    AFDB_WINDOW_MS,
    DATASETS,
    DataNotFoundError,
    PatientSeries,
    afdb_episodes,
    covid_daily_people,
    iter_samples,
    list_patients,
    load_covid_daily,
    load_patient,
    stanford_events,
)

KNOWN = {
    "stanford": ("stanford-A0NVTRV", 16),
    "mmash": ("mmash-01", 10),
    "fitabase": ("fitabase-2022484408", 5),
    "afdb": ("afdb-04015", 17),
    "nsr": ("nsr-001", 27),
}


def utc_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def data_dir() -> Path:
    return require(DATA_DIR)


def assert_well_formed(samples: list[Sample]) -> None:
    assert samples, "no samples"
    times = [s.t_ms for s in samples]
    assert all(isinstance(t, int) for t in times)
    assert all(b > a for a, b in pairwise(times)), "times not increasing"
    for s in samples:
        assert s.hr_bpm is not None or s.steps is not None or s.rr_ms, "empty sample"


# --- synthetic files: the documented merge and ordering rules --------------------------------


def write_zip(path: Path, header: str, rows: list[str]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(path.name.removesuffix(".zip"), "\n".join([header, *rows]) + "\n")


def test_stanford_merge_sort_and_duplicates(tmp_path: Path) -> None:
    raw = tmp_path / "stanford-covid-wearables" / "raw"
    raw.mkdir(parents=True)
    hr_rows = [
        "0,U1,2020-01-01 00:00:06,70",
        "1,U1,2020-01-01 00:01:00,72",
        "2,U1,2020-01-01 00:00:11,71",  # out of order
        "3,U1,2020-01-01 00:01:00,99",  # repeated time: the first row wins
        "4,U1,2020-01-01 00:01:05,",  # no value
        "5,U1,not a time,80",
    ]
    write_zip(raw / "AUSER01_hr.csv.zip", ",user,datetime,heartrate", hr_rows)
    steps_rows = ["0,U1,2020-01-01 00:00:00,5", "1,U1,2020-01-01 00:01:00,7"]
    write_zip(raw / "AUSER01_steps.csv.zip", ",user,datetime,steps", steps_rows)
    write_zip(raw / "AUSER02_steps.csv.zip", ",user,datetime,steps", steps_rows)

    assert list_patients("stanford", tmp_path) == ["stanford-AUSER01", "stanford-AUSER02"]
    got = [
        (s.t_ms - utc_ms("2020-01-01"), s.hr_bpm, s.steps)
        for s in iter_samples("stanford", tmp_path, "stanford-AUSER01")
    ]
    assert got == [
        (0, None, 5),  # steps-only sample at the minute start
        (6_000, 70.0, None),
        (11_000, 71.0, None),
        (60_000, 72.0, 7),  # steps merged into the HR sample at the same time
    ]
    steps_only = list(iter_samples("stanford", tmp_path, "stanford-AUSER02"))
    assert [(s.hr_bpm, s.steps) for s in steps_only] == [(None, 5), (None, 7)]


def test_mmash_beats_join_the_sample_of_their_second(tmp_path: Path) -> None:
    subject = tmp_path / "mmash-excerpt" / "dataset" / "subject_3"
    subject.mkdir(parents=True)
    (subject.parent / "subject_info.txt").write_text("Subject,Weight\n")
    with gzip.open(subject / "actigraph.txt.gz", "wt") as fh:
        fh.write(",Time,Heart rate (BPM),Steps,Inclinometer Off\n")
        fh.write("0,2022-07-22 10:00:00,60.0,1,0\n1,2022-07-22 10:00:01,3.0,0,0\n")
    with gzip.open(subject / "heartbeats.txt.gz", "wt") as fh:
        fh.write(",Time,Interval between heartbeats (s)\n")
        fh.write("0,2022-07-22 10:00:00,0.5\n1,2022-07-22 10:00:00,0.6\n")
        fh.write("2,2022-07-22 10:00:03,6.512\n")

    assert list_patients("mmash", tmp_path) == ["mmash-03"]
    raw = list(iter_samples("mmash", tmp_path, "mmash-03"))
    assert [(s.hr_bpm, s.steps, s.rr_ms) for s in raw] == [
        (60.0, 1, [500, 600]),
        (3.0, 0, []),  # an artefact, kept for replay
        (None, None, [6512]),  # a beat without an actigraph row
    ]
    clean = list(iter_samples("mmash", tmp_path, "mmash-03", plausible_only=True))
    assert [(s.hr_bpm, s.steps, s.rr_ms) for s in clean] == [(60.0, 1, [500, 600]), (None, 0, [])]


def test_afdb_windows_skip_the_record_start(tmp_path: Path) -> None:
    folder = tmp_path / "afdb-rr"
    folder.mkdir()
    rows = ["0\t0.244\t61", "61\t0.556\t200", "200\t0.632\t358", "358\t5.0\t1608"]
    with gzip.open(folder / "qrs99999.txt.gz", "wt") as fh:
        fh.write("\n".join(rows) + "\n")
    (folder / "rhythm_episodes.csv").write_text(
        "record,rhythm,start_sample,end_sample,start_s,end_s,duration_s\n"
        "99999,AFIB,1000,2000,4.0,8.0,4.0\n99999,N,30,1000,0.12,4.0,3.88\n"
    )
    samples = list(iter_samples("afdb", tmp_path, "afdb-99999"))
    assert [(s.t_ms - AFDB_ORIGIN_MS, s.rr_ms) for s in samples] == [
        (0, [556, 632]),
        (5000, [5000]),
    ]
    episodes = afdb_episodes(tmp_path, "afdb-99999")
    assert [(e.rhythm, e.start_ms - AFDB_ORIGIN_MS) for e in episodes] == [
        ("N", 120),
        ("AFIB", 4000),
    ]


def test_nsr_beats_from_the_offset_and_gaps_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "nsr-rr"
    folder.mkdir()
    with gzip.open(folder / "nsr999.rr.txt.gz", "wt") as fh:
        fh.write("0.8\n0.7\n40.0\n0.9\n")
    (folder / "records.csv").write_text("record,rr_count,hours,first_beat_offset_s\n"
                                        "nsr999,4,0.01,100.5\n")
    assert list_patients("nsr", tmp_path) == ["nsr-999"]
    raw = load_patient("nsr", tmp_path, "nsr-999")
    # beats end at 101.3, 102.0, 142.0 and 142.9 s: windows of 5 s from the origin
    assert [(t - AFDB_ORIGIN_MS, rr) for t, rr in
            zip(raw.t_ms.tolist(), (a.tolist() for a in np.split(raw.rr_ms, raw.rr_start[1:-1])),
                strict=True)
            ] == [(100_000, [800, 700]), (140_000, [40_000, 900])]
    clean = load_patient("nsr", tmp_path, "nsr-999", plausible_only=True)
    assert clean.rr_ms.tolist() == [800, 700, 900]  # the 40-s gap is missing data, not a beat


def test_covid_daily_rows_in_day_order(tmp_path: Path) -> None:
    folder = tmp_path / "covid-daily"
    folder.mkdir()
    header = ("day_from_onset,baseline_hr_bpm,circadian_amplitude_bpm,phase_h,hr_per_step_bpm,"
              "noise_sd_bpm,error_decay,phase_uncertainty,data_points,steps_per_day,source")
    (folder / "ABC123XYZ0.csv").write_text("\n".join([
        header, "1,71.5,5,15,0.2,5,0.7,3,100,2500.4,IHS", "-2,70.25,5,15,0.2,5,0.7,3,288,9000,IHS",
    ]) + "\n")
    (folder / "people.csv").write_text("id,source\nABC123XYZ0,IHS\n")
    assert covid_daily_people(tmp_path) == ["covid-ABC123XYZ0"]
    series = load_covid_daily(tmp_path, "covid-ABC123XYZ0")
    assert series.day.tolist() == [-2, 1] and series.rest_hr_bpm.tolist() == [70.25, 71.5]
    assert series.steps.tolist() == [9000, 2500] and series.hr_minutes.tolist() == [1440, 500]
    assert series.covers_onset and series.source == "IHS"


def test_plausible_drops_values_then_empty_samples() -> None:
    series = PatientSeries(
        "x-0001",
        t_ms=np.array([0, 1, 2], dtype=np.int64),
        hr_bpm=np.array([300.0, 60.0, np.nan]),
        steps=np.array([-1, 2000, -1], dtype=np.int64),
        rr_ms=np.array([100, 800, 900], dtype=np.int64),
        rr_start=np.array([0, 0, 1, 3], dtype=np.int64),
    )
    kept = list(series.plausible().samples())
    assert [(s.t_ms, s.hr_bpm, s.steps, s.rr_ms) for s in kept] == [
        (1, 60.0, None, []),
        (2, None, None, [800, 900]),
    ]
    assert [s.t_ms for s in series.first_days(2 / datasets.DAY_MS).samples()] == [0, 1]


@pytest.mark.parametrize("dataset", DATASETS)
def test_missing_data_names_the_path(tmp_path: Path, dataset: str) -> None:
    with pytest.raises(DataNotFoundError, match=re.escape(str(tmp_path))):
        list_patients(dataset, tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))):
        load_patient(dataset, tmp_path, KNOWN[dataset][0])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        list_patients("nope", ".")
    with pytest.raises(ValueError, match="not a mmash id"):
        load_patient("mmash", ".", "afdb-04015")


# --- the real data ----------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.parametrize("dataset", DATASETS)
def test_real_patients_and_first_rows(data_dir: Path, dataset: str) -> None:
    known, count = KNOWN[dataset]
    patients = list_patients(dataset, data_dir)
    assert known in patients and len(patients) >= count
    assert all(re.match(PATIENT_ID_PATTERN, p) for p in patients)
    samples = list(iter_samples(dataset, data_dir, patients[0], limit=3_000))
    assert_well_formed(samples)
    assert len(samples) >= 300  # afdb, nsr: 3,000 beats fill 300-700 five-second windows


def read_rows(path: Path, limit: int) -> list[list[str]]:
    with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8"))
        next(reader)
        return [row for _, row in zip(range(limit), reader, strict=False)]


@pytest.mark.data
def test_real_stanford_merge_matches_the_files(data_dir: Path) -> None:
    raw = data_dir / "stanford-covid-wearables" / "raw"
    hr_rows = read_rows(raw / "A0NVTRV_hr.csv.zip", 2_000)
    steps_rows = read_rows(raw / "A0NVTRV_steps.csv.zip", 2_000)
    samples = list(iter_samples("stanford", data_dir, "stanford-A0NVTRV", limit=2_000))
    assert_well_formed(samples)
    hr = {s.t_ms: s.hr_bpm for s in samples if s.hr_bpm is not None}
    steps = {s.t_ms: s.steps for s in samples if s.steps is not None}
    assert hr == {utc_ms(r[2]): float(r[3]) for r in hr_rows}
    assert steps == {utc_ms(r[2]): int(r[3]) for r in steps_rows}
    assert all(t % 60_000 == 0 for t in steps)
    assert len(samples) == len(hr.keys() | steps.keys())


@pytest.fixture(scope="module")
def av2gf3b(data_dir: Path) -> PatientSeries:
    return load_patient("stanford", data_dir, "stanford-AV2GF3B")


@pytest.mark.data
def test_real_stanford_file_out_of_order_is_sorted(data_dir: Path, av2gf3b: PatientSeries) -> None:
    # AV2GF3B's HR file jumps back 12.7 days after row 39,614; APGIB2T repeats 51 times.
    assert np.all(np.diff(av2gf3b.t_ms) > 0)
    rows = read_rows(data_dir / "stanford-covid-wearables/raw/AV2GF3B_hr.csv.zip", 10**6)
    assert int(np.count_nonzero(~np.isnan(av2gf3b.hr_bpm))) == len({r[2] for r in rows})
    apgib2t = load_patient("stanford", data_dir, "stanford-APGIB2T", limit=112_000)
    at = int(np.searchsorted(apgib2t.t_ms, utc_ms("2021-01-22 22:46:00")))
    assert apgib2t.hr_bpm[at] == 121.0  # the first of two rows at this time


@pytest.mark.data
def test_real_stanford_events_share_the_samples_time_base(
    data_dir: Path, av2gf3b: PatientSeries
) -> None:
    events = stanford_events(data_dir)
    assert len(events) > 50
    assert all(re.match(PATIENT_ID_PATTERN, e.patient) for e in events)
    onset = next(
        e for e in events if e.patient == "stanford-AV2GF3B" and e.event == "symptom_onset"
    )
    assert onset.start_date == date(2020, 8, 2) and onset.inside_data_span
    episode = next(e for e in events if e.end_date is not None)
    assert episode.end_ms is not None and episode.end_ms - episode.start_ms >= 0
    assert av2gf3b.first_t_ms < onset.start_ms < av2gf3b.last_t_ms
    kinds = {e.event for e in events}
    assert {"symptom_onset", "covid_diagnosis", "recovery"} <= kinds


@pytest.mark.data
def test_real_mmash_rr_and_artefacts(data_dir: Path) -> None:
    head = load_patient("mmash", data_dir, "mmash-01", limit=5_000)
    assert len(head.rr_ms) == 5_000  # every beat row lands on a sample
    assert int(np.count_nonzero(~np.isnan(head.hr_bpm))) == 5_000
    raw = load_patient("mmash", data_dir, "mmash-01")
    assert np.nanmin(raw.hr_bpm) < SAMPLE_RANGES["hr_bpm"].low  # artefacts are kept
    assert raw.rr_ms.max() > RR_RANGE.high
    clean = load_patient("mmash", data_dir, "mmash-01", plausible_only=True)
    assert 0 < len(clean) < len(raw)
    assert np.nanmin(clean.hr_bpm) >= SAMPLE_RANGES["hr_bpm"].low
    assert RR_RANGE.low <= clean.rr_ms.min() and clean.rr_ms.max() <= RR_RANGE.high


@pytest.mark.data
def test_real_fitabase_heart_rate_only(data_dir: Path) -> None:
    samples = list(iter_samples("fitabase", data_dir, "fitabase-2022484408", limit=1_000))
    assert_well_formed(samples)
    assert len(samples) == 1_000
    assert all(s.hr_bpm is not None and s.steps is None and not s.rr_ms for s in samples)


@pytest.mark.data
def test_real_afdb_windows_and_episodes(data_dir: Path) -> None:
    series = load_patient("afdb", data_dir, "afdb-04015", limit=2_000)
    assert_well_formed(list(series.samples()))
    assert np.all((series.t_ms - AFDB_ORIGIN_MS) % AFDB_WINDOW_MS == 0)
    with gzip.open(data_dir / "afdb-rr" / "qrs04015.txt.gz", "rt") as fh:
        rows = [line.split() for _, line in zip(range(2_000), fh, strict=False)]
    expected = [(int(r[2]) - int(r[0])) * 4 for r in rows[1:]]  # 250 Hz: 4 ms per sample
    assert series.rr_ms.tolist() == expected

    episodes = afdb_episodes(data_dir, "04015")
    assert episodes == afdb_episodes(data_dir, "afdb-04015")
    assert {e.rhythm for e in episodes} == {"N", "AFIB"}
    assert all(a.end_ms == b.start_ms for a, b in pairwise(episodes))
    full = load_patient("afdb", data_dir, "afdb-04015")
    assert full.first_t_ms <= episodes[0].start_ms < episodes[-1].end_ms <= full.last_t_ms + 5_000


@pytest.mark.data
def test_real_nsr_records_match_their_summary(data_dir: Path) -> None:
    with (data_dir / "nsr-rr" / "records.csv").open() as fh:
        summary = {f"nsr-{r['record'].removeprefix('nsr')}": r for r in csv.DictReader(fh)}
    assert set(list_patients("nsr", data_dir)) == set(summary)
    series = load_patient("nsr", data_dir, "nsr-001")
    assert len(series.rr_ms) == int(summary["nsr-001"]["rr_count"])
    offset_ms = float(summary["nsr-001"]["first_beat_offset_s"]) * 1000
    assert series.first_t_ms - AFDB_ORIGIN_MS == offset_ms // AFDB_WINDOW_MS * AFDB_WINDOW_MS


@pytest.mark.data
def test_real_covid_daily_people(data_dir: Path) -> None:
    people = covid_daily_people(data_dir)
    assert len(people) >= 67
    series = [load_covid_daily(data_dir, p) for p in people]
    assert sum(s.covers_onset for s in series) >= 50
    assert all(np.all(np.diff(s.day) > 0) for s in series)
    assert all(np.all(s.hr_minutes >= 100) for s in series)  # rows need >= 20 five-minute bins


def test_module_docstring_lists_the_api() -> None:
    doc = datasets.__doc__ or ""
    for name in ("list_patients", "iter_samples", "stanford_events", "afdb_episodes",
                 "covid_daily_people", "load_covid_daily"):
        assert f"{name}(" in doc
