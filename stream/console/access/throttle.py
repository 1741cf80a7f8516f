"""Failed console logins per (user name, client address): after a few, that pair's tries are
slowed down, more with each further failure.

Guessing a care-team password online is slowed to a handful of tries, then one try per growing
wait. The count is per name *and* address, so an attacker elsewhere slows only their own tries:
the real user, from their own address, still logs in. Counts are kept for names that do not
exist too (the answer does not tell them apart), in memory, for a bounded number of pairs; a
successful login clears its pair, and an hour without failures forgets it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

Pair = tuple[str, str]  # (user name, client address)
FORGET_S = 3600.0
MAX_DOUBLINGS = 16


@dataclass(slots=True)
class Failures:
    count: int
    last_s: float


@dataclass
class LoginThrottle:
    """After ``max_failures`` failed logins of one pair, its next try waits ``first_wait_s``
    after the last failure, and each further failure doubles the wait up to ``max_wait_s``.

    >>> throttle = LoginThrottle(max_failures=3, first_wait_s=30, max_wait_s=100)
    >>> for t_s in (0, 1, 2):
    ...     throttle.failed("jo", "10.0.0.9", t_s)
    >>> throttle.wait_s("jo", "10.0.0.9", 3), throttle.wait_s("jo", "10.0.0.7", 3)
    (29.0, 0.0)
    >>> throttle.failed("jo", "10.0.0.9", 32); throttle.wait_s("jo", "10.0.0.9", 32)
    60.0
    >>> throttle.failed("jo", "10.0.0.9", 92); throttle.wait_s("jo", "10.0.0.9", 92)
    100.0
    >>> throttle.succeeded("jo", "10.0.0.9"); throttle.wait_s("jo", "10.0.0.9", 92)
    0.0
    """

    max_failures: int = 5
    first_wait_s: float = 30.0
    max_wait_s: float = 300.0
    max_pairs: int = 10_000  # the oldest pairs are forgotten first
    failures: OrderedDict[Pair, Failures] = field(default_factory=OrderedDict)

    def wait_s(self, name: str, address: str, now_s: float) -> float:
        """Seconds until ``name`` may try again from ``address`` (0: now)."""
        failures = self.failures.get((name, address))
        if failures is None or failures.count < self.max_failures:
            return 0.0
        doublings = min(failures.count - self.max_failures, MAX_DOUBLINGS)
        delay_s = min(self.max_wait_s, self.first_wait_s * 2**doublings)
        return max(0.0, float(failures.last_s + delay_s - now_s))

    def failed(self, name: str, address: str, now_s: float) -> None:
        failures = self.failures.pop((name, address), None)
        if failures is None or now_s - failures.last_s >= FORGET_S:
            failures = Failures(0, now_s)
        failures.count += 1
        failures.last_s = now_s
        self.failures[(name, address)] = failures
        while len(self.failures) > self.max_pairs:
            self.failures.popitem(last=False)

    def succeeded(self, name: str, address: str) -> None:
        self.failures.pop((name, address), None)
