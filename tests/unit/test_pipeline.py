from __future__ import annotations

import orjson
import pytest

from wearmon.stream.config import ConfigError, load_settings
from wearmon.stream.core.pipeline import PatientState, process
from wearmon.stream.core.schema import Columns, Sample, Upload
from wearmon.stream.core.validation import Issue, Limits, Rejection, validate
from wearmon.stream.datasets.simulator import Simulator
from wearmon.stream.sinks.lines import rejection_line, result_lines, vitals_lines
from wearmon.stream.sinks.records import UploadPoints

HOUR_MS = 3_600_000


def make_upload(upload_id: str, times: list[int], hr: float = 70.0) -> Upload:
    return Upload(
        upload_id,
        "dev-1",
        "p-0001",
        times[-1],
        times[-1],
        Columns.from_samples([Sample(t_ms=t, hr_bpm=hr, steps=0) for t in times]),
    )


def test_duplicate_upload_is_dropped_and_state_unchanged() -> None:
    state = PatientState()
    process(state, make_upload("u1", [1000, 6000]), HOUR_MS)
    before = orjson.dumps(state.to_json())
    result = process(state, make_upload("u1", [1000, 6000]), HOUR_MS)
    assert result.duplicate and orjson.dumps(state.to_json()) == before


def test_late_samples_are_rejected_relative_to_patient_watermark() -> None:
    state = PatientState()
    process(state, make_upload("u1", [10 * HOUR_MS]), HOUR_MS)
    result = process(state, make_upload("u2", [8 * HOUR_MS, 9 * HOUR_MS + 1]), HOUR_MS)
    assert [(i.field, i.reason) for i in result.issues] == [("samples[0].t_ms", "late_sample")]
    assert [s.t_ms for s in result.upload.columns.to_samples()] == [9 * HOUR_MS + 1]


def test_state_roundtrip_keeps_baseline_and_dedup() -> None:
    state = PatientState()
    for i in range(200):
        t = i * 60_000
        process(state, make_upload(f"u{i}", [t, t + 5000], hr=60.0 + i % 5), 10 * HOUR_MS)
    restored = PatientState.from_json(orjson.loads(orjson.dumps(state.to_json())))
    assert restored.to_json() == state.to_json()
    t = 199 * 60_000
    assert process(restored, make_upload("u199", [t, t + 5000], hr=64.0), HOUR_MS).duplicate
    # the same id with other content is a conflict, and the first upload stays
    clash = process(restored, make_upload("u199", [0]), HOUR_MS)
    assert clash.conflict and not clash.duplicate and not clash.findings


def test_rollups_close_after_grace_and_cover_each_minute_once() -> None:
    state = PatientState()
    minutes: list[int] = []
    for i in range(30):
        up = make_upload(f"u{i}", [i * 30_000 + k * 5000 for k in range(6)])
        minutes.extend(r.start_ms for r in process(state, up, HOUR_MS).minutes)
    assert minutes == sorted(set(minutes)) and minutes[0] == 0
    assert len(minutes) == 12  # 15 minutes of data, the last 3 still open (2-minute grace)


def test_lines_are_deterministic_for_idempotent_writes() -> None:
    sim = Simulator(2, 0, 1800, seed=5)
    uploads = [v for _, v, _ in sim.uploads_until(1800 * 1000)]

    def run() -> list[str]:
        states: dict[str, PatientState] = {}
        lines: list[str] = []
        for raw in uploads:
            checked = validate(raw, 10**13, Limits())
            assert not isinstance(checked, Rejection)
            st = states.setdefault(checked.upload.patient_id, PatientState())
            lines += result_lines(process(st, checked.upload, HOUR_MS))
        return lines

    first, second = run(), run()
    assert first == second and len(first) > 700


def test_vitals_line_format() -> None:
    up = Upload(
        "u", "dev-1", "p-0001", 0, 0,
        Columns.from_samples([Sample(t_ms=1000, hr_bpm=71.5, steps=3, rr_ms=[800, 810])])
    )
    result = process(PatientState(), up, HOUR_MS)
    assert vitals_lines([UploadPoints.observed(result)]) == [[
        "vitals,patient=p-0001,device=dev-1 hr_bpm=71.5,steps=3i 1000000000",
        "beats,patient=p-0001,device=dev-1 rr_ms=800i 1000000000",
        "beats,patient=p-0001,device=dev-1 rr_ms=810i 1800000000",
    ]]


def test_rejection_line_escapes_field_names() -> None:
    r = Rejection((Issue("samples[0].hr bpm", "out_of_range", "x"),), b"", 5)
    assert rejection_line(r) == (
        'rejected,partial=false,reason=out_of_range count=1i,field="samples[0].hr bpm" 5000000'
    )


def test_bad_settings_fail_fast_with_the_variable_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEARMON_PARTITIONS", "zero")
    with pytest.raises(ConfigError, match="WEARMON_PARTITIONS"):
        load_settings()
    monkeypatch.delenv("WEARMON_PARTITIONS")
    monkeypatch.setenv("WEARMON_BROKER", "127.0.0.1:9092")
    with pytest.raises(ConfigError, match=r"WEARMON_BROKER.*kafka://"):
        load_settings()
    monkeypatch.setenv("WEARMON_BROKER", "")
    with pytest.raises(ConfigError, match="set WEARMON_BROKER"):
        load_settings().require_broker()


def test_hour_of_day_is_the_patients_local_hour() -> None:
    start = 1_750_000_000_000 - 1_750_000_000_000 % HOUR_MS  # a whole hour, UTC
    minutes: dict[str, list[int]] = {}
    for tz in ("UTC", "Asia/Tokyo", "America/New_York"):
        state = PatientState()
        up = make_upload("u1", [start + k * 60_000 for k in range(10)])
        minutes[tz] = [m.hour_of_day for m in process(state, up, HOUR_MS, timezone=tz).minutes]
    utc = minutes["UTC"][0]
    assert minutes["Asia/Tokyo"][0] == (utc + 9) % 24
    assert minutes["America/New_York"][0] == (utc - 4) % 24  # summer time in June
