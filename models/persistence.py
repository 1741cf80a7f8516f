"""How long a condition has held, over arrays of readings: the clinical bands' timers.

A condition "persists" at a reading once it has held at every reading since a start at least
``persist_ms`` earlier (critical readings count at once). A reading where it does not hold ends
the run; so does a silence of more than twice ``persist_ms`` between two readings where it holds.
The timer carries across uploads in a ``Timer``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wearmon.models.base import BoolArray, IntArray


@dataclass(slots=True)
class Timer:
    """The run in progress at the end of the last block: its start and its last reading."""

    since_ms: int = -1
    last_ms: int = -1

    def to_state(self) -> list[int]:
        return [self.since_ms, self.last_ms]

    @classmethod
    def from_state(cls, state: list[int]) -> Timer:
        return cls(int(state[0]), int(state[1]))


def run_since(timer: Timer, t_ms: IntArray, active: BoolArray, persist_ms: int) -> IntArray:
    """When the run each reading belongs to began (carried from ``timer``), without updating
    the timer; meaningful where ``active``.

    >>> run_since(Timer(10, 20), np.array([30, 40, 500]), np.array([1, 0, 1], bool), 45).tolist()
    [10, 10, 500]
    """
    n = len(t_ms)
    previous_t = np.empty(n, dtype=np.int64)
    previous_t[0] = timer.last_ms
    previous_t[1:] = t_ms[:-1]
    previous_active = np.empty(n, dtype=bool)
    previous_active[0] = timer.since_ms >= 0
    previous_active[1:] = active[:-1]
    silence = t_ms - previous_t > 2 * persist_ms
    starts = active & (~previous_active | silence)
    start_index = np.maximum.accumulate(np.where(starts, np.arange(n), -1))
    since: IntArray = np.where(start_index >= 0, t_ms[np.maximum(start_index, 0)],
                               timer.since_ms)
    return since


def persisted(timer: Timer, t_ms: IntArray, active: BoolArray, critical: BoolArray,
              persist_ms: int) -> BoolArray:
    """Whether the condition persists (or is critical) at each reading; updates ``timer``.

    >>> timer = Timer()
    >>> t = np.arange(0, 60_000, 15_000)
    >>> persisted(timer, t, np.array([1, 1, 1, 1], bool), np.zeros(4, bool), 45_000).tolist()
    [False, False, False, True]
    >>> timer
    Timer(since_ms=0, last_ms=45000)
    >>> # carried into the next upload, broken by one normal reading
    >>> persisted(timer, t + 60_000, np.array([1, 0, 1, 1], bool), np.zeros(4, bool),
    ...           45_000).tolist()
    [True, False, False, False]
    """
    if len(t_ms) == 0:
        return np.zeros(0, dtype=bool)
    since = run_since(timer, t_ms, active, persist_ms)
    result: BoolArray = active & (critical | (t_ms - since >= persist_ms))
    if active[-1]:
        timer.since_ms, timer.last_ms = int(since[-1]), int(t_ms[-1])
    else:
        timer.since_ms = timer.last_ms = -1
    return result
