"""The patients topic (``WEARMON_TOPIC_PATIENTS``) read by every worker and by the CLI.

The topic holds one ``PatientSettings.to_json()`` per patient id (key); a tombstone (empty value)
unenrols. Brokers that do not compact it (the embedded one) are fine: it is read from the start
and the last value per key wins.

Every worker reads *all* partitions (it is small and every worker may need any patient's
recipients), so this is a ``TopicFollower`` outside the consumer group rather than a Faust
table: a global view, ready once it has caught up with the end offsets seen at start-up.
"""

from __future__ import annotations

import asyncio
import logging

from wearmon.stream.config import Settings
from wearmon.stream.core.patients import PatientDirectory, PatientSettings, SettingsError
from wearmon.stream.kafka import ensure_topics, make_producer
from wearmon.stream.views.follow import FollowedView, TopicFollower

log = logging.getLogger(__name__)


class PatientsView(FollowedView):
    """Live ``PatientDirectory`` of the patients topic; ``await wait_ready()`` before use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.directory = PatientDirectory()
        self.by_patient: dict[str, PatientSettings] = {}
        self.skipped = 0  # records that could not be applied
        self.follower = TopicFollower(settings, [settings.topics.patients],
                                      lambda _topic, key, value: self.apply(key, value),
                                      "patients-view")

    def get(self, patient_id: str) -> PatientSettings | None:
        return self.by_patient.get(patient_id)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the topic: upsert, or remove on a tombstone. Whatever else a record
        holds is skipped, counted and logged without the patient's id; this never raises (the
        follower would read the topic again from the start).

        >>> view = PatientsView.__new__(PatientsView); view.skipped = 0
        >>> view.directory, view.by_patient = PatientDirectory(), {}
        >>> for key, value in [(None, b"{}"), (b"\\xff", b"{}"), (b"p-1", b"[1]"), (b"p-1", b"x")]:
        ...     view.apply(key, value)
        >>> view.skipped, view.by_patient
        (4, {})
        """
        try:
            patient_id = key.decode() if key else ""
        except UnicodeDecodeError:
            patient_id = ""
        if not patient_id:
            self.skip("the record has no patient id as its key")
            return
        if not value:
            self.directory.remove(patient_id)
            self.by_patient.pop(patient_id, None)
            return
        try:
            one = PatientSettings.from_json(value)
            if one.patient_id != patient_id:
                raise SettingsError([("patient_id", "does not match the record key")])
            self.directory.upsert(one)
        except SettingsError as exc:
            self.skip(f"invalid settings ({fields_of(exc)})")
            return
        except Exception as exc:  # any other shape: contained to this record
            self.skip(f"unreadable settings ({type(exc).__name__})")
            return
        self.by_patient[patient_id] = one

    def skip(self, why: str) -> None:
        self.skipped += 1
        log.error("patients topic: a record was ignored: %s", why)


def fields_of(exc: SettingsError) -> str:
    """The settings fields at fault, by name only: a key the record made up (it may be a
    patient id) is an unknown field.

    >>> fields_of(SettingsError([("ward", ""), ("care_team.0.url", ""), ("p-0042", "")]))
    'ward, care_team, an unknown field'
    """
    known = PatientSettings.model_fields
    names = (where.split(".")[0] for where, _ in exc.problems)
    return ", ".join(dict.fromkeys(n if n in known else "an unknown field" for n in names))


async def read_patients(settings: Settings) -> dict[str, PatientSettings]:
    """All enrolled patients now (for the CLI)."""
    view = PatientsView(settings)
    try:
        await asyncio.wait_for(view.wait_ready(), 60)
    finally:
        await view.stop()
    return dict(view.by_patient)


async def publish_patient(settings: Settings, patient_id: str, value: bytes | None) -> None:
    """Write one settings document (or a tombstone) and wait for the broker's acknowledgement."""
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        await (await producer.send(settings.topics.patients, value or None,
                                   key=patient_id.encode()))
    finally:
        await producer.stop()
