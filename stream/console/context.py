"""What the console's handlers share: the ``Console`` (settings, views, accounts, keys) and
``render`` (a Jinja2 page with the user, the session's CSRF token and the banners of the
user's wards)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from wearmon.stream.config import Settings
from wearmon.stream.console.access.account_store import AccountStore
from wearmon.stream.console.access.accounts import Account
from wearmon.stream.console.access.sessions import Session, SessionKeys
from wearmon.stream.console.access.throttle import LoginThrottle
from wearmon.stream.console.board_view import Refs
from wearmon.stream.console.history import InfluxReader
from wearmon.stream.console.watch import WardWatch
from wearmon.stream.notify.next_steps import NextSteps
from wearmon.stream.views.alerts_feed import AlertsFeed
from wearmon.stream.views.patients import PatientsView

HERE = Path(__file__).parent


@dataclass
class Console:
    settings: Settings
    feed: AlertsFeed
    patients: PatientsView
    accounts: AccountStore
    secret: bytes
    reader: InfluxReader | None = None
    watch: WardWatch | None = None  # which wards are not monitored now (a banner on every page)
    next_steps: NextSteps = field(default_factory=NextSteps)  # the wards' suggested next steps
    keys: SessionKeys = field(init=False)
    refs: Refs = field(init=False)
    streams: dict[web.StreamResponse, str] = field(default_factory=dict)  # → session id
    throttle: LoginThrottle = field(init=False)

    def __post_init__(self) -> None:
        self.keys = SessionKeys(self.secret)
        self.refs = Refs(self.secret)
        console = self.settings.console
        self.throttle = LoginThrottle(console.login_max_failures, console.login_first_wait_s,
                                      console.login_lockout_s)

    @property
    def people(self) -> dict[str, str]:
        return {a.username: a.name for a in self.accounts.accounts().values()}

    def streams_of(self, sid: str) -> int:
        """Live-update streams the session holds open."""
        return sum(1 for owner in self.streams.values() if owner == sid)

    @property
    def secure(self) -> bool:
        return self.settings.console.url.startswith("https://")


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                              autoescape=jinja2.select_autoescape(["html"]),
                              undefined=jinja2.StrictUndefined)


def render(request: web.Request, template: str, status: int = 200, **context: Any
           ) -> web.Response:
    console: Console = request.app["console"]
    env: jinja2.Environment = request.app["templates"]
    session: Session = request["session"]
    user: Account | None = request.get("account")
    banners = console.watch.banners(user.sees) if console.watch and user else []
    html = env.get_template(template).render(
        user=user, csrf=console.keys.csrf_token(request.get("new_session") or session),
        monitoring=banners, **context)
    return web.Response(text=html, content_type="text/html", status=status)
