"""The tests' one way to poll another process (tests/waiting.py)."""

from __future__ import annotations

import asyncio
import doctest
import time

import pytest

import tests.waiting
from tests.waiting import await_until, wait_until


def test_the_docstring_examples_run() -> None:
    result = doctest.testmod(tests.waiting)
    assert result.attempted >= 3 and result.failed == 0


def test_the_answer_that_until_accepts_is_returned() -> None:
    answers = iter([{"uploads": 1}, {"uploads": 3}, {"uploads": 5}])
    seen = wait_until(lambda: next(answers), "three uploads", 5, interval_s=0,
                      until=lambda health: health["uploads"] >= 3)
    assert seen == {"uploads": 3}


def test_a_timeout_says_what_was_awaited_the_last_answer_and_the_detail() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError) as failure:
        wait_until(lambda: {"uploads": 2}, "the worker to handle 9 messages", 0.2,
                   until=lambda health: health["uploads"] >= 9, interval_s=0.05,
                   detail=lambda: "worker log tail")
    assert time.monotonic() - started >= 0.2
    assert str(failure.value) == ("timed out after 0.2 s waiting for the worker to handle 9 "
                                  "messages; last answer: {'uploads': 2}\nworker log tail")


def test_a_bare_no_is_not_repeated_in_the_message() -> None:
    with pytest.raises(AssertionError, match=r"^timed out after 0\.01 s waiting for it$"):
        wait_until(lambda: False, "it", 0.01, interval_s=0)


def test_an_assertion_in_the_check_fails_the_wait_at_once() -> None:
    def process_alive() -> bool:
        raise AssertionError("the worker exited")

    started = time.monotonic()
    with pytest.raises(AssertionError, match="the worker exited"):
        wait_until(process_alive, "the worker", 60)
    assert time.monotonic() - started < 5


async def test_await_until_lets_the_event_loop_run_between_polls() -> None:
    done = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, done.set)
    assert await await_until(done.is_set, "the event", 5, interval_s=0.01)


async def test_await_until_awaits_a_coroutine_check_and_times_out_like_wait_until() -> None:
    async def rows() -> list[int]:
        await asyncio.sleep(0)
        return [1]

    assert await await_until(rows, "a row", 5) == [1]
    with pytest.raises(AssertionError, match=r"waiting for two rows; last answer: \[1\]$"):
        await await_until(rows, "two rows", 0.05, until=lambda found: len(found) >= 2,
                          interval_s=0.01)
