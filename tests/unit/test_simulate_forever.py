"""``simulate --forever``: the same patients go on, event time never passes the wall clock."""

from __future__ import annotations

import time

import orjson

from wearmon.stream.datasets.simulator import Simulator
from wearmon.stream.tools.producer import cursor_at

HOUR_S = 3600


def test_extend_continues_the_same_patients_without_gaps_or_repeated_ids() -> None:
    sim = Simulator(4, 1_700_000_000_000, 2 * HOUR_S, seed=5, event_every_s=900)
    first = [orjson.loads(v) for _, v, _ in sim.uploads_until(sim.end_ms)]
    for _ in range(3):
        sim.extend(HOUR_S)
    later = [orjson.loads(v) for _, v, _ in sim.uploads_until(sim.end_ms)]
    uploads = first + later
    assert len({u["upload_id"] for u in uploads}) == len(uploads)
    assert {u["patient_id"] for u in later} == {p.patient_id for p in sim.patients}
    for patient in sim.patients:
        times = [s["t_ms"] for u in uploads if u["patient_id"] == patient.patient_id
                 for s in u["samples"]]
        assert times == sorted(set(times))
        assert max(times) > sim.start_ms + 4 * HOUR_S * 1000  # it went on after the first window
    # over events are forgotten: memory stays bounded when extended forever
    assert all(e.end_ms > sim.start_ms + 2 * HOUR_S * 1000 for p in sim.patients for e in p.events)


def test_forever_sends_history_at_speed_then_follows_the_clock() -> None:
    now_ms = int(time.time() * 1000)
    sim = Simulator(1, now_ms - HOUR_S * 1000, HOUR_S)
    assert cursor_at(sim, 60, 30, forever=True) == sim.start_ms + 30 * 60 * 1000  # history
    assert abs(cursor_at(sim, 60, 120, forever=True) - time.time() * 1000) < 5_000  # caught up
    assert cursor_at(sim, 0, 0, forever=True) <= time.time() * 1000
    assert cursor_at(sim, 60, 120, forever=False) == sim.end_ms  # not forever: stops at the end
