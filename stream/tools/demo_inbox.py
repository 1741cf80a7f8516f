"""The demo's local inbox: where the simulated care team's and patients' messages arrive.

An aiohttp server on loopback that Apprise posts to (``json://127.0.0.1:PORT/<recipient>``) and
that shows what arrived at ``http://127.0.0.1:PORT/`` (newest first, links clickable: the
console links in care-team messages open the alert). Messages live in memory only.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

MAX_MESSAGES = 500
_LINK = re.compile(r"https?://[^\s<>\"]+")


@dataclass(frozen=True, slots=True)
class InboxMessage:
    recipient: str
    title: str
    body: str
    kind: str  # Apprise type: info, success, warning, failure
    at_s: float


@dataclass
class Inbox:
    messages: list[InboxMessage] = field(default_factory=list)
    on_message: Callable[[InboxMessage], None] | None = None
    port: int = 0
    _runner: web.AppRunner | None = None

    def url(self, recipient: str) -> str:
        """The Apprise URL of one demo recipient."""
        return f"json://127.0.0.1:{self.port}/{recipient}"

    @property
    def page_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def receive(self, request: web.Request) -> web.Response:
        doc = await request.json()
        message = InboxMessage(request.match_info["recipient"], str(doc.get("title", "")),
                               str(doc.get("message", "")), str(doc.get("type", "info")),
                               time.time())
        self.messages = [*self.messages[-(MAX_MESSAGES - 1):], message]
        if self.on_message is not None:
            self.on_message(message)
        return web.Response(text="ok")

    async def page(self, request: web.Request) -> web.Response:
        items = "\n".join(_item(m) for m in reversed(self.messages)) or "<p>Nothing yet.</p>"
        body = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<meta http-equiv='refresh' content='10'><title>Wearmon demo inbox</title>"
            "<style>body{font:16px/1.4 system-ui,sans-serif;max-width:900px;margin:auto;"
            "padding:12px}article{border:1px solid #ccc;border-left:6px solid #888;"
            "border-radius:8px;padding:8px 12px;margin:10px 0}.failure{border-left-color:#b3261e}"
            ".warning{border-left-color:#9a5b00}.success{border-left-color:#1e6b3a}"
            "pre{white-space:pre-wrap;font:inherit;margin:6px 0}</style></head><body>"
            "<h1>Wearmon demo inbox</h1><p>Messages to the simulated care team and patients "
            "(refreshes every 10 s). Care-team messages carry a signed link to the console."
            f"</p>{items}</body></html>")
        return web.Response(text=body, content_type="text/html")

    async def start(self, port: int) -> None:
        app = web.Application()
        app.add_routes([web.get("/", self.page), web.post("/{recipient}", self.receive)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _item(m: InboxMessage) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(m.at_s))
    text = _LINK.sub(lambda u: f"<a href='{u.group(0)}'>{u.group(0)}</a>", html.escape(m.body))
    return (f"<article class='{html.escape(m.kind)}'><strong>{html.escape(m.title)}</strong>"
            f"<br><small>to {html.escape(m.recipient)} at {when}</small><pre>{text}</pre>"
            "</article>")
