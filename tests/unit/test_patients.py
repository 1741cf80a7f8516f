"""Patient settings: validation with clear errors, secrets kept out of errors, JSON, quiet hours."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from wearmon.models.base import Severity
from wearmon.stream.core.patients import (
    AlertPolicy,
    PatientDirectory,
    PatientSettings,
    QuietHours,
    Recipient,
    SettingsError,
)

SECRET_URL = "mailto://nurse:s3cr3t-pa55@smtp.example.org?to=ward3@example.org"


def doc(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "patient_id": "p-0001",
        "devices": ["watch-1"],
        "care_team": [
            {"id": "ward3", "url": SECRET_URL, "label": "Ward 3 on call"},
            {"id": "doctor", "url": "ntfy://ntfy.example.org/wearmon-oncall"},
        ],
        "patient_recipients": [{"id": "me", "url": "json://127.0.0.1:8080/hook"}],
    }
    base.update(changes)
    return base


def problems(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(SettingsError) as info:
        PatientSettings.from_json(data)
    return info.value.problems


def test_valid_settings_round_trip_through_the_topic_format() -> None:
    settings = PatientSettings.from_json(doc(quiet_hours={"start": "22:00", "end": "07:00"}))
    data = settings.to_json()
    assert PatientSettings.from_json(data) == settings
    assert json.loads(data)["care_team"][0]["url"] == SECRET_URL  # the topic keeps the URL


def test_secrets_are_masked_everywhere_but_the_topic_value() -> None:
    settings = PatientSettings.from_json(doc())
    assert "s3cr3t" not in repr(settings)
    assert "s3cr3t" not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("changes", "where", "message"),
    [
        ({"patient_id": "x"}, "patient_id", "should match pattern"),
        ({"care_team": []}, "care_team", "at least 1 item"),
        ({"devices": ["ok", "bad id!"]}, "devices", "does not match"),
        ({"devices": ["w1", "w1"]}, "devices", "unique"),
        ({"thresholds": {"hr_low_bpm": 10}}, "thresholds.hr_low_bpm", "greater than or equal"),
        (
            {"thresholds": {"hr_low_bpm": 70, "rest_hr_high_bpm": 65}},
            "thresholds",
            "hr_low_bpm must be below rest_hr_high_bpm",
        ),
        ({"spo2_scale": 3}, "spo2_scale", "Input should be 1 or 2"),
        (
            {"spo2_scale": 2, "thresholds": {"spo2_low_pct": 94}},
            "document",
            "contradicts SpO2 scale 2",
        ),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours", "must differ"),
        (
            {"quiet_hours": {"start": "22:00", "end": "07:00", "tz": "Mars/Olympus"}},
            "quiet_hours.tz",
            "unknown time zone",
        ),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start", "time"),
        ({"policy": {"battery_ok_pct": 10}}, "policy", "battery_ok_pct must be above"),
        ({"policy": {"persist_warning": 0}}, "policy.persist_warning", "greater than or equal"),
        ({"policy": {"ack_timeout_critical_s": 9999}}, "policy", "must not exceed"),
        ({"patient_min_severity": "urgent"}, "patient_min_severity", "'info', 'warning'"),
        ({"nickname": "Sam"}, "nickname", "Extra inputs are not permitted"),
        ({"v": 2}, "v", "unsupported version"),
        (
            {
                "care_team": [{"id": "a", "url": "json://127.0.0.1/x"}],
                "patient_recipients": [{"id": "a", "url": "json://127.0.0.1/y"}],
            },
            "document",
            "recipient ids must be unique",
        ),
    ],
)
def test_invalid_settings_name_the_field(changes: dict[str, Any], where: str, message: str) -> None:
    found = problems(doc(**changes))
    assert any(w == where and message in m for w, m in found), found


def test_a_bad_recipient_url_is_rejected_without_echoing_it() -> None:
    secret = "notaservice://admin:hunter2@host"
    data = doc(care_team=[{"id": "ward3", "url": secret}])
    found = problems(data)
    assert found == [("care_team.0.url", "not a notification URL that Apprise understands")]
    with pytest.raises(SettingsError) as info:
        PatientSettings.from_json(data)
    assert "hunter2" not in str(info.value)


def test_errors_are_all_reported_at_once() -> None:
    found = problems(doc(patient_id="x", devices=["bad id!"]))
    assert {w for w, _ in found} == {"patient_id", "devices"}


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"{not json", "not JSON"), (b"[1, 2]", "must be a JSON object"), (b"\xff", "UTF-8")],
)
def test_garbage_is_rejected(data: bytes, message: str) -> None:
    assert message in problems(data)[0][1]


def test_spo2_scale_2_lowers_the_band_unless_overridden() -> None:
    assert PatientSettings.from_json(doc()).band_overrides() == {}
    scale2 = PatientSettings.from_json(doc(spo2_scale=2))
    assert scale2.band_overrides() == {"spo2_low_pct": 88.0}
    beta = PatientSettings.from_json(doc(thresholds={"rest_hr_high_bpm": 100}, spo2_scale=2))
    assert beta.band_overrides() == {"rest_hr_high_bpm": 100.0, "spo2_low_pct": 88.0}


def test_policy_helpers() -> None:
    policy = AlertPolicy()
    assert policy.ack_timeout_ms(Severity.CRITICAL) == 300_000
    assert policy.ack_timeout_ms(Severity.INFO) is None
    assert policy.persist_windows(Severity.INFO) is None


def test_recipient_lookup() -> None:
    settings = PatientSettings.from_json(doc())
    assert settings.recipient("doctor") is not None
    assert settings.recipient("me") is not None
    assert settings.recipient("nobody") is None


# --- quiet hours ----------------------------------------------------------------------------


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def test_quiet_hours_across_midnight_in_utc() -> None:
    q = QuietHours(start=time(22), end=time(7))
    assert q.contains(ms("2026-06-01T22:00:00+00:00"))
    assert q.contains(ms("2026-06-02T06:59:59+00:00"))
    assert not q.contains(ms("2026-06-02T07:00:00+00:00"))
    assert q.end_after(ms("2026-06-01T23:00:00+00:00")) == ms("2026-06-02T07:00:00+00:00")
    assert q.end_after(ms("2026-06-02T01:00:00+00:00")) == ms("2026-06-02T07:00:00+00:00")
    assert q.end_after(ms("2026-06-02T12:00:00+00:00")) == ms("2026-06-02T12:00:00+00:00")


def test_quiet_hours_within_one_day() -> None:
    q = QuietHours(start=time(13), end=time(15))
    assert q.contains(ms("2026-06-01T14:00:00+00:00"))
    assert not q.contains(ms("2026-06-01T16:00:00+00:00"))
    assert q.end_after(ms("2026-06-01T13:30:00+00:00")) == ms("2026-06-01T15:00:00+00:00")


def test_quiet_hours_follow_the_patients_time_zone_and_summer_time() -> None:
    q = QuietHours(start=time(22), end=time(7), tz="Europe/Berlin")
    # winter: UTC+1, summer: UTC+2
    assert q.contains(ms("2026-01-15T21:30:00+00:00"))  # 22:30 local
    assert not q.contains(ms("2026-07-15T19:30:00+00:00"))  # 21:30 local
    assert q.end_after(ms("2026-07-15T21:00:00+00:00")) == ms("2026-07-16T05:00:00+00:00")
    # the night summer time starts (29 March 2026): 07:00 local is 05:00 UTC
    assert q.end_after(ms("2026-03-28T23:00:00+00:00")) == ms("2026-03-29T05:00:00+00:00")


@given(
    start=st.times(), end=st.times(), t_s=st.integers(1_700_000_000, 1_900_000_000),
    tz=st.sampled_from(["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"]),
)  # fmt: skip
def test_end_after_is_the_first_moment_outside(start: time, end: time, t_s: int, tz: str) -> None:
    start, end = start.replace(microsecond=0), end.replace(microsecond=0)
    if start == end:
        return
    q = QuietHours(start=start, end=end, tz=tz)
    t_ms = t_s * 1000
    out = q.end_after(t_ms)
    assert out >= t_ms and not q.contains(out)
    if out > t_ms:
        assert q.contains(out - 1000)  # a second earlier it was still quiet
        assert out - t_ms <= int(timedelta(hours=25).total_seconds() * 1000)


# --- directory ------------------------------------------------------------------------------


def test_directory_maps_devices_and_refuses_a_device_on_two_patients() -> None:
    first = PatientSettings.from_json(doc())
    directory = PatientDirectory([first])
    assert directory.patient_for_device("watch-1") == "p-0001"
    other = PatientSettings.from_json(doc(patient_id="p-0002"))
    with pytest.raises(SettingsError, match="enrolled to another patient"):
        directory.upsert(other)
    # re-enrolling the same patient with a new device releases the old one
    directory.upsert(PatientSettings.from_json(doc(devices=["ring-7"])))
    assert directory.patient_for_device("watch-1") is None
    directory.upsert(other)
    assert directory.patient_for_device("watch-1") == "p-0002" and len(directory) == 2
    directory.remove("p-0002")
    assert directory.get("p-0002") is None and directory.patient_for_device("watch-1") is None


def test_recipient_model_directly() -> None:
    r = Recipient(id="ward3", url=SecretStr(SECRET_URL))
    assert "s3cr3t" not in repr(r) and r.url.get_secret_value() == SECRET_URL
