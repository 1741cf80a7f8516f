"""Per-patient state kept in a Faust table (the durable copy) with an in-memory cache in front.

The table holds one JSON document per patient id and survives restarts and rebalances through
its changelog; the cache holds the decoded objects of the patients this worker is working on.
State reaches the table in two steps: ``snapshot`` encodes it as it is right after a batch was
processed, and ``store`` writes that snapshot to the table once the batch's results are durable,
while the next batch may already be changing the cached objects. Until it is stored, a snapshot
is the patient's last saved state (``restore`` reads it first). A document that cannot be
decoded (other version, corrupt) is replaced by fresh state, with a warning that names no
patient.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

log = logging.getLogger(__name__)
T = TypeVar("T")


def compact(raw: bytes) -> bytes:
    """An exact-size copy: orjson's output keeps its larger working buffer (about 9 KiB for a
    3.5 KiB patient state), and the table holds every patient's bytes for as long as it runs."""
    return memoryview(raw).tobytes()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The encoded state of some patients at one moment, for their table once it may be stored."""

    cache: StateCache[Any]
    values: tuple[tuple[bytes, bytes], ...]  # (key, encoded state)

    def store(self) -> None:
        self.cache.store(self.values)


class StateCache(Generic[T]):
    """Decoded per-patient state over a bytes → bytes table (a Faust table, or a dict in tests).

    >>> cache = StateCache({}, decode=lambda doc: doc["n"], encode=lambda n: {"n": n}, what="n")
    >>> cache.get("p-0001", fresh=lambda: 1)
    1
    >>> cache.put("p-0001", 2); cache.save(["p-0001"]); cache.forget()
    >>> cache.get("p-0001", fresh=lambda: 0), "p-0001" in cache
    (2, True)

    Saving a state that did not change writes nothing (no changelog record):

    >>> class Writes(dict):
    ...     count = 0
    ...     def __setitem__(self, key, value):
    ...         Writes.count += 1; super().__setitem__(key, value)
    >>> cache = StateCache(Writes(), decode=lambda d: d["n"], encode=lambda n: {"n": n}, what="n")
    >>> cache.put("p-0001", 1); cache.save(["p-0001"]); cache.save(["p-0001"]); Writes.count
    1

    A snapshot not yet stored is what an evicted patient comes back with:

    >>> cache = StateCache({}, decode=lambda d: d["n"], encode=lambda n: {"n": n}, what="n")
    >>> cache.put("p-0001", 3); snapshot = cache.snapshot(["p-0001"]); cache.put("p-0001", 4)
    >>> cache.evict("p-0001"); cache.peek("p-0001"), cache.table
    (3, {})
    >>> snapshot.store(); cache.table
    {b'p-0001': b'{"n":3}'}
    """

    def __init__(
        self,
        table: MutableMapping[bytes, bytes],
        decode: Callable[[dict[str, Any]], T],
        encode: Callable[[T], dict[str, Any]],
        what: str,
    ) -> None:
        self.table = table
        self._decode = decode
        self._encode = encode
        self._what = what
        self._cache: dict[str, T] = {}  # least recently used first
        self._pending: dict[bytes, bytes] = {}  # snapshots not yet stored, by key
        self.evicted = 0

    def __contains__(self, patient_id: str) -> bool:
        return patient_id in self._cache or self._saved(patient_id.encode()) is not None

    def __len__(self) -> int:
        return len(self._cache)

    def get(self, patient_id: str, fresh: Callable[[], T]) -> T:
        """The patient's state: cached, else restored from the table, else ``fresh()``."""
        state = self._cache.pop(patient_id, None)  # re-inserted: the newest in the order
        if state is None:
            state = self._restore(patient_id)
            if state is None:
                state = fresh()
        self._cache[patient_id] = state
        return state

    def shrink(self, limit: int) -> list[str]:
        """Evict the least recently used patients beyond ``limit`` (their state is in the
        table: call after a save); returns the evicted ids.

        >>> cache = StateCache({}, decode=dict, encode=dict, what="x")
        >>> for p in "abcde":
        ...     _ = cache.get(p, fresh=dict)
        >>> _ = cache.get("a", fresh=dict)  # used again: the newest
        >>> cache.shrink(2), [p for p, _ in cache.cached()]
        (['b', 'c', 'd'], ['e', 'a'])
        """
        evicted = list(self._cache)[:max(0, len(self._cache) - limit)]
        for patient_id in evicted:
            del self._cache[patient_id]
        self.evicted += len(evicted)
        return evicted

    def put(self, patient_id: str, state: T) -> None:
        self._cache[patient_id] = state

    def peek(self, patient_id: str) -> T | None:
        """The patient's state if there is one, without caching it."""
        state = self._cache.get(patient_id)
        return state if state is not None else self._restore(patient_id)

    def cached(self) -> Iterator[tuple[str, T]]:
        return iter(list(self._cache.items()))

    def patient_keys(self) -> list[bytes]:
        """The saved patient keys (not the worker's own ``__``-prefixed bookkeeping keys)."""
        keys = dict.fromkeys([*self._pending, *self.table.keys()])
        return [key for key in keys if not key.startswith(b"__")]

    def everything(self) -> dict[str, T]:
        """Every patient's state on this worker: the cache, else the table."""
        states = dict(self._cache)
        for key in self.patient_keys():
            patient_id = key.decode()
            if patient_id not in states:
                state = self._restore(patient_id)
                if state is not None:
                    states[patient_id] = state
        return states

    def load_all(self) -> None:
        """Cache the state of every patient in the table (e.g. after partitions were assigned)."""
        for key in self.patient_keys():
            patient_id = key.decode()
            if patient_id not in self._cache:
                state = self._restore(patient_id)
                if state is not None:
                    self._cache[patient_id] = state

    def snapshot(self, patient_ids: Iterable[str]) -> Snapshot:
        """The cached state of these patients, encoded now (their last saved state from now on)."""
        values = []
        for patient_id in patient_ids:
            key = patient_id.encode()
            value = compact(orjson.dumps(self._encode(self._cache[patient_id])))
            self._pending[key] = value
            values.append((key, value))
        return Snapshot(self, tuple(values))

    def store(self, values: Iterable[tuple[bytes, bytes]]) -> None:
        """Write a snapshot to the table (inside an agent), where it changed."""
        for key, value in values:
            if self.table.get(key) != value:  # unchanged: its changelog already holds it
                self.table[key] = value
            if self._pending.get(key) is value:  # no newer snapshot of this patient
                del self._pending[key]

    def save(self, patient_ids: Iterable[str]) -> None:
        """Snapshot and store at once."""
        self.snapshot(patient_ids).store()

    def evict(self, patient_id: str) -> None:
        """Drop the cached copy; the next ``get`` restores the last saved state."""
        self._cache.pop(patient_id, None)

    def forget(self) -> None:
        """Partitions moved: restore from the (recovered) table when next needed."""
        self._cache.clear()
        self._pending.clear()

    def _saved(self, key: bytes) -> bytes | None:
        raw = self._pending.get(key)
        return raw if raw is not None else self.table.get(key)

    def _restore(self, patient_id: str) -> T | None:
        raw = self._saved(patient_id.encode())
        if raw is None:
            return None
        try:
            return self._decode(orjson.loads(raw))
        except (ValueError, KeyError, TypeError):  # incl. state version errors
            log.warning("%s could not be restored; starting afresh", self._what)
            return None
