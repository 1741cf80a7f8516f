"""The batch on its way to the sinks while the next one is processed: at most one.

Making a batch durable (InfluxDB, the broker's acknowledgements, the changelog flush) is mostly
waiting for other processes; the worker processes the next batch meanwhile. The order that
carries "nothing lost" stays the same for every batch (``durable``: results, then the
patients' state as encoded right after processing, then offsets), and batches become durable
one after the other: a batch's commit starts only after the one before has finished. A
rebalance waits for the batch in flight (``settle``) before the partitions are given up.

A commit that fails stops the worker (``fail_stop``), as it did when it ran inside the agent:
nothing of that batch or a later one is recorded as processed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from wearmon.stream.worker.faust_io import fail_stop


class InFlight:
    """One commit at a time, in the background.

    >>> async def demo():
    ...     done = []
    ...     async def commit(n):
    ...         await asyncio.sleep(0)
    ...         done.append(n)
    ...     in_flight = InFlight()
    ...     in_flight.start(commit(1))
    ...     await in_flight.settle()
    ...     in_flight.start(commit(2))
    ...     await in_flight.settle()
    ...     return done
    >>> asyncio.run(demo())
    [1, 2]
    """

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None

    def start(self, commit: Coroutine[Any, Any, None]) -> None:
        """Run ``commit`` in the background; the one before must have settled."""
        if self.task is not None and not self.task.done():
            commit.close()
            raise RuntimeError("a commit is still in flight")
        self.task = asyncio.ensure_future(commit)
        self.task.add_done_callback(stop_on_error)

    async def settle(self) -> None:
        """Wait until the commit in flight, if any, has finished (raises what it raised).
        Cancelling the caller does not cancel the commit."""
        if self.task is not None:
            await asyncio.shield(self.task)

    async def finish(self, timeout_s: float) -> bool:
        """The worker stops (SIGTERM): let the commit in flight finish, so that its batch is
        not processed again after the restart; past ``timeout_s`` (the broker does not answer)
        it is abandoned: its offsets are not saved, and its messages are processed again (the
        same points). True when it finished."""
        if self.task is None or self.task.done():
            return True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self.task), timeout_s)
        if not self.task.done():
            self.task.cancel()
            return False
        return True


def stop_on_error(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        fail_stop("making a batch durable", error)
