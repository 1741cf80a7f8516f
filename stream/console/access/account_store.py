"""The accounts file as the console sees it now: re-read whenever the file changes, so that an
account removed, given a new password or other wards counts from the next request on.

An unreadable file counts as no accounts (every session ends, nobody logs in) until it is fixed:
the console fails closed, and says so in its log.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from wearmon.stream.console.access.accounts import (
    Account,
    AccountError,
    end_sessions,
    load_accounts,
)

log = logging.getLogger(__name__)
Stamp = tuple[int, int, int]  # (mtime_ns, size, inode): the file changed when it changes


class AccountStore:
    def __init__(self, path: Path) -> None:
        """Read the file now: a missing or invalid file is an ``AccountError`` (no start)."""
        self.path = path
        self._accounts = load_accounts(path)
        self._stamp = self._stamp_now()

    def _stamp_now(self) -> Stamp | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def accounts(self) -> dict[str, Account]:
        """Every account, as the file says now."""
        stamp = self._stamp_now()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._accounts = load_accounts(self.path)
            except AccountError as exc:
                log.error("console accounts: %s; nobody can log in until it is fixed", exc)
                self._accounts = {}
        return self._accounts

    def get(self, username: str) -> Account | None:
        return self.accounts().get(username) if username else None

    def end_sessions(self, username: str) -> None:
        """End every session of the account (written to the file, so it outlives a restart)."""
        end_sessions(self.path, username)
