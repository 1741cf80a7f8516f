"""The batch in flight: one commit at a time, errors surfaced, cancellation only on request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wearmon.stream.worker.telemetry import in_flight as module
from wearmon.stream.worker.telemetry.in_flight import InFlight


async def blocked(until: asyncio.Event, done: list[str], name: str) -> None:
    await until.wait()
    done.append(name)


async def test_a_second_commit_cannot_start_before_the_first_settled() -> None:
    release, done = asyncio.Event(), []
    flight = InFlight()
    flight.start(blocked(release, done, "first"))
    second = blocked(release, done, "second")
    with pytest.raises(RuntimeError, match="still in flight"):
        flight.start(second)
    release.set()
    await flight.settle()
    flight.start(blocked(release, done, "third"))
    await flight.settle()
    assert done == ["first", "third"]


async def test_settle_raises_what_the_commit_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    stopped: list[tuple[str, BaseException | None]] = []
    monkeypatch.setattr(module, "fail_stop", lambda what, error=None: stopped.append((what, error)))

    async def refused() -> None:
        raise ConnectionError("broker refused")

    flight = InFlight()
    flight.start(refused())
    with pytest.raises(ConnectionError):
        await flight.settle()
    await asyncio.sleep(0)  # the done callback runs on the next turn of the loop
    assert [(what, type(error)) for what, error in stopped] == [
        ("making a batch durable", ConnectionError)]


async def test_a_failed_commit_stops_the_worker_even_if_nobody_waits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stopped = asyncio.Event()
    monkeypatch.setattr(module, "fail_stop", lambda what, error=None: stopped.set())

    async def refused() -> None:
        raise ConnectionError("broker refused")

    InFlight().start(refused())
    await asyncio.wait_for(stopped.wait(), 5)


async def test_a_cancelled_waiter_leaves_the_commit_running() -> None:
    release, done = asyncio.Event(), []
    flight = InFlight()
    flight.start(blocked(release, done, "commit"))
    waiter = asyncio.ensure_future(flight.settle())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await flight.settle()
    assert done == ["commit"]


async def test_finishing_waits_for_the_commit_in_flight() -> None:
    release, done = asyncio.Event(), []
    flight = InFlight()
    flight.start(blocked(release, done, "commit"))
    finishing = asyncio.ensure_future(flight.finish(timeout_s=5))
    await asyncio.sleep(0)
    assert not finishing.done()
    release.set()
    assert await finishing is True and done == ["commit"]


async def test_a_commit_that_does_not_finish_in_time_is_abandoned_without_stopping_the_worker(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stopped: list[Any] = []
    monkeypatch.setattr(module, "fail_stop", lambda *args: stopped.append(args))
    release, done = asyncio.Event(), []
    flight = InFlight()
    flight.start(blocked(release, done, "commit"))
    await asyncio.sleep(0)
    assert await flight.finish(timeout_s=0.05) is False
    with pytest.raises(asyncio.CancelledError):
        await flight.settle()
    release.set()
    await asyncio.sleep(0)
    assert done == [] and stopped == []
