"""Is each ward being watched? The care team's view of the pipeline itself. Pure.

The telemetry topic is partitioned by patient; a partition whose oldest unprocessed reading has
waited longer than the grace period is *delayed since* that reading's arrival. A ward is delayed
when any of its patients' partitions is (since the earliest of them): readings after that time
are not yet judged, whatever the reason (worker stopped, stuck, or far behind). The worker's own
timers cannot tell this when the worker is down, so the console works it out from Kafka alone
(``console.watch``) and tells each ward's on-call once, with an all-clear when it recovers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from wearmon.stream.core.patients import PatientSettings, Recipient
from wearmon.stream.kafka import key_partition


@dataclass(frozen=True, slots=True)
class PartitionProgress:
    """One telemetry partition as the broker sees it."""

    partition: int
    end: int  # next offset to be written
    committed: int  # next offset the workers' group will process
    first_waiting_ms: int | None  # arrival of the record at ``committed`` (None: none waits)


def delayed_since(progress: PartitionProgress, now_ms: int, grace_ms: int) -> int | None:
    """When the partition's oldest unprocessed reading arrived, if it has waited too long.

    >>> delayed_since(PartitionProgress(0, 10, 7, 1_000), now_ms=200_000, grace_ms=60_000)
    1000
    >>> delayed_since(PartitionProgress(0, 10, 10, None), now_ms=200_000, grace_ms=60_000)
    """
    if progress.committed >= progress.end or progress.first_waiting_ms is None:
        return None
    return progress.first_waiting_ms if now_ms - progress.first_waiting_ms > grace_ms else None


def ward_of(settings: PatientSettings) -> str:
    return settings.ward or "no ward"


def ward_delays(partition_since: Mapping[int, int], patients: Iterable[PatientSettings],
                partitions: int) -> dict[str, int]:
    """Ward → since when monitoring of some of its patients is delayed.

    >>> from wearmon.stream.core.patients import default_settings
    >>> p = default_settings("p-0001").model_copy(update={"ward": "Ward A"})
    >>> ward_delays({key_partition(b"p-0001", 4): 5_000}, [p], 4)
    {'Ward A': 5000}
    """
    out: dict[str, int] = {}
    for settings in patients:
        since = partition_since.get(key_partition(settings.patient_id.encode(), partitions))
        if since is not None:
            ward = ward_of(settings)
            out[ward] = min(since, out.get(ward, since))
    return out


def on_call(ward: str, patients: Iterable[PatientSettings]) -> list[tuple[str, Recipient]]:
    """The ward's on-call: the first person on the care team of its patients (each distinct
    one once), with a patient whose settings name them (to look their address up)."""
    seen: dict[str, tuple[str, Recipient]] = {}
    for settings in patients:
        if ward_of(settings) == ward and settings.care_team:
            first = settings.care_team[0]
            seen.setdefault(first.id, (settings.patient_id, first))
    return list(seen.values())


@dataclass
class Episodes:
    """Each ward's current delay (if any): what opened and what cleared since the last look."""

    since: dict[str, int] = field(default_factory=dict)  # ward → delayed since

    def update(self, delays: Mapping[str, int]) -> tuple[dict[str, int], dict[str, int]]:
        """(opened: ward → since, cleared: ward → since) against the last look.

        >>> e = Episodes()
        >>> e.update({"A": 5}), e.update({"A": 5}), e.update({})
        (({'A': 5}, {}), ({}, {}), ({}, {'A': 5}))
        """
        opened = {ward: since for ward, since in delays.items() if ward not in self.since}
        cleared = {ward: since for ward, since in self.since.items() if ward not in delays}
        for ward in cleared:
            del self.since[ward]
        self.since.update(opened)
        return opened, cleared
