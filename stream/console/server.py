"""The care-team console's web application (aiohttp + Jinja2, a little JavaScript for live
updates). Pages are rendered on the server; every page and action needs a login.

Routes (no patient or alert id ever appears in a URL; see ``board_view.Refs``):

* ``GET /login``, ``POST /login``, ``POST /logout`` — named care-team accounts;
* ``GET /`` — open alerts, most severe and oldest first, ``?ward=`` filter;
* ``GET /alerts/{ref}`` and ``POST /alerts/{ref}/ack|snooze|resolve`` — one alert: explanation,
  state, escalation step, who was paged, the audit trail, and the actions (with a note);
* ``GET /a/{token}`` — the signed, expiring link of a care-team message: opens that alert;
* ``GET /patients/{ref}?window=30m|1h|6h|24h|7d`` — charts of heart rate, SpO2, respiration,
  skin temperature and steps on fixed clinical scales with the patient's limits and the alerts
  of the window (and the nights view for illness alerts), the alert timeline, a link to the
  Grafana patient dashboard; without ``window`` the shortest one that shows the data;
* ``GET /events`` — server-sent events: ``board`` when an alert the user may see changes,
  ``tick`` every 30 s; at most ``WEARMON_CONSOLE_STREAMS_PER_SESSION`` per session (429);
* ``GET /fragments/…`` — the parts of the pages that live updates replace;
* ``GET /health`` — readiness, without login.

Every page, link, live update and action is scoped to the user's wards (``scope``): an alert or
patient of another ward answers 404, like one that does not exist. POSTs need the session's CSRF
token; cookies are HttpOnly and SameSite=Lax; responses carry a strict Content-Security-Policy
and are not cached.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from wearmon.stream.alerts.board import AlertCard
from wearmon.stream.alerts.command import ACTIONS
from wearmon.stream.console.access.accounts import Account
from wearmon.stream.console.access.scope import (
    board_mark,
    sees_patient,
    visible_cards,
    visible_wards,
)
from wearmon.stream.console.access.sessions import Session
from wearmon.stream.console.access.web_auth import (
    account_of,
    live_account,
    login,
    login_page,
    login_required,
    logout,
    require_csrf,
    session_middleware,
    user_of,
)
from wearmon.stream.console.board_view import (
    alert_row,
    clock_text,
    illness_budget_text,
    open_rows,
    trail,
    wards,
)
from wearmon.stream.console.charts.page import patient_charts, steps_bucket_s, wants_nights
from wearmon.stream.console.charts.vitals import WINDOWS, bucket_s, default_window
from wearmon.stream.console.context import HERE, Console, render, templates, wall_ms
from wearmon.stream.notify.links import LinkError, verify_token

log = logging.getLogger(__name__)
SNOOZE_MINUTES = (15, 30, 60, 120, 240)
TICK_S = 30.0
NOTE_MAX_CHARS = 500
RESULTS = {  # ?done= after an action (a fixed set: no free text in URLs)
    "ack": "Acknowledged: escalation stopped.", "snooze": "Snoozed.", "resolve": "Resolved.",
    "pending": "Sent; the worker has not confirmed yet. This page updates when it does.",
    "conflict": "Not applied: the alert changed meanwhile (e.g. already resolved).",
}


async def view_ready(console: Console, timeout_s: float = 10.0) -> None:
    try:
        await asyncio.wait_for(asyncio.gather(console.feed.wait_ready(),
                                              console.patients.wait_ready()), timeout_s)
    except TimeoutError:
        raise web.HTTPServiceUnavailable(text="the alerts view is still loading") from None


def seen_cards(console: Console, account: Account, cards: Iterable[AlertCard]
               ) -> list[AlertCard]:
    return visible_cards(account, cards, console.patients.by_patient)


def card_of(request: web.Request, ref: str = "") -> AlertCard:
    """The alert of the reference, if the user may see it; otherwise 404 (as if none)."""
    console: Console = request.app["console"]
    cards = seen_cards(console, account_of(request), console.feed.board.cards.values())
    card = console.refs.find_alert(ref or request.match_info["ref"], cards)
    if card is None:
        raise web.HTTPNotFound(text="no such alert (it may have been resolved long ago)")
    return card


def alert_context(console: Console, card: AlertCard) -> dict[str, Any]:
    now_ms = wall_ms()
    tz = console.settings.console.timezone
    settings = console.patients.get(card.patient)
    return {
        "row": alert_row(card, settings, console.refs, now_ms, tz, console.people,
                         console.next_steps),
        "trail": trail(card, settings, now_ms, tz, console.people),
    }


def rows_context(console: Console, account: Account, ward: str) -> dict[str, Any]:
    cards = seen_cards(console, account, console.feed.board.open_cards())
    rows = open_rows(cards, dict(console.patients.by_patient),
                     console.refs, wall_ms(), console.settings.console.timezone,
                     console.people, ward, console.next_steps)
    return {"rows": [r for r in rows if r.needs_action],
            "in_hand": [r for r in rows if not r.needs_action],
            "exhausted": sum(r.exhausted for r in rows), "ward": ward}


# --- handlers ------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    return web.json_response({"ready": console.feed.ready and console.patients.ready})


@login_required
async def alerts_page(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    await view_ready(console)
    ward, account = request.query.get("ward", ""), account_of(request)
    shown = visible_wards(account, wards(console.patients.by_patient.values()))
    return render(request, "alerts.html", wards=shown, **rows_context(console, account, ward))


@login_required
async def alerts_fragment(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    await view_ready(console)
    ward = request.query.get("ward", "")
    return render(request, "_alert_rows.html",
                  **rows_context(console, account_of(request), ward))


@login_required
async def monitoring_fragment(request: web.Request) -> web.Response:
    """The banner of wards whose monitoring is delayed (empty when all are watched)."""
    return render(request, "_monitoring.html")


@login_required
async def alert_page(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    await view_ready(console)
    card = card_of(request)
    done = request.query.get("done", "")
    return render(request, "alert.html", snooze_minutes=SNOOZE_MINUTES,
                  result=RESULTS.get(done, ""), **alert_context(console, card))


@login_required
async def alert_fragment(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    await view_ready(console)
    return render(request, "_alert_facts.html", **alert_context(console, card_of(request)))


@login_required
async def alert_action(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    form = await request.post()
    require_csrf(request, form)
    await view_ready(console)
    card = card_of(request)
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise web.HTTPNotFound(text="unknown action")
    note = str(form.get("note", "")).strip()[:NOTE_MAX_CHARS]
    until_ms = None
    if action == "snooze":
        try:
            minutes = int(str(form.get("minutes", "")))
        except ValueError:
            raise web.HTTPBadRequest(text="snooze: choose how long") from None
        if minutes not in SNOOZE_MINUTES:
            raise web.HTTPBadRequest(text="snooze: choose how long")
        until_ms = wall_ms() + minutes * 60_000
    result = await console.feed.act(card, action, user_of(request), note, until_ms,
                                    console.settings.api.wait_s)
    log.info("console: %s by %s -> HTTP %d", action, user_of(request), result.status)
    done = action if result.status == 200 else "pending" if result.status == 202 else "conflict"
    raise web.HTTPSeeOther(f"/alerts/{request.match_info['ref']}?done={done}")


async def signed_link(request: web.Request) -> web.Response:
    """A message's link: refused when altered or expired; otherwise that alert (after login)."""
    console: Console = request.app["console"]
    try:
        ref = verify_token(console.secret, request.match_info["token"], time.time())
    except LinkError as exc:
        return render(request, "message.html", status=403, title="Link not valid",
                      message=f"{str(exc).capitalize()}. Open the console and find the alert "
                      "in the list of open alerts.")
    if not user_of(request):
        raise web.HTTPSeeOther(f"/login?next=/alerts/{ref}")
    await view_ready(console)
    card_of(request, ref)  # another ward's alert: 404
    raise web.HTTPSeeOther(f"/alerts/{ref}")


@login_required
async def patient_page(request: web.Request) -> web.Response:
    console: Console = request.app["console"]
    await view_ready(console)
    cards = console.feed.board.cards.values()
    account = account_of(request)
    patients = {p for p in {*console.patients.by_patient, *(c.patient for c in cards)}
                if sees_patient(account, p, console.patients.by_patient)}
    patient = console.refs.find_patient(request.match_info["ref"], patients)
    if patient is None:
        raise web.HTTPNotFound(text="no such patient")
    tz, now_ms = console.settings.console.timezone, wall_ms()
    own = console.feed.board.of_patient(patient)
    window = request.query.get("window", "")
    chosen = window in WINDOWS
    if not chosen:
        first = await console.reader.first_data_ms(patient) if console.reader else None
        window = default_window(first, now_ms, [c.opened_ms for c in own if c.active])
    history = await console.reader.patient(
        patient, WINDOWS[window][0], bucket_s(window), steps_bucket_s(window),
        wants_nights(window, own)) if console.reader else None
    settings = console.patients.get(patient)
    grafana = ""
    if console.settings.console.grafana_url:
        grafana = (f"{console.settings.console.grafana_url}/d/wearmon-patient?"
                   f"var-patient={patient}&from=now-{window}&to=now")
    charts = []
    if history is not None and not history.error:
        charts = patient_charts(history, settings, own, window, now_ms, tz)
    people = console.people
    timeline = [{**e, "at": clock_text(int(e["time"]), tz, now_ms),
                 "actor": people.get(e["actor"], e["actor"])}
                for e in (history.timeline if history else [])]
    rows = [alert_row(c, settings, console.refs, now_ms, tz, people, console.next_steps)
            for c in own]
    return render(request, "patient.html", patient=patient, ward=settings.ward if settings else "",
                  window=window, window_text=WINDOWS[window][1], chosen=chosen,
                  windows=WINDOWS, charts=charts, rows=rows, timeline=timeline, grafana=grafana,
                  error=history.error if history else "InfluxDB is not configured",
                  patient_ref=request.match_info["ref"], tz=tz,
                  illness_budget=illness_budget_text(
                      settings, console.patients.by_patient.values()))


@login_required
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``board`` when an alert the user may see changes, ``tick`` otherwise;
    the stream ends when the session does (logout, new password, account removed)."""
    console: Console = request.app["console"]
    session: Session = request["session"]
    limit = console.settings.console.streams_per_session
    if console.streams_of(session.sid) >= limit:
        raise web.HTTPTooManyRequests(
            text=f"at most {limit} live-update streams per session: close another tab")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    console.streams[response] = session.sid  # counted before the first await
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n\n")
        await follow_board(console, session, response)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        console.streams.pop(response, None)
    return response


async def follow_board(console: Console, session: Session, response: web.StreamResponse
                       ) -> None:
    """Write ``board`` when the user's alerts change and ``tick`` when nothing changed for
    ``TICK_S``; nothing when only other wards' alerts changed."""
    mark: str | None = None
    changed, sent = False, 0
    while (account := live_account(console, session)) is not None:
        version = console.feed.board.version
        new = board_mark(seen_cards(console, account, console.feed.board.cards.values()))
        if mark is not None and (new != mark or not changed):
            sent += 1
            await response.write(f"event: {'board' if new != mark else 'tick'}\n"
                                 f"data: {sent}\n\n".encode())
        mark = new  # a change while writing is not missed:
        changed = console.feed.board.version != version or await console.feed.changed(TICK_S)


def create_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[session_middleware(console)], client_max_size=64 * 1024)
    app["console"] = console
    app["templates"] = templates()
    app.add_routes([
        web.get("/health", health),
        web.get("/login", login_page), web.post("/login", login), web.post("/logout", logout),
        web.get("/", alerts_page), web.get("/fragments/alerts", alerts_fragment),
        web.get("/alerts/{ref}", alert_page), web.get("/fragments/alert/{ref}", alert_fragment),
        web.post("/alerts/{ref}/{action}", alert_action),
        web.get("/a/{token}", signed_link),
        web.get("/patients/{ref}", patient_page),
        web.get("/events", events),
        web.get("/fragments/monitoring", monitoring_fragment),
        web.static("/static", HERE / "static"),
    ])

    async def close_streams(app: web.Application) -> None:
        for stream in list(console.streams):
            if stream.task is not None:
                stream.task.cancel()

    app.on_shutdown.append(close_streams)
    return app
