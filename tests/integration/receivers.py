"""Real message receivers that live in their own threads (usable from sync tests and fixtures of
any scope): an SMTP server (aiosmtpd) and an HTTP server for Apprise's ``json://`` webhooks.

Arrivals go to thread-safe queues; ``next`` waits for one with a timeout, ``silent_for``
checks that nothing arrives for a while (used to show that something did *not* happen).
"""

from __future__ import annotations

import email
import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from wearmon.stream.tools.services import free_port


@dataclass
class Arrival:
    channel: str  # the webhook path ("/oncall") or the mail recipient
    title: str
    text: str
    raw: Any


@dataclass
class Inbox:
    """Every arrival, per channel and overall."""

    arrivals: queue.Queue[Arrival] = field(default_factory=queue.Queue)
    seen: list[Arrival] = field(default_factory=list)

    def put(self, arrival: Arrival) -> None:
        self.seen.append(arrival)
        self.arrivals.put(arrival)

    def next(self, timeout_s: float = 30.0) -> Arrival:
        try:
            return self.arrivals.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"nothing arrived within {timeout_s:.0f} s; seen so far: "
                                 f"{[(a.channel, a.title) for a in self.seen]}") from None

    def silent_for(self, seconds: float) -> None:
        """Nothing arrives during ``seconds``: not a poll, one wait on the queue that fails at
        the first arrival (or at once if something is already waiting in it)."""
        try:
            arrival = self.arrivals.get(timeout=max(seconds, 0.0))
        except queue.Empty:
            return  # the silence held
        raise AssertionError(f"unexpected message to {arrival.channel}: {arrival.title}")


class _MailHandler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(envelope.original_content or b"", policy=email_policy)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        text = str(body.get_content()) if body is not None else ""
        for to in envelope.rcpt_tos:
            self.inbox.put(Arrival(to, str(message["Subject"]), text, message))
        return "250 OK"


class MailServer:
    def __init__(self, inbox: Inbox) -> None:
        self.port = free_port()
        self.controller = Controller(_MailHandler(inbox), hostname="127.0.0.1", port=self.port)

    def url(self, to: str) -> str:
        return (f"mailto://127.0.0.1:{self.port}?from=wearmon@example.org&to={to}"
                "&mode=insecure")

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


class WebhookServer:
    def __init__(self, inbox: Inbox) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                inbox.put(Arrival(self.path, str(payload.get("title", "")),
                                  str(payload.get("message", "")), payload))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def running_receivers() -> Iterator[tuple[Inbox, MailServer, WebhookServer]]:
    """An inbox, with a mail server and a webhook server that deliver into it, started."""
    inbox = Inbox()
    mail, hooks = MailServer(inbox), WebhookServer(inbox)
    mail.start()
    hooks.start()
    try:
        yield inbox, mail, hooks
    finally:
        mail.stop()
        hooks.stop()
