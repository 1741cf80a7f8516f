"""The worker's Kafka consumer: Faust's aiokafka consumer with two changes, both for speed.

* **Fetch wait.** Faust hard-codes a 1,500 ms fetch wait in its aiokafka driver. Kafka answers a
  fetch as soon as data is there, so the wait only matters when idle; a broker that holds every
  fetch for the whole wait (the embedded test broker does) adds it to every hop through the
  worker. The worker's consumer asks for ``WEARMON_FETCH_MAX_WAIT_MS`` instead.
* **Deliveries run at once.** Faust's drain loop hands each message to the agents' channels with
  ``wait_first(deliver(message), suspend_flow.wait())`` (mode's ``Service.wait_first``): four
  tasks and three turns of the event loop per message, two fifths of what a Faust agent that
  does nothing but decode costs here. A delivery nearly always finishes without waiting (there
  is room in the channel), so this consumer runs it at once and gives the loop one turn. Only a
  delivery that has to wait (a full channel) goes on through ``wait_first`` as before, so a
  rebalance or a stop still interrupts it.

Both are set on one app's transport before the worker starts (the consumer is created then).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine, Generator
from typing import Any

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer
from mode.services import WaitArgT, WaitResults
from mode.utils.times import Seconds


class Resumed:
    """The rest of a coroutine that was started by hand and stopped at ``pending`` (what it
    yielded to the event loop): awaiting this goes on with it as if a task had run it from the
    start; values, exceptions and cancellation are passed through."""

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: object) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        pending = self.pending
        while True:
            try:
                try:
                    sent = yield pending
                except BaseException as exc:  # cancellation included: it is the coroutine's
                    pending = self.coro.throw(exc)
                else:
                    pending = self.coro.send(sent)
            except StopIteration as done:
                return done.value


def close_unstarted(coros: tuple[WaitArgT, ...]) -> None:
    for coro in coros:
        if inspect.iscoroutine(coro):
            coro.close()


def use_worker_consumer(app: faust.App, fetch_max_wait_ms: int) -> None:
    """Give ``app``'s transport the worker's consumer (above). Call before the worker starts."""

    class WorkerConsumerThread(AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            # aiokafka reads this when it starts its fetcher (pinned versions, see the lock file)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class WorkerConsumer(Consumer):
        def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
            return WorkerConsumerThread(self, loop=self.loop, beacon=self.beacon)

        async def wait_first(self, *coros: WaitArgT, timeout: Seconds | None = None
                             ) -> WaitResults:
            """``wait_first`` that runs its first coroutine at once, up to where it waits."""
            if timeout is not None:
                return await super().wait_first(*coros, timeout=timeout)
            first = coros[0] if coros else None
            if not inspect.iscoroutine(first) or self.should_stop or self.suspend_flow.is_set():
                return await super().wait_first(*coros)
            try:
                pending = first.send(None)
            except StopIteration as done:
                close_unstarted(coros[1:])
                await asyncio.sleep(0)  # the agents take their events in this turn
                return WaitResults([first], [done.value], False)
            except BaseException:
                close_unstarted(coros[1:])
                raise
            return await super().wait_first(Resumed(first, pending), *coros[1:])

    app.transport.Consumer = WorkerConsumer  # type: ignore[misc]  # this app's transport only
