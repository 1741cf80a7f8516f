"""The suggested next step per kind of alert, configured per ward: one short line shown in the
console and in the care-team message. Pure, apart from ``load_next_steps`` (reads a file).

The defaults follow the NEWS2 clinical response (Royal College of Physicians, 2017): a single
parameter scoring 3 ("red score") asks for an urgent ward-based response, a total of 5–6 for an
urgent response by a clinician, 7 or more for an emergency response; lower scores for assessment
by the nurse and more frequent observations. They are suggestions for the care team, set by each
ward's own escalation policy: a ward overrides any of them in the file named by
``WEARMON_NOTIFY_NEXT_STEPS_FILE``::

    {"Ward A": {"desaturation": "Call the ward doctor (bleep 1234) and repeat SpO2.",
                "tachycardia_at_rest:warning": "Manual pulse and ECG within 30 min."},
     "*": {"battery_low": "Ask the patient to charge the watch tonight."}}

A key is a kind (``desaturation``) or a kind and a severity (``desaturation:critical``); ``*``
applies to every ward. The most specific line wins: the ward's kind and severity, the ward's
kind, then the same under ``*``, then the defaults.

>>> steps = NextSteps.from_doc({"Ward A": {"desaturation": "Call bleep 1234."}})
>>> steps.suggest("Ward A", "desaturation", "critical")
'Call bleep 1234.'
>>> steps.suggest("Ward B", "desaturation", "critical")[:40]
'See the patient now: check the probe, br'
>>> steps.suggest("", "battery_low", "info")
'Remind the patient to charge the device.'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wearmon.stream.config import ConfigError, NotifySettings

ANY_WARD = "*"
FALLBACK = "Review the patient and follow your ward's NEWS2 escalation policy."
MAX_CHARS = 240  # one short line in a message

#: kind or "kind:severity" → the suggested next step, from common early-warning practice
DEFAULTS: dict[str, str] = {
    "tachycardia_at_rest:critical": (
        "See the patient now: manual pulse and a full set of observations; a NEWS2 red score "
        "(3): inform the doctor urgently."),
    "tachycardia_at_rest": (
        "Manual pulse and a full set of observations within 1 hour; NEWS2 5 or more: inform "
        "the doctor."),
    "bradycardia:critical": (
        "See the patient now: manual pulse, blood pressure and consciousness; a NEWS2 red "
        "score (3): inform the doctor urgently."),
    "bradycardia": (
        "Manual pulse and a full set of observations within 1 hour; review rate-slowing "
        "medicines."),
    "desaturation:critical": (
        "See the patient now: check the probe, breathing and colour, repeat SpO2 with a full "
        "set of observations; a NEWS2 red score (3): inform the doctor urgently."),
    "desaturation": (
        "Check the probe and repeat SpO2 with a full set of observations within 1 hour."),
    "news2_partial:critical": (
        "Emergency response (NEWS2 7 or more): inform the doctor now, consider critical-care "
        "outreach, continuous monitoring."),
    "news2_partial": (
        "Urgent response (NEWS2 5–6 or a single 3): full observations now and inform the "
        "doctor; observe at least hourly."),
    "irregular_rhythm": (
        "Manual pulse for a full minute and a 12-lead ECG; inform the doctor if the rhythm "
        "is new."),
    "resting_hr_rise": (
        "Ask about fever, cough, breathlessness and fluids; a full set of observations today."),
    "high_hr_for_patient": (
        "Check on the patient and take a full set of observations; escalate by the NEWS2 "
        "score."),
    "low_hr_for_patient": (
        "Check on the patient and take a full set of observations; escalate by the NEWS2 "
        "score."),
    "unusual_inactivity": "Contact the patient or carer to check on them (falls, feeling unwell).",
    "unusual_night_activity": (
        "Contact the patient or carer in the morning: sleep, confusion, pain?"),
    "steps_decline": "Ask the patient how they are managing; review at the next contact.",
    "device_offline": (
        "Contact the patient or carer: is the device charged, worn and near the phone?"),
    "battery_low": "Remind the patient to charge the device.",
    "cant_assess": "Ask the patient to wear the device: until then nothing can be judged.",
}


class NextStepsError(ValueError):
    """The next-steps file is not what it should be (says where)."""


@dataclass(frozen=True)
class NextSteps:
    """Suggested next steps by ward, over the defaults."""

    by_ward: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def from_doc(cls, doc: object) -> NextSteps:
        """Checked: a JSON object of wards, each an object of kind → one short line."""
        if not isinstance(doc, dict):
            raise NextStepsError("must be a JSON object of wards")
        wards: dict[str, dict[str, str]] = {}
        for ward, lines in doc.items():
            if not isinstance(lines, dict):
                raise NextStepsError(f"{ward}: must be an object of kind → next step")
            for key, text in lines.items():
                if not isinstance(text, str) or not text.strip():
                    raise NextStepsError(f"{ward}.{key}: must be a non-empty string")
                if len(text) > MAX_CHARS or "\n" in text:
                    raise NextStepsError(f"{ward}.{key}: one line of at most {MAX_CHARS} "
                                         "characters")
            wards[str(ward)] = {str(k): v.strip() for k, v in lines.items()}
        return cls(wards)

    def suggest(self, ward: str, kind: str, severity: str) -> str:
        """The most specific next step for an alert of ``kind`` and ``severity`` on ``ward``."""
        for table in (self.by_ward.get(ward, {}), self.by_ward.get(ANY_WARD, {}), DEFAULTS):
            for key in (f"{kind}:{severity}", kind):
                if key in table:
                    return table[key]
        return FALLBACK


def load_next_steps(path: str) -> NextSteps:
    """The ward's next steps from ``path`` (JSON); the defaults alone when ``path`` is empty."""
    if not path:
        return NextSteps()
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise NextStepsError(f"{path}: {exc}") from None
    try:
        return NextSteps.from_doc(doc)
    except NextStepsError as exc:
        raise NextStepsError(f"{path}: {exc}") from None


def next_steps_of(notify: NotifySettings) -> NextSteps:
    """The configured next steps; a bad file stops the process naming the variable."""
    try:
        return load_next_steps(notify.next_steps_file)
    except NextStepsError as exc:
        raise ConfigError(f"{NotifySettings.variable('next_steps_file')}: {exc}") from None
