"""Waiting for another process: the one way the tests poll.

A test that watches another process (its HTTP endpoints, its log file, InfluxDB) has no event to
await across the process boundary, so it asks again every ``interval_s`` until the answer is
good, and fails after ``timeout_s`` with a message that says what was awaited, the last answer
and any ``detail`` (e.g. the worker's log tail):

* ``wait_until(check, what, timeout_s)`` for plain functions (sleeps between polls);
* ``await await_until(check, what, timeout_s)`` in coroutines (``asyncio.sleep`` between polls;
  ``check`` may be a plain function or return an awaitable).

Both return the first answer that ``until`` accepts: by default the first truthy one. A check may
also assert (e.g. that the process it polls is still alive): that fails the wait at once.

Loops that *read* a stream (a queue, a terminal, a Kafka consumer) with a timeout per read are not
polls and do not use these.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_INTERVAL_S = 0.25


def wait_until(
    check: Callable[[], T], what: str, timeout_s: float, *,
    until: Callable[[T], object] = bool, interval_s: float = DEFAULT_INTERVAL_S,
    detail: Callable[[], object] | None = None,
) -> T:
    """Call ``check()`` until ``until(answer)`` holds and return that answer.

    >>> answers = iter([0, 0, 7])
    >>> wait_until(lambda: next(answers), "a non-zero answer", 5, interval_s=0.01)
    7
    >>> wait_until(lambda: [], "rows", 0.05, interval_s=0.01, detail=lambda: "log tail")
    Traceback (most recent call last):
    ...
    AssertionError: timed out after 0.05 s waiting for rows; last answer: []
    log tail
    """
    deadline = time.monotonic() + timeout_s
    while True:
        answer = check()
        if until(answer):
            return answer
        if time.monotonic() >= deadline:
            raise AssertionError(timed_out(what, timeout_s, answer, detail))
        time.sleep(interval_s)


async def await_until(
    check: Callable[[], T | Awaitable[T]], what: str, timeout_s: float, *,
    until: Callable[[T], object] = bool, interval_s: float = DEFAULT_INTERVAL_S,
    detail: Callable[[], object] | None = None,
) -> T:
    """``wait_until`` for coroutines: the event loop runs on between polls.

    >>> async def count_to_three() -> int:
    ...     calls.append(1)
    ...     return len(calls)
    >>> calls: list[int] = []
    >>> asyncio.run(await_until(count_to_three, "three calls", 5, until=lambda n: n == 3,
    ...                         interval_s=0.01))
    3
    """
    deadline = time.monotonic() + timeout_s
    while True:
        answer: Any = check()
        if inspect.isawaitable(answer):
            answer = await answer
        if until(answer):
            return answer
        if time.monotonic() >= deadline:
            raise AssertionError(timed_out(what, timeout_s, answer, detail))
        await asyncio.sleep(interval_s)


def timed_out(what: str, timeout_s: float, answer: object,
              detail: Callable[[], object] | None) -> str:
    """The failure message: what was awaited, the last answer (unless a bare yes/no), detail."""
    message = f"timed out after {timeout_s:g} s waiting for {what}"
    if answer is not None and not isinstance(answer, bool):
        message += f"; last answer: {answer!r}"
    return message + (f"\n{detail()}" if detail is not None else "")
