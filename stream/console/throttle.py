"""Failed console logins per user name: after too many, that name's login waits a while.

Guessing a care-team password online is slowed to a handful of tries per lockout period. The
count is per user name (also for names that do not exist, so the answer does not tell them
apart) and kept in memory for a bounded number of names; a successful login clears it.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field


@dataclass
class LoginThrottle:
    """``max_failures`` failed logins of one name within ``lockout_s`` seconds lock its login
    until ``lockout_s`` after the last of them.

    >>> throttle = LoginThrottle(max_failures=3, lockout_s=60)
    >>> for t_s in (0, 1, 2):
    ...     throttle.failed("jo", t_s)
    >>> throttle.wait_s("jo", 3), throttle.wait_s("al", 3)
    (59.0, 0.0)
    >>> throttle.wait_s("jo", 62)  # the period is over: three more tries
    0.0
    >>> for t_s in (62, 63, 64):
    ...     throttle.failed("jo", t_s)
    >>> throttle.wait_s("jo", 64)
    60.0
    >>> throttle.succeeded("jo"); throttle.wait_s("jo", 64)
    0.0
    """

    max_failures: int = 5
    lockout_s: float = 300.0
    max_names: int = 10_000  # the oldest names are forgotten first
    failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def wait_s(self, name: str, now_s: float) -> float:
        """Seconds until ``name`` may try again (0: now)."""
        times = self.failures.get(name)
        if times is None or len(times) < self.max_failures:
            return 0.0
        return max(0.0, float(times[-1] + self.lockout_s - now_s))

    def failed(self, name: str, now_s: float) -> None:
        times = self.failures.pop(name, None) or deque(maxlen=self.max_failures)
        while times and times[0] <= now_s - self.lockout_s:
            times.popleft()
        times.append(now_s)
        self.failures[name] = times
        while len(self.failures) > self.max_names:
            self.failures.popitem(last=False)

    def succeeded(self, name: str) -> None:
        self.failures.pop(name, None)
