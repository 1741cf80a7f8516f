"""Care-team accounts: named users with scrypt password hashes, kept in a JSON file.

The file (``WEARMON_CONSOLE_USERS_FILE``) is written by ``wearmon console add-user`` with mode
0600 and never holds a password, only ``scrypt$n$r$p$salt$hash``. Verification takes the same
time for unknown users and wrong passwords. Each account has the wards it may see and act on
(an admin sees all) and a session version: setting a new password or logging out raises it,
which ends every session of that account (``AccountStore``).

>>> hashed = hash_password("correct horse battery")
>>> verify_password("correct horse battery", hashed), verify_password("wrong", hashed)
(True, False)
>>> Account("jo", "Jo", hashed, wards=("Ward 3",)).sees("Ward 3"), Account("jo", "Jo", hashed,
...     wards=("Ward 3",)).sees("Ward 5"), Account("al", "Al", hashed, admin=True).sees("")
(True, False, True)
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,39}")
MIN_PASSWORD_CHARS = 10
_N, _R, _P = 2**14, 8, 1
ACCOUNTS_VERSION = 2


class AccountError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    name: str  # shown in the console and in the audit trail's display
    password: str  # scrypt$n$r$p$salt$hash
    wards: tuple[str, ...] = ()  # the wards it may see and act on
    admin: bool = False  # sees and acts on every ward (and patients of no known ward)
    session_version: int = 0  # raised to end every session of the account

    def sees(self, ward: str) -> bool:
        """May this account see (and act on) a patient of ``ward``?"""
        return self.admin or (bool(ward) and ward in self.wards)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, hashed: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = hashed.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY = hash_password(secrets.token_hex(16))  # unknown users cost the same time


def check_login(accounts: dict[str, Account], username: str, password: str) -> Account | None:
    account = accounts.get(username)
    ok = verify_password(password, account.password if account else _DUMMY)
    return account if ok and account is not None else None


def account_of(username: str, doc: dict[str, object]) -> Account:
    wards = doc.get("wards", [])
    if not isinstance(wards, list) or not all(isinstance(w, str) and w for w in wards):
        raise TypeError("wards")
    return Account(username, str(doc.get("name") or username), str(doc["password"]),
                   tuple(wards), doc.get("admin") is True, int(str(doc.get("sessions", 0))))


def load_accounts(path: Path) -> dict[str, Account]:
    """Read the accounts file; a missing or invalid file is an ``AccountError`` naming it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        accounts = {name: account_of(name, u) for name, u in doc["users"].items()}
    except FileNotFoundError:
        raise AccountError(
            f"no care-team accounts file at {path}: create one with `wearmon console add-user` "
            "or set WEARMON_CONSOLE_USERS_FILE") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AccountError(f"{path} is not a valid accounts file ({type(exc).__name__})") from None
    bad = [name for name in accounts if not USERNAME.fullmatch(name)]
    if bad:
        raise AccountError(f"{path}: invalid user names {bad}")
    return accounts


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the accounts file's lock (``add-user`` and the console's logout both write it)."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_accounts(path: Path, accounts: dict[str, Account]) -> None:
    doc = {"v": ACCOUNTS_VERSION,
           "users": {a.username: {"name": a.name, "password": a.password, "wards": list(a.wards),
                                  "admin": a.admin, "sessions": a.session_version}
                     for a in sorted(accounts.values(), key=lambda a: a.username)}}
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(doc, out, indent=2)
    tmp.replace(path)


def update_accounts(path: Path, change: Callable[[dict[str, Account]], None]) -> None:
    """Read, change and write the file under its lock (a missing file starts empty)."""
    with locked(path):
        accounts = load_accounts(path) if path.exists() else {}
        change(accounts)
        write_accounts(path, accounts)


def add_account(path: Path, username: str, password: str, name: str = "",
                wards: tuple[str, ...] = (), admin: bool = False) -> bool:
    """Add or replace one account (True: added); replacing it ends its sessions. The file is
    written with mode 0600."""
    if not USERNAME.fullmatch(username):
        raise AccountError("user name: 2-40 characters, lower-case letters, digits, . _ -")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"password: at least {MIN_PASSWORD_CHARS} characters")
    if any(not ward.strip() for ward in wards):
        raise AccountError("ward: a name, e.g. 'Ward 3'")
    added = False

    def put(accounts: dict[str, Account]) -> None:
        nonlocal added
        old = accounts.get(username)
        added = old is None
        accounts[username] = Account(
            username, name or username, hash_password(password),
            tuple(dict.fromkeys(w.strip() for w in wards)), admin,
            old.session_version + 1 if old else 0)

    update_accounts(path, put)
    return added


def remove_account(path: Path, username: str) -> bool:
    """Remove one account (True: it was there); its sessions end at once."""
    removed = False

    def drop(accounts: dict[str, Account]) -> None:
        nonlocal removed
        removed = accounts.pop(username, None) is not None

    update_accounts(path, drop)
    return removed


def end_sessions(path: Path, username: str) -> None:
    """Raise the account's session version: every session it has ends (logout)."""

    def bump(accounts: dict[str, Account]) -> None:
        old = accounts.get(username)
        if old is not None:
            accounts[username] = replace(old, session_version=old.session_version + 1)

    update_accounts(path, bump)
