"""Logs carry no recipient addresses, URLs, tokens, cookies or signed links — libraries' loggers
included.

* Apprise logs "Sent Email to <address>" at INFO, and its plugins log whole URLs (an ntfy topic,
  a webhook with a token in its path): its logger is kept at WARNING, and addresses and URLs are
  redacted from whatever it still logs.
* aiohttp (the gateway's, the console's and the workers' HTTP library) logs the raw line of a
  request it cannot parse (``BadHttpMessage`` quotes it as Python bytes: an ``Authorization``
  header folded over two lines or holding a NUL byte arrives there whole, device token included),
  and its client and access loggers can name URLs and headers. Its loggers (and asyncio's, which
  reports exceptions of tasks) are redacted with ``redact_http``: quoted raw bytes, header values
  of ``Authorization``/``Cookie``/``Set-Cookie``, bearer and basic credentials, device tokens,
  the console's session cookie, signed links and query strings — in the message and in the
  traceback text, which the filter renders and redacts itself.

``quiet_libraries()`` installs both; every Wearmon process calls it at start-up (``wearmon``'s
entry point, and the worker again once Faust has set up logging).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable

REDACTED = "<redacted>"
#: e-mail addresses, and URLs of any scheme (they may hold credentials or topics)
_SECRETS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
#: (pattern, replacement) for what HTTP libraries log, applied in this order
_HTTP_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    # raw bytes as Python prints them (the parser's quote of a request line or header)
    (re.compile(r"""b'(?:[^'\\\n]|\\.)*(?:'|$)|b"(?:[^"\\\n]|\\.)*(?:"|$)""", re.MULTILINE),
     f"b'{REDACTED}'"),
    (re.compile(r"(?i)\b((?:proxy-)?authorization|(?:set-)?cookie|x-api-key)(\s*[:=]\s*)[^\n]*"),
     rf"\1\2{REDACTED}"),
    (re.compile(r"(?i)\b(bearer|basic|token)(\s+)\S+"), rf"\1\2{REDACTED}"),
    (re.compile(r"\bwmd_[A-Za-z0-9_-]+"), REDACTED),  # device tokens, anywhere
    (re.compile(r"(?i)\b(wearmon_console=)[^;\s'\"]*"), rf"\1{REDACTED}"),  # the session cookie
    (re.compile(r"/a/[^\s'\"?#]+"), f"/a/{REDACTED}"),  # the console's signed links
    (re.compile(r"(/[^\s'\"?]*)\?[^\s'\"#]*"), rf"\1?{REDACTED}"),  # query strings
)
LIBRARY_LOGGERS = ("apprise",)
HTTP_LOGGERS = ("aiohttp.access", "aiohttp.client", "aiohttp.internal", "aiohttp.server",
                "aiohttp.web", "aiohttp.websocket", "asyncio")


def redact(text: str) -> str:
    """Addresses and URLs out of a log message.

    >>> redact("Sent Email to nurse.jones@example.org via ntfy://ntfy.sh/ward-3")
    'Sent Email to <redacted> via <redacted>'
    """
    return _SECRETS.sub(REDACTED, text)


def redact_http(text: str) -> str:
    """Credentials, cookies, signed links and raw request bytes out of an HTTP library's log.

    >>> redact_http("Invalid header value char:\\n    b'Authorization: Bearer wmd_ab\\\\x00cd'")
    "Invalid header value char:\\n    b'<redacted>'"
    >>> redact_http("GET /a/3kq.x9.Zm9v?next=/alerts HTTP/1.1 Cookie: wearmon_console=s3cr3t")
    'GET /a/<redacted>?<redacted> HTTP/1.1 Cookie: <redacted>'
    """
    for pattern, replacement in _HTTP_SECRETS:
        text = pattern.sub(replacement, text)
    return redact(text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, traceback and stack with ``redactor`` (keeps the record).

    The traceback is rendered here and kept only as redacted text (``exc_text``): handlers
    format exceptions from ``exc_info`` otherwise, past any filter.
    """

    def __init__(self, redactor: Callable[[str], str] = redact) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redactor(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[0] is not None:
            rendered = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text, record.exc_info = self.redactor(rendered), None
        elif record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        return True


def install(names: tuple[str, ...], redactor: Callable[[str], str]) -> None:
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter(redactor))


def quiet_libraries() -> None:
    """Apprise at WARNING and redacted; HTTP libraries' loggers redacted; idempotent."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    install(LIBRARY_LOGGERS, redact)
    install(HTTP_LOGGERS, redact_http)
