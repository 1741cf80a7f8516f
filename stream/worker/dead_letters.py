"""Dead letters of the worker's care-team agents: a record of the alert-commands, alerts or
outbox topic that cannot be read goes to the dead-letter topic (field, reason, its bytes) and is
counted, and the agent goes on with the next one. Telemetry has its own path
(``telemetry.durable``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson

from wearmon.stream.core.issues import Issue
from wearmon.stream.core.records import Unreadable
from wearmon.stream.core.validation import Rejection
from wearmon.stream.worker.metrics import UNREADABLE
from wearmon.stream.worker.paging import Topic

log = logging.getLogger(__name__)


def unreadable_letter(what: str, error: Unreadable, raw: bytes | None, received_ms: int
                      ) -> Rejection:
    """The dead letter of an unreadable ``what`` (e.g. ``alert_command``); any ``raw`` shape.

    >>> error = Unreadable("$", "empty", "a tombstone")
    >>> letter = unreadable_letter("alert_command", error, None, 5)
    >>> letter.to_record(10)["reason"], letter.to_record(10)["issues"][0]["detail"]
    ('empty', 'not a readable alert_command: a tombstone')
    """
    return Rejection((Issue(error.field, error.reason,
                            f"not a readable {what}: {error.detail}"),), raw, received_ms)


@dataclass(frozen=True, slots=True)
class DeadLetters:
    topic: Topic
    max_original_bytes: int

    async def send(self, what: str, error: Unreadable, raw: bytes | None,
                   received_ms: int) -> None:
        """Log (no content), count and publish one dead letter, acknowledged."""
        letter = unreadable_letter(what, error, raw, received_ms)
        log.error("%s dead-lettered: %s %s", what, letter.field, letter.reason)
        UNREADABLE.labels(what, letter.reason).inc()
        await (await self.topic.send(key=None,
                                     value=orjson.dumps(letter.to_record(self.max_original_bytes))))
