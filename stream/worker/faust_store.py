"""The worker's table store: Faust's RocksDB store (``rocksdict``), with each key kept in the
database of the partition its bytes hash to.

Why RocksDB: with ``memory://`` every restart replays every patient's state from the changelog
(55 s for 100,000 patients); RocksDB keeps the tables on disk with the changelog offset they
hold, so a restart on the same state directory replays only what changed since, and the state
of patients not seen lately stays on disk instead of in memory.

Why a subclass: Faust's store writes a key into the database of the partition of the event
being processed (``current_event()``), not of the key. Our tables are written with
``use_partitioner`` (the changelog record goes to the partition Kafka's partitioner picks for
the key, the patient's telemetry partition), from a batch of several partitions and from the
task that makes a batch durable, so the current event can be another partition's: the key would
land in a database that is closed when that partition moves. Here the partition is always the
key's, and lookups go straight to it.
"""

from __future__ import annotations

from typing import Any

from faust import stores
from faust.stores.rocksdb import Store

from wearmon.stream.kafka import key_partition

SCHEME = "wearmon-rocksdb"
#: Small memtables and caches: many partitions' databases share one process.
OPTIONS: dict[str, Any] = {
    "driver": "rocksdict",
    "write_buffer_size": 2 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 4 * 1024 * 1024,
}


class KeyPartitionedStore(Store):
    """``rocksdb://`` (rocksdict) where a key lives in its own partition's database."""

    def partition_of(self, key: bytes) -> int:
        return key_partition(key, self.table.partitions or self.app.conf.topic_partitions)

    def _set(self, key: bytes, value: bytes | None) -> None:
        partition = self.partition_of(key)
        self._key_index[key] = partition
        self._db_for_partition(partition).put(key, value)

    def _get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db_for_partition(self.partition_of(key)).get(key)
        return value

    def _contains(self, key: bytes) -> bool:
        return self._get(key) is not None

    def _del(self, key: bytes) -> None:
        self._db_for_partition(self.partition_of(key)).delete(key)


def register() -> str:
    """Make ``wearmon-rocksdb://`` known to Faust; returns the store URL."""
    stores.STORES.aliases[SCHEME] = f"{__name__}:KeyPartitionedStore"
    return f"{SCHEME}://"
