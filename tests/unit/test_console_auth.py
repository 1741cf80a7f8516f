"""Console accounts, sessions and CSRF tokens, and its settings (pure code, no services)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from click.testing import CliRunner

from wearmon.stream.cli import main
from wearmon.stream.config import load_settings
from wearmon.stream.console.access.account_store import AccountStore
from wearmon.stream.console.access.accounts import (
    AccountError,
    add_account,
    check_login,
    end_sessions,
    load_accounts,
    remove_account,
)
from wearmon.stream.console.access.sessions import Session, SessionKeys
from wearmon.stream.console.access.throttle import LoginThrottle
from wearmon.stream.console.access.web_auth import client_address, local_path

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
    ("/alerts/abc", "/alerts/abc"), ("/?ward=Ward%203", "/?ward=Ward%203"),
    ("//evil.example/x", "/"), ("https://evil.example", "/"), ("", "/"),
    ("/\t/evil.example/", "/"), ("/\n/evil.example/", "/"), ("/\r/evil.example/", "/"),
    ("/\\evil.example/", "/"), ("\\\\evil.example/", "/"), ("/\x00/evil.example", "/"),
    ("/\u2028/evil.example", "/"), ("/ /evil.example", "/"), ("evil.example", "/"),
    ("javascript:alert(1)", "/"), ("/%09/evil.example/", "/%09/evil.example/"),
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


def test_accounts_have_wards_an_admin_flag_and_a_session_version(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    add_account(path, "nurse.jo", PASSWORD, "Jo", wards=("Ward 3", " Ward 5 ", "Ward 3"))
    add_account(path, "charge", PASSWORD, "Chris", admin=True)
    jo, charge = load_accounts(path)["nurse.jo"], load_accounts(path)["charge"]
    assert jo.wards == ("Ward 3", "Ward 5") and not jo.admin and jo.session_version == 0
    assert jo.sees("Ward 3") and not jo.sees("Ward 7") and not jo.sees("")
    assert charge.sees("Ward 7") and charge.sees("")  # an admin also sees unknown wards
    add_account(path, "nurse.jo", PASSWORD + "!", "Jo", wards=("Ward 3",))  # a new password
    assert load_accounts(path)["nurse.jo"].session_version == 1
    end_sessions(path, "nurse.jo")  # logout
    assert load_accounts(path)["nurse.jo"].session_version == 2
    assert remove_account(path, "nurse.jo") and not remove_account(path, "nurse.jo")
    assert list(load_accounts(path)) == ["charge"]
    with pytest.raises(AccountError, match="ward"):
        add_account(path, "nurse.al", PASSWORD, wards=(" ",))


def test_an_accounts_file_of_the_first_version_loads_with_no_wards(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"v": 1, "users": {"jo": {"name": "Jo", "password": "x"}}}))
    jo = load_accounts(path)["jo"]
    assert jo.wards == () and not jo.admin and jo.session_version == 0 and not jo.sees("Ward 3")
    path.write_text(json.dumps({"users": {"jo": {"password": "x", "wards": "Ward 3"}}}))
    with pytest.raises(AccountError, match="not a valid accounts file"):
        load_accounts(path)


def test_the_console_sees_account_changes_at_once_and_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    add_account(path, "nurse.jo", PASSWORD, wards=("Ward 3",))
    store = AccountStore(path)
    assert store.get("nurse.jo") is not None and store.get("") is None
    add_account(path, "nurse.al", PASSWORD, wards=("Ward 5",))
    assert store.get("nurse.al") is not None
    remove_account(path, "nurse.jo")
    assert store.get("nurse.jo") is None
    path.write_text("{not json")
    assert store.accounts() == {}  # an unreadable file: nobody, until it is fixed
    path.unlink()
    assert store.accounts() == {}
    add_account(path, "nurse.al", PASSWORD, wards=("Ward 5",))
    assert list(store.accounts()) == ["nurse.al"]


def test_failed_logins_slow_one_address_with_a_growing_wait() -> None:
    throttle = LoginThrottle(max_failures=2, first_wait_s=10, max_wait_s=60)
    t_s = 0.0
    waits = []
    for _ in range(7):
        throttle.failed("jo", "10.0.0.66", t_s)
        waits.append(throttle.wait_s("jo", "10.0.0.66", t_s))
        t_s += waits[-1]
        assert throttle.wait_s("jo", "10.0.0.5", t_s) == 0.0  # the real user, elsewhere
    assert waits == [0.0, 10.0, 20.0, 40.0, 60.0, 60.0, 60.0]
    throttle.failed("jo", "10.0.0.66", t_s + 3600)  # an hour later: forgotten, counts anew
    assert throttle.wait_s("jo", "10.0.0.66", t_s + 3600) == 0.0


def test_pairs_beyond_the_bound_are_forgotten_oldest_first() -> None:
    throttle = LoginThrottle(max_failures=1, max_pairs=2)
    for address in ("a", "b", "c"):
        throttle.failed("jo", address, 0)
    assert [throttle.wait_s("jo", a, 0) > 0 for a in ("a", "b", "c")] == [False, True, True]


def test_add_user_needs_wards_or_admin(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    base = ["console", "add-user", "nurse.jo", "--file", str(path), "--password", PASSWORD]
    refused = CliRunner().invoke(main, base)
    assert refused.exit_code == 2 and "--ward" in refused.output
    added = CliRunner().invoke(main, [*base, "--ward", "Ward 3", "--ward", "Ward 5"])
    assert added.exit_code == 0, added.output
    assert "added nurse.jo (Ward 3, Ward 5)" in added.output
    assert load_accounts(path)["nurse.jo"].wards == ("Ward 3", "Ward 5")
    admin = CliRunner().invoke(main, ["console", "add-user", "charge", "--admin", "--file",
                                      str(path), "--password", PASSWORD])
    assert admin.exit_code == 0 and load_accounts(path)["charge"].admin
    removed = CliRunner().invoke(main, ["console", "remove-user", "nurse.jo", "--file",
                                        str(path)])
    assert removed.exit_code == 0 and "nurse.jo" not in load_accounts(path)
    again = CliRunner().invoke(main, ["console", "remove-user", "nurse.jo", "--file", str(path)])
    assert again.exit_code == 1 and "no account nurse.jo" in again.output


@pytest.mark.parametrize(("trust", "expected"), [("false", "peer"), ("true", "10.0.0.7")])
def test_the_client_address_is_the_proxys_last_entry_only_when_trusted(
        trust: str, expected: str) -> None:
    app = web.Application()
    app["console"] = SimpleNamespace(settings=load_settings(
        {"WEARMON_CONSOLE_TRUST_FORWARDED_FOR": trust}))
    request = make_mocked_request("GET", "/login", app=app,
                                  headers={"X-Forwarded-For": "6.6.6.6, 10.0.0.7"})
    peer = request.remote or ""
    assert client_address(request) == (peer if expected == "peer" else expected)
