"""The next telemetry offset this worker expects, per partition: nothing skipped, ever.

Faust's own acknowledgements cannot carry "nothing lost" (faust-streaming 0.15.3: after a
rebalance, records fetched while changelogs recover can be dropped, gaps count as acknowledged
and the committed offset can creep past records that were never processed; upstream #596).
So the worker keeps its own truth: for every partition the next offset it expects. It processes
a partition's records only contiguously from there; a record beyond it (a hole) is not
processed, and the consumer is sent back to the expected offset; records before it were
processed already and are skipped. The expected offset is saved with the patients' state, in
the patient-state table under a key that Kafka's partitioner puts on the same partition, after
the state itself is flushed; on a new assignment it is restored with the table.

``Tracker`` is pure (no Faust). ``Offsets`` is its I/O shell for the agent: it admits each
batch, sends the consumer back after a hole or a stall, and skips records that retention
deleted before they were processed (counted, said loudly: the broker lost them, not the worker).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol

import orjson
from aiokafka.partitioner import murmur2

log = logging.getLogger(__name__)
STALL_S = 5.0  # records beyond the expected offset but none delivered for this long: go back

KEY_PREFIX = "__next-offset-"


@cache
def progress_key(partition: int, partitions: int) -> bytes:
    """A table key that Kafka's default partitioner puts on ``partition``.

    >>> key = progress_key(3, 4)
    >>> key.startswith(b"__next-offset-"), (murmur2(key) & 0x7FFFFFFF) % 4
    (True, 3)
    """
    n = 0
    while True:
        key = f"{KEY_PREFIX}{partition}-{n}".encode()
        if (murmur2(key) & 0x7FFFFFFF) % partitions == partition:
            return key
        n += 1


@dataclass(frozen=True, slots=True)
class Admission:
    """What to do with a batch: the positions to process, and where holes were found."""

    process: list[int]  # indices into the batch, in order
    holes: dict[int, int]  # partition → the offset to go back to
    skipped: int  # records seen before (already processed)


@dataclass
class Tracker:
    """Next expected offset per partition, over a bytes table (the patient-state table).

    >>> t = Tracker({}, partitions=2)
    >>> t.start(0, 10)
    >>> a = t.admit([(0, 9), (0, 10), (0, 11), (0, 13), (0, 14)])
    >>> a.process, a.holes, a.skipped
    ([1, 2], {0: 12}, 1)
    >>> t.expected[0]
    12
    """

    table: MutableMapping[bytes, bytes]
    partitions: int
    expected: dict[int, int] = field(default_factory=dict)

    def known(self, partition: int) -> bool:
        """Known in memory, or restored from the table (then kept in memory)."""
        if partition in self.expected:
            return True
        raw = self.table.get(progress_key(partition, self.partitions))
        if raw is None:
            return False
        self.expected[partition] = int(orjson.loads(raw)["next_offset"])
        return True

    def start(self, partition: int, offset: int) -> None:
        """A partition with no record yet starts at ``offset`` (its earliest)."""
        self.expected.setdefault(partition, offset)

    def admit(self, records: Sequence[tuple[int, int]]) -> Admission:
        """``records``: (partition, offset) in delivery order; every partition is known."""
        process: list[int] = []
        holes: dict[int, int] = {}
        skipped = 0
        for index, (partition, offset) in enumerate(records):
            if partition in holes:
                continue  # after a hole nothing of this partition is processed
            expected = self.expected[partition]
            if offset < expected:
                skipped += 1
            elif offset == expected:
                process.append(index)
                self.expected[partition] = offset + 1
            else:
                holes[partition] = expected
        return Admission(process, holes, skipped)

    def skip_deleted(self, partition: int, earliest: int) -> int:
        """The broker no longer holds records before ``earliest`` (retention deleted them before
        they were processed): expect ``earliest`` instead. Returns how many were lost.

        >>> t = Tracker({}, partitions=1); t.start(0, 5)
        >>> t.skip_deleted(0, 8), t.expected[0], t.skip_deleted(0, 3), t.expected[0]
        (3, 8, 0, 8)
        """
        lost = max(0, earliest - self.expected[partition])
        self.expected[partition] += lost
        return lost

    def save(self, offsets: Mapping[int, int]) -> None:
        """Record partitions' next offsets as they were after a batch (inside an agent, after
        the batch's state); the tracker may have admitted later records since."""
        for partition, offset in offsets.items():
            self.table[progress_key(partition, self.partitions)] = orjson.dumps(
                {"next_offset": offset})

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions moved to another worker: restore from the table if they come back."""
        for partition in partitions:
            self.expected.pop(partition, None)


class Consumer(Protocol):
    """What ``Offsets`` needs of the consumer, for one topic's partitions."""

    async def seek(self, partition: int, offset: int) -> None: ...

    async def earliest(self, partition: int) -> int: ...

    async def end(self, partition: int) -> int | None: ...

    def assigned(self) -> set[int]: ...


@dataclass
class Offsets:
    """The telemetry agent's offset bookkeeping: the tracker, and when each partition last
    delivered a record."""

    tracker: Tracker
    consumer: Consumer
    on_lost: Callable[[int], None] = lambda count: None  # records deleted unprocessed
    last_seen_s: dict[int, float] = field(default_factory=dict)
    rewinding: set[int] = field(default_factory=set)

    async def admit(self, records: Sequence[tuple[int, int]]) -> Admission:
        """(partition, offset) of a batch in delivery order → what to process; partitions with
        a hole are sent back to their expected offset."""
        await self.know({partition for partition, _ in records})
        admission = self.tracker.admit(records)
        for partition in admission.holes:
            await self.go_back(partition, "records missing before this batch")
        now_s = time.monotonic()
        for index in admission.process:
            partition = records[index][0]
            self.last_seen_s[partition] = now_s
            self.rewinding.discard(partition)
        return admission

    async def know(self, partitions: set[int]) -> None:
        """Partitions never seen start at their saved next offset, else at their earliest."""
        for partition in partitions:
            if not self.tracker.known(partition):
                self.tracker.start(partition, await self.consumer.earliest(partition))

    async def go_back(self, partition: int, why: str) -> None:
        """Back to the expected offset, or past records that retention deleted before they
        were processed."""
        lost = self.tracker.skip_deleted(partition, await self.consumer.earliest(partition))
        if lost:
            self.on_lost(lost)
            log.error("telemetry partition %d: %d records were deleted by the topic's retention "
                      "before they were processed; continuing after them", partition, lost)
        offset = self.tracker.expected[partition]
        if partition not in self.rewinding:
            log.warning("telemetry partition %d: %s; going back to offset %d", partition, why,
                        offset)
            self.rewinding.add(partition)
        await self.consumer.seek(partition, offset)

    async def check_stalls(self) -> dict[int, int]:
        """Records exist beyond the expected offset but none came for ``STALL_S``: go back.
        Returns the end offsets of the assigned partitions (asked of the broker if need be)."""
        now_s = time.monotonic()
        assigned = self.consumer.assigned()
        await self.know(assigned)  # also partitions that have delivered nothing at all yet
        ends: dict[int, int] = {}
        for partition in assigned:
            expected = self.tracker.expected[partition]
            end = await self.consumer.end(partition)
            idle_s = now_s - self.last_seen_s.get(partition, now_s)
            self.last_seen_s.setdefault(partition, now_s)
            if end is None:
                continue
            ends[partition] = end
            if end > expected and idle_s > STALL_S:
                self.last_seen_s[partition] = now_s
                await self.go_back(partition, "records not delivered")
        return ends

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions moved to another worker."""
        self.tracker.forget(partitions)
        for partition in partitions:
            self.last_seen_s.pop(partition, None)
