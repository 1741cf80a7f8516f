"""Login, sessions and CSRF for the console's web application.

Every request gets a signed session (anonymous until login, so the login form is protected by a
CSRF token too); logging in issues a new session id. A logged-in session counts only while its
account exists in the accounts file with the session's version (checked on every request):
logout, a new password or removing the account end it at once. Pages need a login (they
redirect to it and come back), everything else answers 401; every POST needs the session's CSRF
token. Repeated failed logins of one user name from one address slow that pair's tries down
(``throttle.LoginThrottle``). After login only a same-site path is a redirect target.
Responses carry a strict Content-Security-Policy, no caching, and no referrer (a signed link
never leaks).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from wearmon.stream.console.access.accounts import Account, check_login
from wearmon.stream.console.access.sessions import COOKIE, Session
from wearmon.stream.console.context import Console, render

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_middleware(console: Console) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        now_s = time.time()
        session = console.keys.decode(request.cookies.get(COOKIE, ""), now_s)
        account = live_account(console, session) if session is not None else None
        if session is not None and session.user and account is None:
            session = None  # logged out, new password or account removed: the session ended
        fresh = session is None
        if session is None:
            session = Session.anonymous(now_s, console.settings.console.session_ttl_s)
        request["session"] = session
        request["account"] = account if session.user else None
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        new = request.get("new_session")
        if (fresh or new is not None) and not response.prepared:
            response.set_cookie(COOKIE, console.keys.encode(new or session), httponly=True,
                                samesite="Lax", secure=console.secure, path="/",
                                max_age=int(console.settings.console.session_ttl_s))
        if not response.prepared:
            response.headers.update({
                "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store"})
        if isinstance(response, web.HTTPException):
            raise response
        return response

    return middleware


def live_account(console: Console, session: Session) -> Account | None:
    """The session's account while the session counts: the account exists and its session
    version is still the one the session was given at login."""
    account = console.accounts.get(session.user)
    return account if account is not None and account.session_version == session.version \
        else None


def user_of(request: web.Request) -> str:
    account: Account | None = request.get("account")
    return account.username if account is not None else ""


def account_of(request: web.Request) -> Account:
    """The logged-in account (handlers behind ``login_required``)."""
    account: Account | None = request.get("account")
    if account is None:
        raise web.HTTPUnauthorized(text="login required")
    return account


def login_required(handler: Handler) -> Handler:
    """Pages redirect to the login (then come back); anything else is refused with 401."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        if user_of(request):
            return await handler(request)
        if request.method == "GET" and not request.path.startswith(("/events", "/fragments")):
            raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs)}"
                                   if request.path != "/" else "/login")
        raise web.HTTPUnauthorized(text="login required")

    return wrapped


def require_csrf(request: web.Request, form: Any) -> None:
    console: Console = request.app["console"]
    if not console.keys.csrf_ok(request["session"], str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="missing or wrong CSRF token: reload the page")


def local_path(target: str) -> str:
    r"""Only same-site paths after login (no open redirect): a path that starts with one ``/``,
    with no backslash, control or space character anywhere (browsers drop tabs and newlines
    and read a backslash as ``/``: ``/<TAB>/evil.example`` would become ``//evil.example``).

    >>> local_path("/alerts/abc?done=ack"), local_path("/\t/evil.example/"), local_path("/\\x")
    ('/alerts/abc?done=ack', '/', '/')
    """
    unsafe = any(c == "\\" or unicodedata.category(c)[0] in "CZ" for c in target)
    parts = urlsplit(target)
    if (unsafe or not target.startswith("/") or target.startswith("//") or parts.scheme
            or parts.netloc):
        return "/"
    return target


def client_address(request: web.Request) -> str:
    """The client's address: the peer's, or behind a trusted reverse proxy the last address in
    X-Forwarded-For (the one the proxy added)."""
    console: Console = request.app["console"]
    forwarded = request.headers.get("X-Forwarded-For", "")
    if console.settings.console.trust_forwarded_for and forwarded:
        return forwarded.split(",")[-1].strip()
    return request.remote or ""


async def login_page(request: web.Request) -> web.Response:
    return render(request, "login.html", target=local_path(request.query.get("next", "/")),
                  error="")


async def login(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    form = await request.post()
    require_csrf(request, form)
    target = local_path(str(form.get("next", "/")))
    username = str(form.get("username", "")).strip().lower()
    address = client_address(request)
    wait_s = console.throttle.wait_s(username, address, time.time())
    if wait_s > 0:
        log.warning("console: login refused after repeated failures")
        response = render(request, "login.html", status=429, target=target,
                          error="Too many failed logins for this user name: try again in "
                                f"{math.ceil(wait_s)} s.")
        response.headers["Retry-After"] = str(math.ceil(wait_s))
        return response
    account = await asyncio.to_thread(check_login, console.accounts.accounts(), username,
                                      str(form.get("password", "")))
    if account is None:
        console.throttle.failed(username, address, time.time())
        log.warning("console: failed login")
        return render(request, "login.html", status=401, target=target,
                      error="Wrong user name or password.")
    console.throttle.succeeded(username, address)
    log.info("console: %s logged in", account.username)
    request["new_session"] = Session.login(account.username, account.session_version,
                                           time.time(), console.settings.console.session_ttl_s)
    raise web.HTTPSeeOther(target)


async def logout(request: web.Request) -> web.Response:
    """End every session of the account (this browser's and any other), then the login."""
    console: Console = request.app["console"]
    require_csrf(request, await request.post())
    user = user_of(request)
    if user:
        try:
            await asyncio.to_thread(console.accounts.end_sessions, user)
        except OSError:
            log.exception("console: could not record a logout in the accounts file")
            raise web.HTTPServiceUnavailable(
                text="could not log out: the console cannot write its accounts file") from None
        log.info("console: %s logged out", user)
    request["new_session"] = Session.anonymous(time.time(), console.settings.console.session_ttl_s)
    raise web.HTTPSeeOther("/login")
