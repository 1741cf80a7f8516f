"""Logs carry no recipient addresses, URLs or tokens — libraries' loggers included.

Apprise logs "Sent Email to <address>" at INFO, and its plugins log whole URLs (an ntfy topic,
a webhook with a token in its path). ``quiet_libraries()`` keeps Apprise's logger at WARNING and
redacts e-mail addresses and URLs from whatever it still logs; every Wearmon process calls it at
start-up.
"""

from __future__ import annotations

import logging
import re

REDACTED = "<redacted>"
#: e-mail addresses, and URLs of any scheme (they may hold credentials or topics)
_SECRETS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
LIBRARY_LOGGERS = ("apprise",)


def redact(text: str) -> str:
    """Addresses and URLs out of a log message.

    >>> redact("Sent Email to nurse.jones@example.org via ntfy://ntfy.sh/ward-3")
    'Sent Email to <redacted> via <redacted>'
    """
    return _SECRETS.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with addresses and URLs redacted (it keeps the record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def quiet_libraries() -> None:
    """Apprise at WARNING, and redacted; idempotent."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
