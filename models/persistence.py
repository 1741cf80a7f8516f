"""How long a condition has held, over arrays of readings: the clinical bands' timers.

A condition "persists" at a reading once it has held at every reading since a start at least
``persist_ms`` earlier, or ``sudden_ms`` earlier when the run began with a sudden change
(``sudden`` at its first reading: e.g. heart rate jumping past a limit, as an arrhythmia starts,
rather than drifting there, as with exertion); a critical reading counts once the condition has
held ``critical_ms`` (0: at once, e.g. SpO2; heart rate waits one median window, so that a
burst of artefact shorter than that never pages anyone). A reading where it does not hold ends
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
    sudden: bool = False  # the run in progress began with a sudden change

    def to_state(self) -> list[int]:
        return [self.since_ms, self.last_ms, int(self.sudden)]

    @classmethod
    def from_state(cls, state: list[int]) -> Timer:
        """Restore (a state saved before ``sudden`` existed has two numbers)."""
        return cls(int(state[0]), int(state[1]), bool(state[2]) if len(state) > 2 else False)


def _run_start_index(timer: Timer, t_ms: IntArray, active: BoolArray,
                     persist_ms: int) -> IntArray:
    """The index of the reading where each reading's run began (-1: carried from ``timer``)."""
    n = len(t_ms)
    previous_t = np.empty(n, dtype=np.int64)
    previous_t[0] = timer.last_ms
    previous_t[1:] = t_ms[:-1]
    previous_active = np.empty(n, dtype=bool)
    previous_active[0] = timer.since_ms >= 0
    previous_active[1:] = active[:-1]
    silence = t_ms - previous_t > 2 * persist_ms
    starts = active & (~previous_active | silence)
    start_index: IntArray = np.maximum.accumulate(np.where(starts, np.arange(n), -1))
    return start_index


def _since(timer: Timer, t_ms: IntArray, start_index: IntArray) -> IntArray:
    since: IntArray = np.where(start_index >= 0, t_ms[np.maximum(start_index, 0)],
                               timer.since_ms)
    return since


def run_since(timer: Timer, t_ms: IntArray, active: BoolArray, persist_ms: int) -> IntArray:
    """When the run each reading belongs to began (carried from ``timer``), without updating
    the timer; meaningful where ``active``.

    >>> run_since(Timer(10, 20), np.array([30, 40, 500]), np.array([1, 0, 1], bool), 45).tolist()
    [10, 10, 500]
    """
    return _since(timer, t_ms, _run_start_index(timer, t_ms, active, persist_ms))


def persisted(timer: Timer, t_ms: IntArray, active: BoolArray, critical: BoolArray,
              persist_ms: int, critical_ms: int = 0, sudden: BoolArray | None = None,
              sudden_ms: int | None = None) -> BoolArray:
    """Whether the condition persists (or is critical for ``critical_ms``) at each reading;
    updates ``timer``.

    >>> timer = Timer()
    >>> t = np.arange(0, 60_000, 15_000)
    >>> persisted(timer, t, np.array([1, 1, 1, 1], bool), np.zeros(4, bool), 45_000).tolist()
    [False, False, False, True]
    >>> timer
    Timer(since_ms=0, last_ms=45000, sudden=False)
    >>> # carried into the next upload, broken by one normal reading
    >>> persisted(timer, t + 60_000, np.array([1, 0, 1, 1], bool), np.zeros(4, bool),
    ...           45_000).tolist()
    [True, False, False, False]
    >>> critical = np.array([0, 1, 1, 1], bool)  # critical from the second reading
    >>> persisted(Timer(), t, np.ones(4, bool), critical, 120_000, critical_ms=30_000).tolist()
    [False, False, True, True]
    >>> jump = np.array([1, 0, 0, 0], bool)  # the run starts with a sudden change
    >>> persisted(Timer(), t, np.ones(4, bool), np.zeros(4, bool), 120_000, 0, jump,
    ...           30_000).tolist()
    [False, False, True, True]
    """
    if len(t_ms) == 0:
        return np.zeros(0, dtype=bool)
    start_index = _run_start_index(timer, t_ms, active, persist_ms)
    since = _since(timer, t_ms, start_index)
    held = t_ms - since
    need = np.full(len(t_ms), persist_ms, dtype=np.int64)
    if sudden is not None and sudden_ms is not None:
        began_sudden = np.where(start_index >= 0, sudden[np.maximum(start_index, 0)],
                                timer.sudden)
        need = np.where(began_sudden, sudden_ms, persist_ms)
        timer.sudden = bool(began_sudden[-1]) and bool(active[-1])
    result: BoolArray = active & ((critical & (held >= critical_ms)) | (held >= need))
    if active[-1]:
        timer.since_ms, timer.last_ms = int(since[-1]), int(t_ms[-1])
    else:
        timer.since_ms = timer.last_ms = -1
    return result
