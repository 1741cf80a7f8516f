"""One batch of alert events and delivery results → the conditional updates to make (pure).

* An alert event becomes its alert's Flag; of several events of one alert in a batch only the
  latest (the highest ``step``) is written: the Flag is the alert as it stands.
* A delivery result becomes a Communication when it is a care-team message about an alert
  that was sent; the rest (patient messages, failures, duplicates, deferrals, the console's
  monitoring notices) is counted as ``skipped``.
* Every write is a conditional update on the resource's identifier
  (``PUT [base]/Flag?identifier=system|value``): written again after a crash or a replay, it
  updates the same resource and never creates a second one.
* A record that cannot be read is counted and logged without its content; one whose resource
  the FHIR model refuses (a bug, not the server's refusal) is dead-lettered as ``fhir_invalid``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from wearmon.stream.alerts.lifecycle import AlertEvent
from wearmon.stream.core.issues import Issue
from wearmon.stream.core.validation import Rejection
from wearmon.stream.export.resources import (
    ALERT_SYSTEM,
    MESSAGE_SYSTEM,
    communication,
    flag,
    not_exported,
)
from wearmon.stream.notify.deliver import DeliveryResult
from wearmon.stream.sinks.decode import Received

log = logging.getLogger(__name__)
ALERTS, DELIVERIES = "alerts", "deliveries"


def escaped(value: str) -> str:
    """A token search value with FHIR's search escapes (``\\``, ``|``, ``,``, ``$``).

    >>> escaped("p-0001:bradycardia:0|nurse|2")
    'p-0001:bradycardia:0\\\\|nurse\\\\|2'
    """
    for char in ("\\", "|", ",", "$"):
        value = value.replace(char, f"\\{char}")
    return value


@dataclass(frozen=True, slots=True)
class Write:
    """One conditional update: the resource, and where it came from (for a dead letter)."""

    resource_type: str  # "Flag" or "Communication"
    system: str
    value: str  # the identifier: the alert id, or the message's idempotency key
    body: dict[str, Any]
    patient: str
    received_ms: int

    @property
    def original(self) -> bytes:
        """The resource as sent (what a dead letter keeps)."""
        return orjson.dumps(self.body)

    @property
    def search(self) -> dict[str, str]:
        """The query of the conditional update (``identifier=system|value``)."""
        return {"identifier": f"{self.system}|{escaped(self.value)}"}


@dataclass
class Planned:
    writes: list[Write] = field(default_factory=list)
    dead_letters: list[Rejection] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # why a record wrote nothing

    def skip(self, reason: str, record: Received, error: BaseException | None = None) -> None:
        self.skipped[reason] += 1
        if error is not None:
            log.error("%s record %s/%d@%d not exported: %s (%s)", reason, record.topic,
                      record.partition, record.offset, "unreadable", type(error).__name__)


def invalid_letter(record: Received, error: ValidationError, patient: str) -> Rejection:
    """A resource the FHIR model refused: the element and the model's message (no values)."""
    first = error.errors()[0]
    element = ".".join(str(part) for part in first["loc"]) or "$"
    detail = (f"the FHIR model refused the resource made of this record at {element}: "
              f"{first['type']}")
    return Rejection((Issue(element, "fhir_invalid", detail),), record.value or b"",
                     record.timestamp_ms, patient)


def plan(records: Sequence[Received], kinds: dict[str, str]) -> Planned:
    """The writes of a batch; ``kinds`` maps topic names to ``alerts`` or ``deliveries``."""
    out = Planned()
    flags: dict[str, tuple[int, Write]] = {}  # alert id → (step, its latest Flag)
    messages: dict[str, Write] = {}  # idempotency key → Communication
    for record in records:
        kind = kinds[record.topic]
        try:
            doc = orjson.loads(record.value or b"")
            item = (AlertEvent.from_json(doc) if kind == ALERTS
                    else DeliveryResult.from_json(doc))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            out.skip(f"unreadable_{kind}", record, error)
            continue
        try:
            if isinstance(item, AlertEvent):
                latest = flags.get(item.alert_id)
                if latest is None or item.step >= latest[0]:
                    flags[item.alert_id] = (item.step, Write(
                        "Flag", ALERT_SYSTEM, item.alert_id, flag(item), item.patient,
                        record.timestamp_ms))
                out.skipped["superseded_event"] += latest is not None
            elif (why := not_exported(item)) is None:
                messages[item.key] = Write("Communication", MESSAGE_SYSTEM, item.key,
                                           communication(item), item.patient,
                                           record.timestamp_ms)
            else:
                out.skipped[why] += 1
        except ValidationError as error:
            out.dead_letters.append(invalid_letter(record, error, item.patient))
    out.writes = [write for _, write in flags.values()] + list(messages.values())
    return out
