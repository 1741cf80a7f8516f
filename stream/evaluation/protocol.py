"""The evaluation protocol: every patient is scored with settings chosen without that patient.

A fitted setting (a threshold, a grid point) is chosen from a small grid by a criterion on the
pooled counts of the *other* patients (leave-one-patient-out); the patient is then scored with
it. The setting that ships is the criterion's choice on all patients. Detectors with nothing
fitted are scored with their fixed defaults. Counts are additive (seconds, days, events), so
pooling is a sum.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

LEAVE_ONE_OUT = "leave-one-patient-out"
FIXED = "fixed-defaults"

Counts = dict[str, float]
Setting = TypeVar("Setting", bound=Hashable)


def pooled(per_patient: Mapping[str, Mapping[Setting, Counts]], patients: Iterable[str]
           ) -> dict[Setting, Counts]:
    """Sum each setting's counts over ``patients``.

    >>> pooled({"a": {1: {"tp": 2.0}}, "b": {1: {"tp": 3.0}}}, ["a", "b"])
    {1: {'tp': 5.0}}
    """
    total: dict[Setting, Counts] = {}
    for p in patients:
        for setting, counts in per_patient[p].items():
            acc = total.setdefault(setting, {})
            for k, v in counts.items():
                acc[k] = acc.get(k, 0.0) + v
    return total


def leave_one_out(
    per_patient: Mapping[str, Mapping[Setting, Counts]],
    choose: Callable[[Mapping[Setting, Counts]], Setting],
) -> dict[str, Setting]:
    """For each patient, the setting ``choose`` picks on the pooled counts of all the others.

    >>> per = {"a": {0.1: {"hit": 1.0}, 0.2: {"hit": 0.0}},
    ...        "b": {0.1: {"hit": 0.0}, 0.2: {"hit": 1.0}},
    ...        "c": {0.1: {"hit": 0.0}, 0.2: {"hit": 2.0}}}
    >>> best = lambda counts: max(counts, key=lambda s: counts[s]["hit"])
    >>> leave_one_out(per, best)  # c prefers 0.2, but without c it is a tie: the first, 0.1
    {'a': 0.2, 'b': 0.2, 'c': 0.1}
    """
    names = list(per_patient)
    return {p: choose(pooled(per_patient, [q for q in names if q != p])) for p in names}


def best_balanced_accuracy(counts: Mapping[Setting, Counts]) -> Setting:
    """The setting with the highest (sensitivity + specificity) / 2 of time (tp/fn/tn/fp),
    the first in grid order on ties."""

    def score(c: Counts) -> float:
        sens = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
        spec = c["tn"] / (c["tn"] + c["fp"]) if c["tn"] + c["fp"] else 0.0
        return (sens + spec) / 2

    return max(counts, key=lambda s: score(counts[s]))


def most_sensitive_within(max_false_per_30d: float) -> Callable[[Mapping[Any, Counts]], Any]:
    """A criterion: the highest sensitivity (``detected``/``events``) among settings with at
    most ``max_false_per_30d`` false alert-days per 30 monitored days (``false_days``,
    ``monitored_days``), fewer false alerts on ties; the fewest false alerts if none qualifies.

    >>> choose = most_sensitive_within(0.5)
    >>> choose({2.0: {"detected": 9, "events": 10, "false_days": 3, "monitored_days": 60},
    ...         3.0: {"detected": 6, "events": 10, "false_days": 1, "monitored_days": 60},
    ...         4.0: {"detected": 6, "events": 10, "false_days": 0, "monitored_days": 60}})
    4.0
    """

    def choose(counts: Mapping[Any, Counts]) -> Any:
        def false_rate(c: Counts) -> float:
            return 30 * c["false_days"] / c["monitored_days"] if c["monitored_days"] else 0.0

        ok = [s for s in counts if false_rate(counts[s]) <= max_false_per_30d]
        if not ok:
            return min(counts, key=lambda s: false_rate(counts[s]))
        return max(ok, key=lambda s: (counts[s]["detected"], -false_rate(counts[s])))

    return choose
