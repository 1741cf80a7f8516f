"""Care-team accounts: named users with scrypt password hashes, kept in a JSON file.

The file (``WEARMON_CONSOLE_USERS_FILE``) is written by ``wearmon console add-user`` with mode
0600 and never holds a password, only ``scrypt$n$r$p$salt$hash``. Verification takes the same
time for unknown users and wrong passwords.

>>> hashed = hash_password("correct horse battery")
>>> verify_password("correct horse battery", hashed), verify_password("wrong", hashed)
(True, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,39}")
MIN_PASSWORD_CHARS = 10
_N, _R, _P = 2**14, 8, 1
ACCOUNTS_VERSION = 1


class AccountError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    name: str  # shown in the console and in the audit trail's display
    password: str  # scrypt$n$r$p$salt$hash


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


def load_accounts(path: Path) -> dict[str, Account]:
    """Read the accounts file; a missing or invalid file is an ``AccountError`` naming it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        users = doc["users"]
        accounts = {name: Account(name, str(u.get("name") or name), str(u["password"]))
                    for name, u in users.items()}
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


def add_account(path: Path, username: str, password: str, name: str = "") -> bool:
    """Add or replace one account (True: added); the file is written with mode 0600."""
    if not USERNAME.fullmatch(username):
        raise AccountError("user name: 2-40 characters, lower-case letters, digits, . _ -")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"password: at least {MIN_PASSWORD_CHARS} characters")
    accounts = load_accounts(path) if path.exists() else {}
    added = username not in accounts
    accounts[username] = Account(username, name or username, hash_password(password))
    doc = {"v": ACCOUNTS_VERSION,
           "users": {a.username: {"name": a.name, "password": a.password}
                     for a in sorted(accounts.values(), key=lambda a: a.username)}}
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(doc, out, indent=2)
    tmp.replace(path)
    return added
