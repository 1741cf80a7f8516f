"""Who may use the console, and for how long, against the real console (its own process) on the
embedded broker: the alerts it shows are records on the alerts topic, as the workers write them.

* logout ends the session: a copied cookie is refused afterwards (and every other session of
  the account too); a new password and removing the account end it at once, without a restart;
* after login the redirect stays on the console, whatever ``next`` holds (``/<TAB>/host``,
  ``//host``, ``/\\host``);
* one session holds at most ``WEARMON_CONSOLE_STREAMS_PER_SESSION`` live-update streams;
* failed logins slow down that name from that address only, with a growing wait: the real
  user, from another address, still logs in;
* a nurse of ward A gets 404 for ward B's alert, its actions, patient page and signed link, and
  does not see it in the lists or the live stream; an admin sees both wards.
"""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from tests.conftest import Services
from tests.integration.test_console_browser import in_thread
from tests.waiting import wait_until
from wearmon.models.base import Severity
from wearmon.stream.alerts.lifecycle import SYSTEM, Action, AlertEvent, AlertState, Category
from wearmon.stream.config import Settings, load_settings
from wearmon.stream.console.access.accounts import add_account, remove_account
from wearmon.stream.core.patients import PatientSettings, Recipient
from wearmon.stream.kafka import ensure_topics, make_producer
from wearmon.stream.notify.links import ALERT, PATIENT, link_token, opaque_ref
from wearmon.stream.tools.services import free_port
from wearmon.stream.views.patients import publish_patient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "access-test-console-secret-0123456789abcdef"
PASSWORD = "correct horse battery"
WARD_A, WARD_B = "Ward A", "Ward B"
PATIENT_A, PATIENT_B = "p-7a01", "p-7b01"
ALERT_A, ALERT_B = f"{PATIENT_A}:bradycardia:0", f"{PATIENT_B}:bradycardia:0"
MAX_FAILURES, FIRST_WAIT_S, STREAMS = 3, 2, 4
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str


@dataclass
class Client:
    """One browser: its cookie, from one source address."""

    port: int
    source: str = "127.0.0.1"
    cookie: str = ""
    streams: list[Stream] = field(default_factory=list)

    def connect(self, timeout_s: float = 20.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout_s,
                                          source_address=(self.source, 0))

    def send(self, method: str, path: str, form: dict[str, str] | None = None) -> Answer:
        conn = self.connect()
        headers = {"Cookie": f"wearmon_console={self.cookie}"} if self.cookie else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            answer = Answer(response.status, response.headers, response.read().decode())
        finally:
            conn.close()
        cookie = answer.headers.get("Set-Cookie", "")
        if cookie.startswith("wearmon_console="):
            self.cookie = cookie.split(";")[0].split("=", 1)[1]
        return answer

    def get(self, path: str) -> Answer:
        return self.send("GET", path)

    def csrf(self, path: str = "/login") -> str:
        match = CSRF.search(self.get(path).body)
        assert match is not None, f"no CSRF token on {path}"
        return match.group(1)

    def post(self, path: str, form: dict[str, str], token_from: str = "/") -> Answer:
        return self.send("POST", path, {"csrf": self.csrf(token_from), **form})

    def log_in(self, user: str, password: str = PASSWORD, target: str = "/") -> Answer:
        return self.send("POST", "/login", {"csrf": self.csrf(), "username": user,
                                            "password": password, "next": target})

    def open_stream(self) -> Stream:
        stream = Stream(self.port, self.cookie)
        self.streams.append(stream)
        return stream

    def close_streams(self) -> None:
        for stream in self.streams:
            stream.close()
        self.streams.clear()


class Stream:
    """A live-update stream on a plain socket: a read that times out leaves it usable."""

    EVENT = re.compile(rb"event: (\w+)\ndata: (\w+)\n\n")

    def __init__(self, port: int, cookie: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.sock.sendall(f"GET /events HTTP/1.1\r\nHost: console\r\nConnection: close\r\n"
                          f"Cookie: wearmon_console={cookie}\r\n\r\n".encode())
        self.buffer = b""
        self.ended = False

    def receive(self, timeout_s: float) -> None:
        self.sock.settimeout(timeout_s)
        data = self.sock.recv(65536)
        self.ended = data == b""
        self.buffer += data

    def status(self) -> int:
        while b"\r\n" not in self.buffer:
            self.receive(20)
        return int(self.buffer.split(b" ", 2)[1])

    def next_event(self, timeout_s: float = 20) -> tuple[str, str]:
        """The next server-sent event (name, data); TimeoutError when none comes in time."""
        deadline = time.monotonic() + timeout_s
        while (match := self.EVENT.search(self.buffer)) is None:
            assert not self.ended, "the stream ended"
            self.receive(max(0.01, deadline - time.monotonic()))
        self.buffer = self.buffer[match.end():]
        return match.group(1).decode(), match.group(2).decode()

    def until_end(self) -> bytes:
        """Everything until the server closes the stream."""
        while not self.ended:
            self.receive(20)
        return self.buffer

    def close(self) -> None:
        self.sock.close()


@dataclass
class Access:
    port: int
    settings: Settings
    users: Path
    log: Path

    def client(self, source: str = "127.0.0.1") -> Client:
        return Client(self.port, source)


def opened(patient: str, alert_id: str, step: int, state: AlertState = AlertState.OPEN,
           action: Action = Action.OPENED) -> bytes:
    now_ms = int(time.time() * 1000)
    return orjson.dumps(AlertEvent(
        alert_id, patient, "bradycardia", Severity.CRITICAL, state, now_ms, SYSTEM,
        "Heart rate 33 bpm", step, action, Category.CLINICAL, level=step, notify_levels=(step,),
        explanation="Heart rate 33 bpm", opened_ms=now_ms, due_ms=now_ms + 600_000).to_json())


def publish_alert(settings: Settings, patient: str, value: bytes) -> None:
    async def send() -> None:
        await ensure_topics(settings)
        producer = make_producer(settings)
        await producer.start()
        try:
            await (await producer.send(settings.topics.alerts, value, key=patient.encode()))
        finally:
            await producer.stop()

    in_thread(send())


def enrolled(patient: str, ward: str) -> bytes:
    return PatientSettings(
        patient_id=patient, devices=[f"watch-{patient}"], ward=ward, display_name="Sam",
        care_team=[Recipient(id=f"nurse-{ward[-1].lower()}", label=f"{ward} nurse",
                             url=SecretStr("json://127.0.0.1:9/nurse"))]).to_json()


@pytest.fixture(scope="module")
def access(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Access]:
    directory = tmp_path_factory.mktemp("access")
    users = directory / "users.json"
    add_account(users, "nurse.a", PASSWORD, "Ana (RN)", wards=(WARD_A,))
    add_account(users, "nurse.b", PASSWORD, "Ben (RN)", wards=(WARD_B,))
    add_account(users, "charge", PASSWORD, "Chris (charge nurse)", admin=True)
    add_account(users, "leaver", PASSWORD, "Lee (RN)", wards=(WARD_A,))
    suffix, port = uuid.uuid4().hex[:8], free_port()
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("WEARMON_")}
    env |= {"WEARMON_BROKER": services.broker_url, "WEARMON_PARTITIONS": "2",
            **{f"WEARMON_TOPIC_{name}": f"{name.lower()}-{suffix}" for name in (
                "TELEMETRY", "PATIENTS", "ALERTS", "ALERT_COMMANDS", "DELIVERIES",
                "ALERT_REPLIES", "MONITORING", "OUTBOX", "DEVICES")},
            "WEARMON_APP_ID": f"wearmon-access-{suffix}",
            "WEARMON_CONSOLE_PORT": str(port), "WEARMON_CONSOLE_SECRET_KEY": SECRET,
            "WEARMON_CONSOLE_USERS_FILE": str(users),
            "WEARMON_CONSOLE_LOGIN_MAX_FAILURES": str(MAX_FAILURES),
            "WEARMON_CONSOLE_LOGIN_FIRST_WAIT_S": str(FIRST_WAIT_S),
            "WEARMON_CONSOLE_STREAMS_PER_SESSION": str(STREAMS)}
    settings = load_settings({k: v for k, v in env.items() if k.startswith("WEARMON_")})
    for patient, ward in ((PATIENT_A, WARD_A), (PATIENT_B, WARD_B)):
        in_thread(publish_patient(settings, patient, enrolled(patient, ward)))
    publish_alert(settings, PATIENT_A, opened(PATIENT_A, ALERT_A, 0))
    publish_alert(settings, PATIENT_B, opened(PATIENT_B, ALERT_B, 0))
    log = directory / "console.log"
    console = subprocess.Popen([sys.executable, "-m", "wearmon", "console"], env=env,
                               cwd=directory, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        probe = Client(port)

        def ready() -> bool:
            assert console.poll() is None, log.read_text()
            try:
                return bool(orjson.loads(probe.get("/health").body)["ready"])
            except OSError:
                return False

        wait_until(ready, "the console", 60, interval_s=0.2)
        yield Access(port, settings, users, log)
    finally:
        console.terminate()
        console.wait(timeout=30)


def ref(kind: str, value: str) -> str:
    return opaque_ref(SECRET.encode(), kind, value)


def test_logout_ends_the_session_and_a_copied_cookie_with_it(access: Access) -> None:
    nurse = access.client()
    assert nurse.log_in("nurse.a").status == 303
    elsewhere = access.client()  # the same account on another device
    assert elsewhere.log_in("nurse.a").status == 303
    copy = access.client()
    copy.cookie = nurse.cookie
    assert copy.get("/").status == 200
    assert nurse.post("/logout", {}).status == 303
    for client in (copy, elsewhere):
        refused = client.get("/")
        assert refused.status == 303 and refused.headers["Location"] == "/login"
        assert client.get("/fragments/alerts").status == 401
    copy.cookie = nurse.cookie = ""
    assert nurse.log_in("nurse.a").status == 303 and nurse.get("/").status == 200


def test_a_new_password_or_removing_the_account_ends_its_sessions_at_once(
        access: Access) -> None:
    leaver = access.client()
    assert leaver.log_in("leaver").status == 303
    assert leaver.get(f"/alerts/{ref(ALERT, ALERT_A)}").status == 200
    add_account(access.users, "leaver", PASSWORD + "!", "Lee (RN)", wards=(WARD_A,))
    assert leaver.get("/").headers["Location"] == "/login"  # the old password's session ended
    assert leaver.log_in("leaver", PASSWORD + "!").status == 303
    token = leaver.csrf(f"/alerts/{ref(ALERT, ALERT_A)}")
    stream = leaver.open_stream()
    assert stream.status() == 200
    remove_account(access.users, "leaver")
    assert leaver.send("POST", f"/alerts/{ref(ALERT, ALERT_A)}/resolve",
                       {"csrf": token, "note": "gone"}).status == 401
    assert leaver.get(f"/alerts/{ref(ALERT, ALERT_A)}").status == 303
    # the open live stream ends at the next change of the board
    publish_alert(access.settings, PATIENT_A, opened(PATIENT_A, "p-7a01:desaturation:0", 0))
    assert b"retry: 3000" in stream.until_end() and b"event:" not in stream.buffer
    assert access.client().log_in("leaver", PASSWORD + "!").status == 401


@pytest.mark.parametrize("target", ["/\t/evil.example/", "//evil.example/", "/\\evil.example/",
                                    "https://evil.example/", "/\n/evil.example/"])
def test_after_login_the_redirect_stays_on_the_console(access: Access, target: str) -> None:
    nurse = access.client()
    page = nurse.get("/login?next=" + urllib.parse.quote(target, safe=""))
    assert 'name="next" value="/"' in page.body
    answer = nurse.log_in("nurse.b", target=target)
    assert answer.status == 303 and answer.headers["Location"] == "/"
    kept = access.client()
    answer = kept.log_in("nurse.b", target=f"/alerts/{ref(ALERT, ALERT_B)}?done=ack")
    assert answer.headers["Location"] == f"/alerts/{ref(ALERT, ALERT_B)}?done=ack"


def test_one_session_holds_a_few_live_streams_at_most(access: Access) -> None:
    nurse, other = access.client(), access.client()
    assert nurse.log_in("nurse.b").status == 303 and other.log_in("nurse.b").status == 303
    try:
        assert [nurse.open_stream().status() for _ in range(STREAMS)] == [200] * STREAMS
        refused = nurse.open_stream()
        assert refused.status() == 429 and b"live-update streams" in refused.until_end()
        assert other.open_stream().status() == 200  # another session has its own
    finally:
        nurse.close_streams()
        other.close_streams()


def test_failed_logins_slow_that_address_down_more_each_time_not_the_real_user(
        access: Access) -> None:
    attacker, user = access.client("127.0.0.2"), access.client("127.0.0.1")
    for _ in range(MAX_FAILURES):
        assert attacker.log_in("nurse.b", "not the password").status == 401
    waits = []
    for _ in range(3):
        slowed = attacker.log_in("nurse.b", PASSWORD)  # even the right password waits
        assert slowed.status == 429
        waits.append(int(slowed.headers["Retry-After"]))
        assert user.log_in("nurse.b").status == 303  # the real user, elsewhere, is not slowed
        user.cookie = ""
        wait_until(lambda: attacker.log_in("nurse.b", "still not it").status == 401,
                   "the wait to end", 30, interval_s=0.25)
    assert waits == [FIRST_WAIT_S, 2 * FIRST_WAIT_S, 4 * FIRST_WAIT_S]


def test_a_nurse_sees_and_acts_on_her_own_wards_only(access: Access) -> None:
    nurse, charge = access.client(), access.client()
    assert nurse.log_in("nurse.a").status == 303 and charge.log_in("charge").status == 303
    alert_a, alert_b = ref(ALERT, ALERT_A), ref(ALERT, ALERT_B)
    patient_b = ref(PATIENT, PATIENT_B)
    link_b = link_token(SECRET.encode(), ALERT_B, int(time.time()) + 600)
    link_a = link_token(SECRET.encode(), ALERT_A, int(time.time()) + 600)
    for listing in ("/", "/fragments/alerts", f"/?ward={urllib.parse.quote(WARD_B)}"):
        body = nurse.get(listing).body
        assert alert_a in body or "ward=" in listing
        assert alert_b not in body and patient_b not in body and PATIENT_B not in body
        assert WARD_B not in body or "ward=" in listing  # (the ward asked for is echoed)
    token = nurse.csrf(f"/alerts/{alert_a}")
    for path in (f"/alerts/{alert_b}", f"/fragments/alert/{alert_b}", f"/patients/{patient_b}",
                 f"/a/{link_b}"):
        assert nurse.get(path).status == 404, path
    for action in ("ack", "snooze", "resolve"):
        assert nurse.send("POST", f"/alerts/{alert_b}/{action}",
                          {"csrf": token, "minutes": "15"}).status == 404, action
    assert nurse.get(f"/a/{link_a}").headers["Location"] == f"/alerts/{alert_a}"
    assert nurse.get(f"/patients/{ref(PATIENT, PATIENT_A)}").status == 200
    # the charge nurse (admin) sees both wards
    body = charge.get("/").body
    assert alert_a in body and alert_b in body
    assert charge.get(f"/alerts/{alert_b}").status == 200
    assert charge.get(f"/patients/{patient_b}").status == 200


def test_the_live_stream_moves_only_for_the_nurses_own_wards(access: Access) -> None:
    nurse, charge = access.client(), access.client()
    assert nurse.log_in("nurse.a").status == 303 and charge.log_in("charge").status == 303
    try:
        mine, everyone = nurse.open_stream(), charge.open_stream()
        assert mine.status() == everyone.status() == 200
        publish_alert(access.settings, PATIENT_B, opened(
            PATIENT_B, ALERT_B, 1, AlertState.ESCALATED, Action.ESCALATED))
        assert everyone.next_event() == ("board", "1")  # ward B's escalation reached the console
        # written in the same turn of the console's loop as the charge nurse's, if at all
        with pytest.raises(TimeoutError):
            mine.next_event(timeout_s=3)
        publish_alert(access.settings, PATIENT_A, opened(
            PATIENT_A, ALERT_A, 1, AlertState.ESCALATED, Action.ESCALATED))
        assert mine.next_event() == ("board", "1")
        assert everyone.next_event() == ("board", "2")
    finally:
        nurse.close_streams()
        charge.close_streams()


def test_no_patient_id_in_the_consoles_log(access: Access) -> None:
    """Run last: after every page, link, action and stream above, and a patients-topic record
    the console cannot use (its id also as a field name)."""
    bad = "p-7c01"
    in_thread(publish_patient(access.settings, bad, orjson.dumps({"patient_id": bad, bad: 1})))
    wait_until(lambda: "patients topic: a record was ignored" in access.log.read_text(),
               "the console to skip the record", 30)
    text = access.log.read_text()
    assert "console: nurse.a logged in" in text  # the log is the console's, and it logs
    for patient in (PATIENT_A, PATIENT_B, bad):
        assert patient not in text
