"""State snapshots: taken when a batch is processed, stored when its results are durable."""

from __future__ import annotations

from wearmon.stream.worker.state_cache import StateCache


def counter_cache(table: dict[bytes, bytes]) -> StateCache[int]:
    return StateCache(table, decode=lambda doc: int(doc["n"]), encode=lambda n: {"n": n},
                      what="counter")


def test_a_snapshot_holds_the_state_of_its_batch_not_what_came_after() -> None:
    table: dict[bytes, bytes] = {}
    cache = counter_cache(table)
    cache.put("p-0001", 1)
    first = cache.snapshot(["p-0001"])
    cache.put("p-0001", 2)  # the next batch, processed while the first is on its way
    first.store()
    assert table == {b"p-0001": b'{"n":1}'}


def test_an_evicted_patient_comes_back_with_the_newest_snapshot_until_it_is_stored() -> None:
    table: dict[bytes, bytes] = {}
    cache = counter_cache(table)
    cache.put("p-0001", 1)
    first = cache.snapshot(["p-0001"])
    cache.put("p-0001", 2)
    second = cache.snapshot(["p-0001"])
    first.store()  # an older snapshot stored: the newer one still stands for the patient
    cache.evict("p-0001")
    assert cache.get("p-0001", fresh=lambda: 0) == 2
    assert "p-0001" in cache and cache.patient_keys() == [b"p-0001"]
    second.store()
    cache.forget()
    assert cache.get("p-0001", fresh=lambda: 0) == 2
    assert table == {b"p-0001": b'{"n":2}'}


def test_a_new_patient_is_listed_before_its_first_snapshot_is_stored() -> None:
    cache = counter_cache({b"__next-offset-0-0": b"{}"})
    cache.put("p-0002", 5)
    cache.snapshot(["p-0002"])
    cache.evict("p-0002")
    assert cache.patient_keys() == [b"p-0002"]
    assert cache.everything() == {"p-0002": 5}
