"""Login, sessions and CSRF for the console's web application.

Every request gets a signed session (anonymous until login, so the login form is protected by a
CSRF token too); logging in issues a new session id. Pages need a login (they redirect to it and
come back), everything else answers 401; every POST needs the session's CSRF token. Repeated
failed logins of one user name lock its login for a while (``throttle.LoginThrottle``). Responses
carry a strict Content-Security-Policy, no caching, and no referrer (a signed link never leaks).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from wearmon.stream.console.accounts import check_login
from wearmon.stream.console.context import Console, render
from wearmon.stream.console.sessions import COOKIE, Session

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_middleware(console: Console) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        now_s = time.time()
        session = console.keys.decode(request.cookies.get(COOKIE, ""), now_s)
        fresh = session is None
        if session is None:
            session = Session.anonymous(now_s, console.settings.console.session_ttl_s)
        request["session"] = session
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


def user_of(request: web.Request) -> str:
    session: Session = request["session"]
    return session.user


def login_required(handler: Handler) -> Handler:
    """Pages redirect to the login (then come back); anything else is refused with 401."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        if user_of(request):
            return await handler(request)
        if request.method == "GET" and not request.path.startswith(("/events", "/fragments")):
            raise web.HTTPSeeOther(f"/login?next={request.path_qs}" if request.path != "/"
                                   else "/login")
        raise web.HTTPUnauthorized(text="login required")

    return wrapped


def require_csrf(request: web.Request, form: Any) -> None:
    console: Console = request.app["console"]
    if not console.keys.csrf_ok(request["session"], str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="missing or wrong CSRF token: reload the page")


def local_path(target: str) -> str:
    """Only same-site paths after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


async def login_page(request: web.Request) -> web.Response:
    return render(request, "login.html", target=local_path(request.query.get("next", "/")),
                  error="")


async def login(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    form = await request.post()
    require_csrf(request, form)
    target = local_path(str(form.get("next", "/")))
    username = str(form.get("username", "")).strip().lower()
    wait_s = console.throttle.wait_s(username, time.time())
    if wait_s > 0:
        log.warning("console: login refused after repeated failures")
        response = render(request, "login.html", status=429, target=target,
                          error="Too many failed logins for this user name: try again in "
                                f"{math.ceil(wait_s / 60)} min.")
        response.headers["Retry-After"] = str(math.ceil(wait_s))
        return response
    account = await asyncio.to_thread(check_login, console.accounts, username,
                                      str(form.get("password", "")))
    if account is None:
        console.throttle.failed(username, time.time())
        log.warning("console: failed login")
        return render(request, "login.html", status=401, target=target,
                      error="Wrong user name or password.")
    console.throttle.succeeded(username)
    log.info("console: %s logged in", account.username)
    request["new_session"] = Session.login(account.username, time.time(),
                                           console.settings.console.session_ttl_s)
    raise web.HTTPSeeOther(target)


async def logout(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    require_csrf(request, await request.post())
    request["new_session"] = Session.anonymous(time.time(), console.settings.console.session_ttl_s)
    raise web.HTTPSeeOther("/login")
