"""Patient enrolment and settings: devices, thresholds, recipients, quiet hours, alert policy.

One ``PatientSettings`` document per patient lives in a compacted topic (key = patient id,
value = ``to_json()``, a tombstone unenrols). Everything is validated here, once: an invalid
document is rejected with a ``SettingsError`` that names each bad field and never echoes the
submitted values (recipient URLs carry credentials).

>>> s = PatientSettings(patient_id="p-0001", devices=["watch-1"],
...     care_team=[Recipient(id="ward3", url="json://127.0.0.1:8080/hook")])
>>> PatientSettings.from_json(s.to_json()) == s
True
>>> PatientSettings.from_json(b'{"patient_id": "p-0001", "care_team": []}')
Traceback (most recent call last):
...
wearmon.stream.core.patients.SettingsError: invalid patient settings:
  care_team: List should have at least 1 item after validation, not 0
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import apprise
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializationInfo,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from wearmon.models.alarm_budget import (
    DEFAULT_BUDGET,
    MAX_BUDGET,
    MIN_BUDGET,
    alert_score_for_budget,
)
from wearmon.models.base import Severity
from wearmon.stream.core.schema import ID_PATTERN, PATIENT_ID_PATTERN

SETTINGS_VERSION: Final = 1
_REVEAL = "reveal_secrets"


class SettingsError(ValueError):
    """Invalid patient settings; ``problems`` lists (field path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {where}: {msg}" for where, msg in problems)
        super().__init__(f"invalid patient settings:\n{lines}")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Recipient(_Model):
    """Where one person or team receives notifications. ``url`` is an Apprise URL (secret)."""

    id: str = Field(pattern=ID_PATTERN, description="Stable label used in idempotency keys")
    url: SecretStr = Field(description="Apprise URL, e.g. mailto://…, ntfy://…, json://…")
    label: str = Field(
        default="", max_length=80, description="Shown to humans, e.g. 'Ward 3 on call'"
    )
    user: str = Field(
        default="", max_length=80,
        description="This person's console user name: not told of their own actions",
    )

    @field_validator("url")
    @classmethod
    def _apprise_url(cls, value: SecretStr) -> SecretStr:
        if apprise.Apprise.instantiate(value.get_secret_value()) is None:
            raise ValueError("not a notification URL that Apprise understands")
        return value

    @field_serializer("url")
    def _url_out(self, value: SecretStr, info: SerializationInfo) -> str:
        context = info.context or {}
        return value.get_secret_value() if context.get(_REVEAL) else str(value)


def known_zone(value: str) -> str:
    """An IANA time-zone name, checked (``ValueError`` names it when unknown)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
    return value


class QuietHours(_Model):
    """Local-time window in which non-critical patient messages wait (``start`` to ``end``).

    >>> q = QuietHours(start=time(22), end=time(7), tz="Europe/London")
    >>> ms = lambda s: int(datetime.fromisoformat(s).timestamp() * 1000)
    >>> q.contains(ms("2026-01-10T23:30:00+00:00")), q.contains(ms("2026-01-10T12:00:00+00:00"))
    (True, False)
    >>> datetime.fromtimestamp(q.end_after(ms("2026-01-10T23:30:00+00:00")) / 1000, UTC).isoformat()
    '2026-01-11T07:00:00+00:00'
    """

    start: time
    end: time
    tz: str = Field(default="UTC", description="IANA time-zone name, e.g. Europe/London")

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours start and end must differ")
        return self

    def _local(self, t_ms: int) -> datetime:
        return datetime.fromtimestamp(t_ms / 1000, ZoneInfo(self.tz))

    def contains(self, t_ms: int) -> bool:
        now = self._local(t_ms).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def end_after(self, t_ms: int) -> int:
        """The first instant at or after ``t_ms`` outside quiet hours (``t_ms`` if outside)."""
        if not self.contains(t_ms):
            return t_ms
        local = self._local(t_ms)
        day = local.date()
        if local.time().replace(tzinfo=None) >= self.end:
            day += timedelta(days=1)
        end = datetime.combine(day, self.end, tzinfo=ZoneInfo(self.tz))
        return max(t_ms, int(end.astimezone(UTC).timestamp() * 1000))


class Thresholds(_Model):
    """Per-patient overrides of the clinical bands (None = the detector's default)."""

    rest_hr_high_bpm: float | None = Field(default=None, ge=60, le=220)
    hr_low_bpm: float | None = Field(default=None, ge=25, le=80)
    spo2_low_pct: float | None = Field(default=None, ge=70, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        high, low = self.rest_hr_high_bpm, self.hr_low_bpm
        if high is not None and low is not None and low >= high:
            raise ValueError("hr_low_bpm must be below rest_hr_high_bpm")
        return self


class AlertPolicy(_Model):
    """How findings and data quality become alerts. Times in seconds, counts in windows."""

    window_s: float = Field(default=60.0, gt=0, le=3600, description="One persistence window")
    persist_warning: int = Field(
        default=3, ge=1, le=15, description="Windows before a warning alert"
    )
    persist_critical: int = Field(
        default=2, ge=1, le=15, description="Windows before a critical alert"
    )
    persist_info: int | None = Field(
        default=None, ge=1, le=15, description="None: info never alerts"
    )
    persist_gap_windows: int = Field(default=1, ge=0, le=5, description="Missing windows tolerated")
    all_clear_after_s: float = Field(
        default=900.0, gt=0, description="Normal, worn data before all-clear"
    )
    data_gap_s: float = Field(
        default=300.0, gt=0, description="Longer gaps restart the normal streak"
    )
    cooldown_s: float = Field(default=3600.0, ge=0, description="A recurrence within it reopens")
    ack_timeout_warning_s: float = Field(default=1800.0, gt=0)
    ack_timeout_critical_s: float = Field(default=300.0, gt=0)
    max_repeats: int = Field(
        default=3, ge=0, le=20, description="Reminders/reopens that still notify"
    )
    late_after_s: float = Field(default=1800.0, gt=0, description="Older findings are 'late' data")
    max_snooze_s: float = Field(default=86_400.0, gt=0)
    device_offline_after_s: float = Field(default=3600.0, gt=0)
    device_repeat_every_s: float = Field(default=4 * 3600.0, gt=0)
    cant_assess_after_s: float = Field(
        default=2 * 3600.0, gt=0, description="No worn data while online"
    )
    battery_low_pct: float = Field(default=15.0, ge=0, le=100)
    battery_ok_pct: float = Field(
        default=25.0, ge=0, le=100, description="Recovery level (hysteresis)"
    )
    info_hold_s: float = Field(
        default=600.0, ge=0, le=86_400,
        description="Info alerts tell nobody until they have lasted this long (0: at once)",
    )
    illness_alarm_budget_per_30d: float = Field(
        default=DEFAULT_BUDGET, ge=MIN_BUDGET, le=MAX_BUDGET,
        description="Illness score: false alert-days per patient per 30 days the care team "
        "accepts; sets the score's threshold through the population curve (models.alarm_budget)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> AlertPolicy:
        if self.battery_ok_pct <= self.battery_low_pct:
            raise ValueError("battery_ok_pct must be above battery_low_pct (hysteresis)")
        if self.ack_timeout_critical_s > self.ack_timeout_warning_s:
            raise ValueError("ack_timeout_critical_s must not exceed ack_timeout_warning_s")
        return self

    def ack_timeout_ms(self, severity: Severity) -> int | None:
        """How long an unacknowledged alert waits before the next escalation step."""
        if severity is Severity.CRITICAL:
            return int(self.ack_timeout_critical_s * 1000)
        if severity is Severity.WARNING:
            return int(self.ack_timeout_warning_s * 1000)
        return None

    def illness_alert_score(self) -> float:
        """The illness score's threshold for this policy's alarm budget.

        >>> AlertPolicy().illness_alert_score() == alert_score_for_budget(DEFAULT_BUDGET)
        True
        """
        return alert_score_for_budget(self.illness_alarm_budget_per_30d)

    def persist_windows(self, severity: Severity) -> int | None:
        return {
            Severity.CRITICAL: self.persist_critical,
            Severity.WARNING: self.persist_warning,
            Severity.INFO: self.persist_info,
        }[severity]


class PatientSettings(_Model):
    """Everything Wearmon knows about one enrolled patient (no names unless they chose one)."""

    v: Literal[1] = SETTINGS_VERSION
    patient_id: str = Field(pattern=PATIENT_ID_PATTERN, description="Pseudonym from enrolment")
    devices: list[str] = Field(default_factory=list, description="Device ids of this patient")
    display_name: str = Field(
        default="",
        max_length=40,
        description="Optional greeting the patient chose, e.g. a first name",
    )
    ward: str = Field(
        default="",
        max_length=40,
        pattern=r"^[\w .'/-]*$",
        description="Ward or care team the patient belongs to (console and dashboard filter)",
    )
    thresholds: Thresholds = Thresholds()
    spo2_scale: Literal[1, 2] = Field(
        default=1, description="NEWS2 SpO2 scale (2: hypercapnic, 88-92%)"
    )
    patient_recipients: list[Recipient] = Field(default_factory=list)
    care_team: list[Recipient] = Field(min_length=1, description="Escalation order: first = 0")
    patient_min_severity: Severity = Field(
        default=Severity.WARNING,
        description="Clinical alerts below this are not sent to the patient",
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone of the patient: hour of day, nights and sleep are local",
    )
    quiet_hours: QuietHours | None = None
    policy: AlertPolicy = AlertPolicy()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("devices")
    @classmethod
    def _device_ids(cls, value: list[str]) -> list[str]:
        for device in value:
            if not re.fullmatch(ID_PATTERN, device):
                raise ValueError(f"device id {device!r} does not match {ID_PATTERN}")
        if len(set(value)) != len(value):
            raise ValueError("device ids must be unique")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PatientSettings:
        ids = [r.id for r in (*self.patient_recipients, *self.care_team)]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"recipient ids must be unique across both lists: {duplicates}")
        low = self.thresholds.spo2_low_pct
        if self.spo2_scale == 2 and low is not None and low > 92:
            raise ValueError("thresholds.spo2_low_pct above 92 contradicts SpO2 scale 2 (88-92%)")
        return self

    def band_overrides(self) -> dict[str, float]:
        """Keyword overrides for ``models.bands.ClinicalBands`` (SpO2 scale 2 lowers the limit)."""
        out = {k: v for k, v in self.thresholds.model_dump().items() if v is not None}
        if self.spo2_scale == 2 and "spo2_low_pct" not in out:
            out["spo2_low_pct"] = 88.0
        return out

    def is_quiet(self, t_ms: int) -> bool:
        return self.quiet_hours is not None and self.quiet_hours.contains(t_ms)

    def recipient(self, recipient_id: str) -> Recipient | None:
        for candidate in (*self.patient_recipients, *self.care_team):
            if candidate.id == recipient_id:
                return candidate
        return None

    def to_json(self) -> bytes:
        """The compacted-topic value, secrets included (the topic must be access-controlled)."""
        doc = self.model_dump(mode="json", context={_REVEAL: True})
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str | dict[str, Any]) -> PatientSettings:
        """Parse and validate one settings document; raises ``SettingsError``."""
        if isinstance(data, dict):
            doc: Any = data
        else:
            try:
                doc = json.loads(data)
            except json.JSONDecodeError as exc:
                raise SettingsError([("document", f"not JSON ({exc.msg})")]) from None
            except UnicodeDecodeError:
                raise SettingsError([("document", "not UTF-8 text")]) from None
        if not isinstance(doc, dict):
            raise SettingsError([("document", "must be a JSON object")])
        if doc.get("v", SETTINGS_VERSION) != SETTINGS_VERSION:
            raise SettingsError([("v", f"unsupported version (expected {SETTINGS_VERSION})")])
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            raise SettingsError(_problems(exc)) from None


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    """Field paths and messages, without the submitted values (they may hold secrets)."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in err["loc"]) or "document"
        message = err["msg"].removeprefix("Value error, ")
        out.append((where, message))
    return out


class PatientDirectory:
    """Device → patient lookup rebuilt from the settings table; one device, one patient.

    >>> d = PatientDirectory()
    >>> d.upsert(PatientSettings(patient_id="p-0001", devices=["w1"],
    ...     care_team=[Recipient(id="n", url="json://127.0.0.1/h")]))
    >>> d.patient_for_device("w1")
    'p-0001'
    """

    def __init__(self, settings: Iterable[PatientSettings] = ()) -> None:
        self._by_patient: dict[str, PatientSettings] = {}
        self._by_device: dict[str, str] = {}
        for one in settings:
            self.upsert(one)

    def upsert(self, settings: PatientSettings) -> None:
        """Add or replace a patient; raises ``SettingsError`` if a device belongs to another."""
        for device in settings.devices:
            owner = self._by_device.get(device)
            if owner is not None and owner != settings.patient_id:
                problem = f"device {device!r} is enrolled to another patient"
                raise SettingsError([("devices", problem)])
        self.remove(settings.patient_id)
        self._by_patient[settings.patient_id] = settings
        for device in settings.devices:
            self._by_device[device] = settings.patient_id

    def remove(self, patient_id: str) -> None:
        old = self._by_patient.pop(patient_id, None)
        if old is not None:
            for device in old.devices:
                self._by_device.pop(device, None)

    def get(self, patient_id: str) -> PatientSettings | None:
        return self._by_patient.get(patient_id)

    def patient_for_device(self, device_id: str) -> str | None:
        return self._by_device.get(device_id)

    def __len__(self) -> int:
        return len(self._by_patient)


#: Patients who are not enrolled are analysed with the default policy; this placeholder recipient
#: is never notified (notifications are planned only for enrolled patients).
UNENROLLED_CARE_TEAM = Recipient(
    id="care-team", url=SecretStr("json://localhost"), label="Not enrolled: nobody is notified"
)


def default_settings(patient_id: str) -> PatientSettings:
    """The settings used for a patient who is not enrolled."""
    return PatientSettings(patient_id=patient_id, care_team=[UNENROLLED_CARE_TEAM])


class DefaultSettings:
    """``default_settings`` of patients who are not enrolled, built once each; at most
    ``max_patients`` are kept (the oldest goes first).

    >>> defaults = DefaultSettings(max_patients=1)
    >>> defaults.get("p-0001") is defaults.get("p-0001")
    True
    >>> _ = defaults.get("p-0002"); list(defaults.by_patient)
    ['p-0002']
    """

    def __init__(self, max_patients: int) -> None:
        self.max_patients = max_patients
        self.by_patient: dict[str, PatientSettings] = {}

    def get(self, patient_id: str) -> PatientSettings:
        settings = self.by_patient.get(patient_id)
        if settings is None:
            settings = self.by_patient[patient_id] = default_settings(patient_id)
            if len(self.by_patient) > self.max_patients:
                del self.by_patient[next(iter(self.by_patient))]
        return settings
