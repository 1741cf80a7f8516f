"""The care team is told when monitoring stops: a real worker, its sink, the console and a real
HTTP receiver for the ward's on-call; Debian's Chromium shows the console.

Readings keep arriving while the worker is stopped (SIGTERM); within two minutes every console
page says since when the ward's readings are not judged, and the on-call receives one message.
When the worker is back, the banner goes and the all-clear arrives.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from pydantic import SecretStr

from tests.conftest import Services, Worker, new_worker
from tests.integration.conftest import settings_of
from tests.integration.receivers import Inbox, WebhookServer
from tests.integration.test_alert_notifications import uploads
from tests.integration.test_console_browser import (
    NURSE,
    NURSE_NAME,
    PASSWORD,
    enrolment,
    get_json,
    in_thread,
    log_in,
    new_page,
    produce,
    shoot,
    wait_until,
)
from tests.integration.test_console_browser import browser as browser
from wearmon.stream.config import Settings
from wearmon.stream.console.access.accounts import add_account
from wearmon.stream.core.patients import Recipient
from wearmon.stream.tools.services import free_port
from wearmon.stream.views.patients import publish_patient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "monitoring-test-console-secret-0123456789abcdef"
WARD, PATIENTS = "Ward 7", ("p-9101", "p-9102", "p-9103", "p-9104")
GRACE_S = 20  # a reading waiting longer than this: the ward's monitoring is delayed
MIN = 60_000


@dataclass
class Watched:
    worker: Worker
    settings: Settings
    console_url: str
    inbox: Inbox


class Uploads:
    """Every patient uploads every 5 s, from a thread, until stopped (devices do not wait)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        sent = 0
        while not self.stop.wait(5):
            now_ms = int(time.time() * 1000)
            for patient in PATIENTS:
                produce(self.settings, uploads(patient, now_ms - MIN, 1, 70.0, f"live-{sent}"))
            sent += 1


@pytest.fixture(scope="module")
def watched(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    directory: Path = tmp_path_factory.mktemp("watched")
    users = directory / "users.json"
    add_account(users, NURSE, PASSWORD, NURSE_NAME, admin=True)
    port = free_port()
    worker = new_worker(services, directory, WEARMON_CONSOLE_SECRET_KEY=SECRET,
                        WEARMON_CONSOLE_PORT=str(port), WEARMON_CONSOLE_USERS_FILE=str(users),
                        WEARMON_CONSOLE_WATCH_GRACE_S=str(GRACE_S),
                        WEARMON_CONSOLE_WATCH_EVERY_S="2")
    settings = settings_of(worker)
    inbox = Inbox()
    hooks = WebhookServer(inbox)
    hooks.start()
    console = subprocess.Popen([sys.executable, "-m", "wearmon", "console"], env=worker.env,
                               cwd=directory, stdout=(directory / "console.log").open("wb"),
                               stderr=subprocess.STDOUT)
    try:
        for patient in PATIENTS:
            team = [Recipient(id="ward7-oncall", label="Ward 7 nurse on call",
                              url=SecretStr(hooks.url("ward7-oncall"))),
                    Recipient(id="ward7-doctor", label="Ward 7 doctor",
                              url=SecretStr(hooks.url("ward7-doctor")))]
            in_thread(publish_patient(settings, patient, enrolment(
                patient, WARD, team, 600, hooks.url(f"{patient}-phone"), 0).to_json()))
        worker.start()

        def console_ready() -> bool:
            try:
                return bool(get_json(f"http://127.0.0.1:{port}/health")["ready"])
            except OSError:  # not listening yet
                return False

        wait_until(console_ready, "the console", 60)
        yield Watched(worker, settings, f"http://127.0.0.1:{port}", inbox)
    finally:
        console.terminate()
        console.wait(timeout=30)
        worker.stop(sink=True)
        hooks.stop()


def banner(page: Page) -> str:
    return page.inner_text(".monitoring") if page.is_visible(".monitoring .banner") else ""


def test_the_care_team_is_told_when_monitoring_stops_and_when_it_is_back(
        watched: Watched, browser: Browser) -> None:
    load = Uploads(watched.settings)
    load.thread.start()
    try:
        wait_until(lambda: (watched.worker.health() or {}).get("uploads", 0) >= 8,
                   "the worker to judge readings", 120)
        page = new_page(browser)
        page.goto(watched.console_url + "/")
        log_in(page)
        assert banner(page) == ""  # monitored: no banner
        watched.worker.stop()  # SIGTERM; readings keep arriving
        stopped = time.monotonic()
        # every page says it, within two minutes, without a reload (the live updates)
        wait_until(lambda: "delayed since" in banner(page), "the monitoring banner", 120)
        assert time.monotonic() - stopped < 120
        text = banner(page)
        assert f"Monitoring of {WARD} delayed since" in text and "not yet judged" in text
        shoot(page, "monitoring-delayed")
        notice = watched.inbox.next(60)
        assert notice.channel == "/ward7-oncall" and notice.title == f"Monitoring delayed · {WARD}"
        assert not any(p in notice.text for p in PATIENTS)  # no patient data in the message
        watched.inbox.silent_for(GRACE_S)  # told once (and the doctor not at all)
        # back: the banner goes and the all-clear arrives
        watched.worker.start()
        wait_until(lambda: banner(page) == "", "the banner to go", 120)
        clear = watched.inbox.next(60)
        assert clear.channel == "/ward7-oncall" and clear.title == f"Monitoring back · {WARD}"
        page.context.close()
    finally:
        load.stop.set()
        load.thread.join(30)
