"""How long a sink's writes have been failing, and why: one warning when an outage starts, then
one every ``REPEAT_WARNING_S``, and one when it ends.

Every sink that waits out its database or server (``wearmon sink``'s InfluxDB writer, ``wearmon
fhir-export``'s FHIR client) keeps one; ``/ready`` and ``/metrics`` read it. Messages are the
errors' own texts, which never quote the data.

>>> watch = OutageWatch("InfluxDB")
>>> watch.since is None
True
>>> watch.retrying(ConnectionError("InfluxDB unreachable"))
>>> watch.retries, str(watch.last), watch.since is not None
(1, 'InfluxDB unreachable', True)
>>> watch.ended()
>>> watch.since, watch.last
(None, None)
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

REPEAT_WARNING_S = 30.0


class OutageWatch:
    """The current outage of one service (``since`` is monotonic time; None: writes work)."""

    def __init__(self, service: str, holding: str = "holding the batch and retrying") -> None:
        self.service = service
        self.holding = holding
        self.since: float | None = None
        self.last: BaseException | None = None  # the outage's latest failure
        self.retries = 0
        self.warned_at = 0.0

    def failed(self, error: BaseException) -> None:
        """A failure seen without a retry (a probe, the start-up check): recorded, not warned."""
        self.last = error
        if self.since is None:
            self.since = time.monotonic()

    def retrying(self, error: BaseException | None) -> None:
        """Before each retry: count it, record it, warn now and then."""
        self.retries += 1
        now = time.monotonic()
        if error is not None:
            self.last = error
        if self.since is None:
            self.since = now
        if now - self.warned_at >= REPEAT_WARNING_S:
            self.warned_at = now
            log.warning("%s; %s (outage for %.0f s)", error, self.holding, now - self.since)

    def ended(self) -> None:
        """A write (or probe) went through: the outage, if any, is over."""
        if self.since is not None:
            log.warning("%s is back after %.0f s", self.service, time.monotonic() - self.since)
        self.since, self.last = None, None

    def seconds(self) -> float:
        """How long the outage has lasted (0 when there is none)."""
        return 0.0 if self.since is None else time.monotonic() - self.since
