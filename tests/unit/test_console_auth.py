"""Console accounts, sessions and CSRF tokens, and its settings (pure code, no services)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from wearmon.stream.console.accounts import (
    AccountError,
    add_account,
    check_login,
    load_accounts,
)
from wearmon.stream.console.sessions import Session, SessionKeys
from wearmon.stream.console.web_auth import local_path

PASSWORD = "correct horse battery"


def test_accounts_file_holds_hashes_only_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    assert add_account(path, "nurse.jo", PASSWORD, "Jo Smith (RN)")
    assert not add_account(path, "nurse.jo", PASSWORD + "!", "Jo Smith (RN)")  # new password
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert PASSWORD not in text and json.loads(text)["users"]["nurse.jo"]["password"].startswith(
        "scrypt$")
    accounts = load_accounts(path)
    assert check_login(accounts, "nurse.jo", PASSWORD + "!") == accounts["nurse.jo"]
    assert check_login(accounts, "nurse.jo", PASSWORD) is None  # the old password is gone
    assert check_login(accounts, "nobody", PASSWORD + "!") is None


@pytest.mark.parametrize(("user", "password", "message"), [
    ("Jo", PASSWORD, "user name"), ("x", PASSWORD, "user name"), ("jo", "short", "password"),
])
def test_bad_accounts_are_refused(tmp_path: Path, user: str, password: str,
                                  message: str) -> None:
    with pytest.raises(AccountError, match=message):
        add_account(tmp_path / "users.json", user, password)


def test_a_missing_accounts_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(AccountError, match="WEARMON_CONSOLE_USERS_FILE"):
        load_accounts(tmp_path / "none.json")


def test_sessions_are_signed_expire_and_change_at_login() -> None:
    keys = SessionKeys(b"k" * 32)
    anonymous = Session.anonymous(now_s=1_000, ttl_s=60)
    logged_in = Session.login("nurse.jo", 3, now_s=1_000, ttl_s=60)
    assert logged_in.sid != anonymous.sid  # no session fixation
    cookie = keys.encode(logged_in)
    assert keys.decode(cookie, now_s=1_059) == logged_in
    assert keys.decode(cookie, now_s=1_061) is None
    forged = cookie.replace(cookie.split(".")[0], keys.encode(
        Session(logged_in.sid, "admin", 9_999)).split(".")[0])
    assert keys.decode(forged, now_s=1_000) is None
    assert SessionKeys(b"j" * 32).decode(cookie, now_s=1_000) is None  # another key


def test_csrf_tokens_belong_to_one_session() -> None:
    keys = SessionKeys(b"k" * 32)
    one, other = Session.anonymous(0, 60), Session.anonymous(0, 60)
    assert keys.csrf_ok(one, keys.csrf_token(one))
    assert not keys.csrf_ok(other, keys.csrf_token(one))
    assert not keys.csrf_ok(one, "")


@pytest.mark.parametrize(("target", "expected"), [
    ("/alerts/abc", "/alerts/abc"), ("//evil.example/x", "/"), ("https://evil.example", "/"),
    ("", "/"),
])
def test_after_login_only_local_paths(target: str, expected: str) -> None:
    assert local_path(target) == expected


def test_the_console_refuses_to_start_without_its_secret(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "WEARMON_BROKER": "kafka://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-m", "wearmon", "console"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "WEARMON_CONSOLE_SECRET_KEY" in done.stderr
    short = {**env, "WEARMON_CONSOLE_SECRET_KEY": "too-short"}
    done = subprocess.run([sys.executable, "-m", "wearmon", "console"], env=short, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "at least 32 characters" in done.stderr
