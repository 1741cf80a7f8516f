"""Who sees what in the console: an account sees (and acts on) the alerts and patients of its
wards; an admin sees all. A patient's ward is the one in its settings (the patients topic); a
patient of no known ward is seen by admins only. Pure functions.

What an account may not see does not exist for it: the pages answer 404, as for an unknown
reference, and the live stream does not move when only such alerts change.

>>> from wearmon.stream.console.access.accounts import Account
>>> jo = Account("jo", "Jo", "", wards=("Ward 3",))
>>> patients = {p: PatientSettings.model_construct(patient_id=p, ward=w)
...             for p, w in (("p-0001", "Ward 3"), ("p-0002", "Ward 5"))}
>>> [p for p in ("p-0001", "p-0002", "p-0003") if sees_patient(jo, p, patients)]
['p-0001']
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from wearmon.stream.alerts.board import AlertCard
from wearmon.stream.console.access.accounts import Account
from wearmon.stream.core.patients import PatientSettings


def ward_of(patient: str, patients: Mapping[str, PatientSettings]) -> str:
    settings = patients.get(patient)
    return settings.ward if settings is not None else ""


def sees_patient(account: Account, patient: str, patients: Mapping[str, PatientSettings]
                 ) -> bool:
    return account.sees(ward_of(patient, patients))


def visible_cards(account: Account, cards: Iterable[AlertCard],
                  patients: Mapping[str, PatientSettings]) -> list[AlertCard]:
    return [c for c in cards if sees_patient(account, c.patient, patients)]


def visible_wards(account: Account, wards: Iterable[str]) -> list[str]:
    return [w for w in wards if account.sees(w)]


def board_mark(cards: Iterable[AlertCard]) -> str:
    """Changes whenever one of these alerts changes (or one comes or goes): what an account's
    live stream follows, so that it does not move for alerts the account cannot see."""
    digest = hashlib.blake2b(digest_size=16)
    for card in sorted(cards, key=lambda c: c.alert_id):
        digest.update(f"{card.alert_id}|{card.step}|{len(card.history)}|{len(card.pages)}|"
                      f"{card.state.value}\n".encode())
    return digest.hexdigest()
