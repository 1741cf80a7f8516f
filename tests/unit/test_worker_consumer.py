"""The worker's consumer runs a delivery at once, and only a delivery that has to wait goes on
through mode's ``wait_first`` (``worker.faust_consumer``): same results, same interruptions.

The consumer is the one the worker's app creates; no broker is contacted (nothing is started).
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest

from wearmon.stream.tools.workers import settings_from
from wearmon.stream.worker.app import new_app


def consumer() -> Any:
    app = new_app(settings_from({"WEARMON_BROKER": "kafka://127.0.0.1:1"}))
    return app.consumer


async def delivered(value: int) -> int:
    return value


async def test_a_delivery_that_does_not_wait_runs_at_once() -> None:
    worker_consumer = consumer()
    ran_in: list[asyncio.Task[Any] | None] = []

    async def deliver() -> int:
        ran_in.append(asyncio.current_task())
        return 7

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the unstarted suspend_flow.wait() is closed, not leaked
        result = await worker_consumer.wait_first(deliver(), worker_consumer.suspend_flow.wait())
    assert (result.results, result.stopped) == ([7], False)
    assert ran_in == [asyncio.current_task()]  # no task of its own


async def test_a_delivery_that_waits_goes_on_until_it_is_done() -> None:
    worker_consumer = consumer()
    room = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def deliver() -> str:
        steps.append("started")
        value = await room  # a full channel
        steps.append("resumed")
        await asyncio.sleep(0)  # a bare yield to the loop on the way
        return f"put {value}"

    waiting = asyncio.ensure_future(worker_consumer.wait_first(
        deliver(), worker_consumer.suspend_flow.wait()))
    await asyncio.sleep(0)
    assert steps == ["started"] and not waiting.done()
    room.set_result("event")
    result = await asyncio.wait_for(waiting, 5)
    assert steps == ["started", "resumed"]
    assert result.results == ["put event"]


async def test_a_waiting_delivery_is_interrupted_when_the_flow_is_suspended() -> None:
    worker_consumer = consumer()
    cancelled = asyncio.Event()

    async def deliver() -> None:
        try:
            await asyncio.get_running_loop().create_future()  # never room
        except asyncio.CancelledError:
            cancelled.set()
            raise

    waiting = asyncio.ensure_future(worker_consumer.wait_first(
        deliver(), worker_consumer.suspend_flow.wait()))
    await asyncio.sleep(0)
    worker_consumer.stop_flow()  # a rebalance
    result = await asyncio.wait_for(waiting, 5)
    assert result.stopped is False and result.results == [True]  # the suspend_flow wait won
    await asyncio.wait_for(cancelled.wait(), 5)  # and the delivery was cancelled where it waited


async def test_an_error_in_a_delivery_is_raised_at_once_or_after_waiting() -> None:
    worker_consumer = consumer()

    async def fails_at_once() -> None:
        raise ValueError("at once")

    async def fails_later() -> None:
        await asyncio.sleep(0)
        raise ValueError("later")

    for deliver, text in ((fails_at_once, "at once"), (fails_later, "later")):
        with pytest.raises(ValueError, match=text):
            await worker_consumer.wait_first(deliver(), worker_consumer.suspend_flow.wait())


async def test_while_the_flow_is_suspended_deliveries_race_it_as_in_faust() -> None:
    worker_consumer = consumer()
    worker_consumer.stop_flow()
    result = await worker_consumer.wait_first(delivered(3), worker_consumer.suspend_flow.wait())
    assert result.stopped is False and len(result.results) >= 1
