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

``Tracker`` is pure (no Faust): the agent feeds it each batch and acts on its answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import orjson
from aiokafka.partitioner import murmur2

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


def is_progress_key(key: bytes) -> bool:
    return key.startswith(KEY_PREFIX.encode())


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
