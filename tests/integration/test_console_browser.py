"""The care team's loop in a real browser: headless Chromium (Debian's) driven by Playwright,
against two real workers, the care-team console, the embedded broker, InfluxDB and real SMTP and
HTTP receivers.

* an event injected while a nurse looks at the console appears there without a reload;
* the signed link in the nurse's e-mail opens that alert (after login); acknowledging it from the
  page stops the escalation (nothing more reaches the receivers, not even the nurse herself) and
  leaves no Acknowledge button; the acknowledgement is in InfluxDB with the user; an altered or
  expired link is refused; nothing works without login;
* the patient page's charts have axes with units, the patient's limit lines, a marker at the
  alert's opening, and a default window that holds the data;
* the ward screen lists the alert that needs someone above an acknowledged critical one (shown
  collapsed, with who has it), and "nobody left to page" as a banner once everyone was paged;
* a colleague's acknowledgement reaches the nurse paged at step 1;
* both workers list every alert and route actions to the owner (each owns one partition);
* keyboard only: a nurse acknowledges from the list with Tab and Enter;
* screenshots of the views asserted, at 1366×768 (ward screen) and 390×844 (phone), go to
  docs/screenshots/ (README).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, Page, Response, sync_playwright
from pydantic import SecretStr

from tests.conftest import REPO, Services, Worker, influx_query, new_worker
from tests.integration.conftest import send_messages, settings_of
from tests.integration.receivers import Inbox, MailServer, WebhookServer
from tests.integration.test_alert_notifications import uploads
from tests.waiting import wait_until
from wearmon.stream.config import Settings
from wearmon.stream.console.access.accounts import add_account
from wearmon.stream.core.patients import AlertPolicy, PatientSettings, Recipient
from wearmon.stream.notify.links import link_token
from wearmon.stream.tools.services import free_port
from wearmon.stream.views.patients import publish_patient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "browser-test-console-secret-0123456789abcdef"
NURSE, NURSE_NAME, PASSWORD = "nurse.jo", "Jo Smith (RN)", "correct horse battery"
COLLEAGUE = "nurse.al"  # a second account, for the failed-login lock
# murmur2 puts these keys on different partitions of 2: each worker owns one of them
LINKED, LIVE = "p-8101", "p-8103"
ESCALATE_LINKED_S, ESCALATE_LIVE_S = 25.0, 6.0
MIN = 60_000
SHOTS = REPO / "docs" / "screenshots"
SIZES = {"ward": (1366, 768), "phone": (390, 844)}
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class Care:
    workers: list[Worker]
    settings: Settings
    console_url: str
    inbox: Inbox
    mail: MailServer
    hooks: WebhookServer
    influx_url: str
    warmed_until_ms: int  # the warm-up's event time: later uploads are in order, not late


def enrolment(patient: str, ward: str, care_team: list[Recipient], escalate_s: float,
              patient_url: str, repeats: int) -> PatientSettings:
    return PatientSettings(
        patient_id=patient, devices=[f"watch-{patient}"], ward=ward, display_name="Sam",
        care_team=care_team,
        patient_recipients=[Recipient(id=f"{patient}-phone", url=SecretStr(patient_url))],
        policy=AlertPolicy(ack_timeout_critical_s=escalate_s, ack_timeout_warning_s=escalate_s,
                           max_repeats=repeats, all_clear_after_s=3600))


def in_thread(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on a thread of its own (Playwright's sync API owns this thread's loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def produce(settings: Settings, messages: list[tuple[bytes | None, bytes]]) -> None:
    in_thread(send_messages(settings, messages))


def get_json(url: str, token: str = "") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return orjson.loads(r.read())


def post_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=orjson.dumps(body), method="POST", headers={
        "Authorization": "Bearer browser-test-token", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


@pytest.fixture(scope="module")
def care(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Care]:
    directory = tmp_path_factory.mktemp("care")
    console_port = free_port()
    console_url = f"http://127.0.0.1:{console_port}"
    users = directory / "users.json"
    add_account(users, NURSE, PASSWORD, NURSE_NAME, wards=("Ward 3", "Ward 5"))
    add_account(users, COLLEAGUE, PASSWORD, "Al Jones (RN)", admin=True)
    first = new_worker(services, directory, WEARMON_ALERT_TICK_S="1",
                       WEARMON_API_TOKEN="browser-test-token",
                       WEARMON_CONSOLE_SECRET_KEY=SECRET,
                       WEARMON_CONSOLE_PUBLIC_URL=console_url,
                       WEARMON_CONSOLE_PORT=str(console_port),
                       WEARMON_CONSOLE_USERS_FILE=str(users))
    second_port = free_port()
    second = Worker({**first.env, "WEARMON_WEB_PORT": str(second_port),
                     "WEARMON_SINK_PORT": str(free_port())}, second_port,
                    directory / "worker-2.log")
    settings = settings_of(first)
    inbox = Inbox()
    mail, hooks = MailServer(inbox), WebhookServer(inbox)
    mail.start()
    hooks.start()
    console = subprocess.Popen([sys.executable, "-m", "wearmon", "console"], env=first.env,
                               cwd=directory, stdout=(directory / "console.log").open("wb"),
                               stderr=subprocess.STDOUT)
    try:
        in_thread(publish_patient(settings, LINKED, enrolment(
            LINKED, "Ward 3", [Recipient(id="nurse", label="Ward 3 nurse", user=NURSE,
                                         url=SecretStr(mail.url("nurse@example.org"))),
                               Recipient(id="oncall", label="On-call doctor",
                                         url=SecretStr(hooks.url("oncall")))],
            ESCALATE_LINKED_S, hooks.url("patient-linked"), repeats=3).to_json()))
        in_thread(publish_patient(settings, LIVE, enrolment(
            LIVE, "Ward 5", [Recipient(id="nurse-5", label="Ward 5 nurse",
                                       url=SecretStr(hooks.url("nurse-5"))),
                             Recipient(id="charge-5", label="Ward 5 charge nurse",
                                       url=SecretStr(hooks.url("charge-5")))],
            ESCALATE_LIVE_S, hooks.url("patient-live"), repeats=0).to_json()))
        first.start()
        second.start()
        # normal data until each worker has processed some: each owns one partition
        t0 = int(time.time() * 1000) - 30 * MIN
        minute = 0

        def both_busy() -> bool:
            nonlocal minute
            healths = [w.health() for w in (first, second)]
            if all(h and h["uploads"] > 0 for h in healths):
                return True
            for patient in (LINKED, LIVE):
                produce(settings, uploads(patient, t0 + minute * MIN, 1, 70.0, f"warm-{minute}"))
            minute += 1
            return False

        # one warm-up upload per patient every few seconds
        wait_until(both_busy, "both workers to process telemetry", 180, interval_s=2)
        wait_until(lambda: get_json(f"{console_url}/health")["ready"], "the console", 60,
                   interval_s=0.3)
        yield Care([first, second], settings, console_url, inbox, mail, hooks,
                   services.influx_url, t0 + minute * MIN)
    finally:
        console.terminate()
        console.wait(timeout=30)
        for worker in (first, second):
            worker.stop(sink=True)
        mail.stop()
        hooks.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_page(browser: Browser, size: str = "ward") -> Page:
    width, height = SIZES[size]
    return browser.new_context(viewport={"width": width, "height": height}).new_page()


def log_in(page: Page) -> None:
    page.fill("#username", NURSE)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Log in')")


def shoot(page: Page, name: str, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        # the new layout painted (two animation frames), not tiles of the previous size
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => "
                      "requestAnimationFrame(r)))")
        page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=full_page)
        assert (SHOTS / f"{name}-{size}.png").stat().st_size > 10_000


def test_nothing_works_without_login(care: Care, browser: Browser) -> None:
    page = new_page(browser)
    page.goto(care.console_url + "/")
    assert page.url.endswith("/login") and page.is_visible("#password")
    request = page.context.request
    for path in ("/fragments/alerts", "/events"):
        assert request.get(care.console_url + path, max_redirects=0).status == 401, path
    for path in ("/alerts/AAAAAAAAAAAAAAAA", "/patients/AAAAAAAAAAAAAAAA"):
        response = request.get(care.console_url + path, max_redirects=0)
        assert response.status == 303 and response.headers["location"].startswith("/login")
    assert request.post(care.console_url + "/alerts/AAAAAAAAAAAAAAAA/ack",
                        form={"note": "x"}).status == 401
    # a wrong password is refused too; a right one without the form's CSRF token as well
    page.fill("#username", NURSE)
    page.fill("#password", "not the password")
    page.click("button:has-text('Log in')")
    assert page.is_visible("text=Wrong user name or password")
    assert request.post(care.console_url + "/login", max_redirects=0,
                        form={"username": NURSE, "password": PASSWORD}).status == 403
    shoot(page, "login")
    page.context.close()


def test_repeated_failed_logins_lock_that_user_name_out(care: Care, browser: Browser) -> None:
    page = new_page(browser)
    page.goto(care.console_url + "/login")

    def attempt(user: str, password: str) -> Response:
        page.fill("#username", user)
        page.fill("#password", password)
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.click("button:has-text('Log in')")
        return answer.value

    for _ in range(Settings().console.login_max_failures):
        assert attempt(COLLEAGUE, "not the password").status == 401
    locked = attempt(COLLEAGUE, PASSWORD)  # even the right password waits now
    assert locked.status == 429 and 0 < int(locked.headers["retry-after"]) <= 300
    assert page.is_visible("text=Too many failed logins for this user name")
    assert attempt(NURSE, PASSWORD).status == 303  # another name is not locked
    page.wait_for_url(care.console_url + "/")
    page.context.close()


def test_altered_or_expired_links_are_refused(care: Care, browser: Browser) -> None:
    page = new_page(browser, "phone")
    expired = link_token(SECRET.encode(), f"{LINKED}:tachycardia_at_rest:0", int(time.time()) - 1)
    response = page.goto(f"{care.console_url}/a/{expired}")
    assert response is not None and response.status == 403
    assert page.is_visible("text=This link has expired")
    valid = link_token(SECRET.encode(), f"{LINKED}:tachycardia_at_rest:0", int(time.time()) + 60)
    altered = valid[:-2] + ("AA" if not valid.endswith("AA") else "BB")
    response = page.goto(f"{care.console_url}/a/{altered}")
    assert response is not None and response.status == 403
    assert page.is_visible("text=This link is not valid")
    page.context.close()


def test_the_care_team_loop_from_the_message_to_the_acknowledgement(
        care: Care, browser: Browser) -> None:
    now_ms = int(time.time() * 1000)
    # 1. an episode for the first patient: the nurse's e-mail carries a signed link
    episode_from = max(now_ms - 4 * MIN, care.warmed_until_ms)
    produce(care.settings, uploads(LINKED, episode_from, 3, 150.0, "episode"))
    mail = care.inbox.next(90)
    assert mail.channel == "nurse@example.org" and "new alert" in mail.title, mail.title
    assert "Next step: See the patient now" in mail.text  # the ward's suggested next step
    match = re.search(r"http://\S+/a/\S+", mail.text)
    assert match, mail.text
    link = match.group(0)
    assert LINKED not in link and "tachycardia" not in link  # no patient data in the URL
    assert care.inbox.next(30).channel == "/patient-linked"  # the patient's calm message
    opened_at = time.monotonic()

    # 2. the nurse taps the link on the phone: login, then straight to that alert
    page = new_page(browser, "phone")
    page.goto(link)
    assert "/login" in page.url
    log_in(page)
    page.wait_for_selector(f"h1:has-text('patient {LINKED}')")
    assert page.is_visible("text=Tachycardia at rest") and page.is_visible("text=150")
    assert page.is_visible("text=Compared with this patient's configured at-rest limit.")
    assert page.is_visible("text=Suggested next step")
    assert page.is_visible("text=Ward 3 nurse")  # who was paged
    assert page.is_visible("text=step 1 of 2")
    # the readings behind it (event time, on the charts' clock) may predate its opening
    since = re.search(r"\(since (\d\d:\d\d)(?:; readings from (\d\d:\d\d))?\)",
                      page.inner_text("dl.facts"))
    assert since, page.inner_text("dl.facts")
    readings_clock = since.group(2) or since.group(1)
    page.fill("#note-ack", "on my way")
    page.click("button:has-text('Acknowledge')")
    page.wait_for_selector("text=Acknowledged: escalation stopped.")
    assert page.is_visible(f"text=Acknowledged by {NURSE_NAME}")
    assert page.locator("button:has-text('Acknowledge')").count() == 0  # done: no button
    assert page.is_visible("button:has-text('Snooze')")
    assert page.is_visible("text=on my way")  # the audit trail
    assert page.is_visible("td[data-label='By']:has-text('Jo Smith')")  # labelled on a phone
    shoot(page, "alert")

    # 3. escalation stopped: past the ack timeout nothing reaches the on-call doctor, nor the
    #    nurse (it was her own acknowledgement); her resolve tells only the patient
    care.inbox.silent_for(ESCALATE_LINKED_S + 5 - (time.monotonic() - opened_at))
    page.fill("#note-resolve", "reviewed with the patient")
    page.click("button:has-text('Resolve')")
    page.wait_for_selector("text=Resolved.")
    assert page.is_visible("text=Resolved") and page.is_visible("dd.ended")
    assert re.search(r"after \d+ (s|min)", page.inner_text("dd.ended"))
    assert care.inbox.next(30).channel == "/patient-linked"
    care.inbox.silent_for(3)

    # 4. the acknowledgement is in InfluxDB with the user, and on the patient's page (the sink
    #    writes alert points from the alerts topic, maybe after the messages went out)
    audit = wait_until(lambda: influx_query(
        care.influx_url, care.settings.influx.db,
        f"SELECT \"actor\", \"note\" FROM \"alert_audit\" WHERE "
        f"\"patient\" = '{LINKED}' AND \"action\" = 'acknowledged'"),
        "the acknowledgement in InfluxDB", 30, interval_s=0.3)
    assert [row[1:] for row in audit[0]["values"]] == [[NURSE, "on my way"]]
    def states() -> set[str]:
        series = influx_query(care.influx_url, care.settings.influx.db,
                              f"SELECT count(\"alert_id\") FROM \"alert\" WHERE "
                              f"\"patient\" = '{LINKED}' GROUP BY \"state\"")
        return {s["tags"]["state"] for s in series}  # type: ignore[index]

    wait_until(lambda: "resolved" in states(), "the resolution in InfluxDB", 30, interval_s=0.3)
    assert states() == {"open", "acknowledged", "resolved"}
    page.set_viewport_size({"width": 1366, "height": 768})
    page.click(f"a:has-text('Patient {LINKED}: vitals and alerts')")
    assert_patient_charts(page, readings_clock)
    budget = page.inner_text("p.budget")  # what the ward's illness alarm budget means
    assert budget.startswith("Illness alerts. Ward 3: With 1 patient and a budget of 0.5 "), budget
    timeline = page.inner_text("section:has(#tl-h)")
    assert "Tachycardia at rest: acknowledged (critical)" in timeline and NURSE_NAME in timeline
    assert "on my way" in timeline
    shoot(page, "patient", full_page=True)
    page.context.close()

    # 5. a colleague acknowledges a new critical alert of the first patient: the nurse paged at
    #    step 1 is told; it stays acknowledged while the ward screen below gets a live one
    after_episode = max(int(time.time() * 1000) - 2 * MIN, episode_from + 3 * MIN)  # in order
    produce(care.settings, uploads(LINKED, after_episode, 3, 30.0, "brady"))
    paged = sorted([care.inbox.next(60), care.inbox.next(30)], key=lambda a: a.channel)
    assert [a.channel for a in paged] == ["/patient-linked", "nurse@example.org"], paged
    alert = next(a for a in get_json(f"http://127.0.0.1:{care.workers[0].web_port}/alerts",
                                     "browser-test-token")["alerts"] if a["patient"] == LINKED)
    status, _ = post_json(f"http://127.0.0.1:{care.workers[1].web_port}/alerts/"
                          f"{alert['alert_id']}/ack", {"actor": COLLEAGUE, "note": "with him"})
    assert status == 200
    told = care.inbox.next(30)
    assert told.channel == "nurse@example.org" and "acknowledged" in told.title, told
    assert told.text.startswith(f"Acknowledged by {COLLEAGUE}.") and "with him" in told.text

    # 6. the ward screen: an event injected now appears without a reload above the acknowledged
    #    critical alert, escalates to nobody left to page, and is acknowledged with the keyboard
    ward = new_page(browser)
    ward.goto(care.console_url + "/")
    log_in(ward)
    ward.wait_for_selector("text=Open alerts")
    assert not ward.is_visible(f"text=patient {LIVE}")
    assert ward.is_visible("details.in-hand summary:has-text('Al Jones (RN)')")
    injected = time.monotonic()
    # a warning: the rate held 2 min, then found in 3 one-minute windows (the policy's default)
    live_from = max(int(time.time() * 1000) - 5 * MIN, care.warmed_until_ms)
    produce(care.settings, uploads(LIVE, live_from, 5, 135.0, "live"))
    ward.wait_for_selector(f"a:has-text('patient {LIVE}')", timeout=20_000)
    assert time.monotonic() - injected < 20
    assert care.inbox.next(30).channel in ("/nurse-5", "/patient-live")
    assert care.inbox.next(30).channel in ("/nurse-5", "/patient-live")
    escalated = care.inbox.next(60)
    assert escalated.channel == "/charge-5" and "escalated to you" in escalated.title
    ward.wait_for_selector("text=Escalated, not acknowledged", timeout=20_000)
    ward.wait_for_selector("text=Ward 5 nurse, Ward 5 charge nurse", timeout=20_000)
    assert_needs_someone_first(ward)
    banner = ward.locator(".banner.exhausted").first
    assert banner.is_visible() and "Nobody left to page" in (banner.text_content() or "")
    box = banner.bounding_box()
    assert box is not None and box["y"] < 768  # on screen without scrolling

    # both workers' APIs see both patients' alerts (one partition each)
    for worker in care.workers:
        listed = get_json(f"http://127.0.0.1:{worker.web_port}/alerts", "browser-test-token")
        assert {a["patient"] for a in listed["alerts"]} == {LIVE, LINKED}
    ward.click("details.in-hand summary")
    shoot(ward, "alerts")
    ward.set_viewport_size({"width": 390, "height": 844})
    first = ward.locator("ol.alerts > li").first
    assert LIVE in first.inner_text()
    first_box = first.bounding_box()
    assert first_box is not None and first_box["y"] < 844  # the one to act on, above the fold
    ward.set_viewport_size({"width": 1366, "height": 768})

    target = f"Acknowledge Tachycardia at rest of patient {LIVE}"
    for _ in range(40):
        ward.keyboard.press("Tab")
        if ward.evaluate("document.activeElement.getAttribute('aria-label')") == target:
            break
    else:
        raise AssertionError("the Acknowledge button cannot be reached with Tab")
    ward.keyboard.press("Enter")
    ward.wait_for_selector("text=Acknowledged: escalation stopped.")
    told_live = sorted([care.inbox.next(30).channel, care.inbox.next(30).channel])
    assert told_live == ["/charge-5", "/nurse-5"]  # everyone paged so far hears it
    ward.context.close()

    # 7. an action sent to either worker's API reaches the owner of the patient: the first
    #    resolves the alert, the second is told it is already resolved (not "not on this worker")
    alert = next(a for a in get_json(f"http://127.0.0.1:{care.workers[0].web_port}/alerts",
                                     "browser-test-token")["alerts"] if a["patient"] == LIVE)
    answers = [post_json(f"http://127.0.0.1:{w.web_port}/alerts/{alert['alert_id']}/resolve",
                         {"actor": NURSE, "note": "reviewed"}) for w in care.workers]
    assert [status for status, _ in answers] == [200, 409], answers
    assert "already resolved" in answers[1][1]["error"]


def assert_patient_charts(page: Page, opened_clock: str) -> None:
    """Axes with units, the patient's limits, the alert's marker at its opening time, and a
    default window (no ``?window=``) that holds the data instead of squeezing it to one side."""
    page.wait_for_selector("figure[data-vital='heart'] svg.plot")
    assert "window=" not in page.url
    heart = page.locator("figure[data-vital='heart']")
    y_ticks = heart.locator("text.y-tick").all_text_contents()  # SVG text has no innerText
    assert y_ticks[0] == "30" and y_ticks[-1] == "180 bpm", y_ticks  # fixed scale, unit
    x_ticks = heart.locator("text.x-tick").all_text_contents()
    assert len(x_ticks) >= 4 and all(re.fullmatch(r"\d\d:\d\d", t) for t in x_ticks), x_ticks
    limits = {float(v) for v in heart.locator("line.limit").evaluate_all(
        "lines => lines.map(l => l.getAttribute('data-value'))")}
    assert limits == {40.0, 120.0}, limits
    assert heart.locator("text.limit-label").all_text_contents() == ["low limit 40 bpm",
                                                                   "at-rest limit 120 bpm"]
    marker = heart.locator("line.marker").first
    label = heart.locator("text.marker-label").first.text_content()
    assert label == f"▲ {opened_clock} Tachycardia at rest", label
    window = page.locator("nav.windows a.current").inner_text()
    minutes = {"30 min": 30, "1 h": 60, "6 h": 360}[window]
    opened_ms = int(marker.get_attribute("data-opened-ms") or 0)
    x_pct = float((marker.get_attribute("x1") or "").rstrip("%"))
    expected = 100 * (1 - (time.time() * 1000 - opened_ms) / (minutes * MIN))
    assert abs(x_pct - expected) < 3, (x_pct, expected)  # the marker sits at the alert's time
    path = heart.locator("path.series").get_attribute("d") or ""
    xs = [float(x) for x in re.findall(r"[ML]([\d.]+) ", path)]
    assert xs and min(xs) < 60 and max(xs) > 90, (window, xs[:3], xs[-3:])  # the data fills it
    assert "latest 150 bpm" in heart.locator(".summary").inner_text()
    assert page.is_visible("figure[data-vital='spo2'] >> text=this device does not measure SpO2")


def assert_needs_someone_first(page: Page) -> None:
    """The unacknowledged alert is listed first; the acknowledged critical one is collapsed
    below, saying who has it, without an Acknowledge button."""
    first = page.locator("ol.alerts > li").first
    assert LIVE in first.inner_text() and "Escalated" in first.inner_text()
    in_hand = page.locator("details.in-hand")
    assert in_hand.get_attribute("open") is None  # collapsed
    assert "Al Jones (RN)" in in_hand.locator("summary").inner_text()
    assert in_hand.locator("button").count() == 0
    needs = page.locator("ol.alerts").first.inner_text()
    assert "Bradycardia" not in needs
