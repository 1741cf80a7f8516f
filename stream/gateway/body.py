"""Read a request body within the gateway's bounds: size, and a minimum pace.

The body must be complete within ``BodyLimits.timeout_s``, extended by one second per
``min_bytes_per_s`` bytes received so far (the rule of Apache's ``mod_reqtimeout``): a device on
a slow link gets the time its bytes justify, a connection that trickles a byte now and then is
cut off. Too slow: ``408 body_too_slow``; larger than the limit: ``413 too_large`` (both before
the rest is read); a broken transfer encoding: ``400 bad_body``; a sender that went away:
``400 body_incomplete`` (counted, not logged).
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import StreamReader
from aiohttp.http_exceptions import HttpProcessingError

from wearmon.stream.gateway.admission import Refusal, refuse
from wearmon.stream.gateway.limits import BodyLimits


class BodyRefused(Exception):
    """The body was not read: why, as a ``Refusal``."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


def too_large(limits: BodyLimits) -> Refusal:
    return refuse(413, "$", "too_large", f"uploads are limited to {limits.max_bytes} bytes")


async def read_body(stream: StreamReader, limits: BodyLimits) -> bytes:
    """The whole body, or ``BodyRefused`` (408 too slow, 413 too large)."""
    started_s = time.monotonic()
    parts: list[bytes] = []
    received = 0
    while True:
        remaining_s = limits.deadline_s(started_s, received) - time.monotonic()
        try:
            if remaining_s <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining_s):
                chunk = await stream.readany()
        except TimeoutError:
            raise BodyRefused(refuse(
                408, "$", "body_too_slow",
                f"the body did not arrive within {limits.timeout_s:g} s plus 1 s per "
                f"{limits.min_bytes_per_s} bytes")) from None
        except HttpProcessingError:  # a broken chunked encoding, a body shorter than announced
            raise BodyRefused(refuse(400, "$", "bad_body",
                                     "the body's transfer encoding is broken")) from None
        except ConnectionError:  # the sender went away: an answer nobody reads, no traceback
            raise BodyRefused(refuse(400, "$", "body_incomplete",
                                     "the connection closed before the body was complete")
                              ) from None
        if not chunk:
            return b"".join(parts)
        received += len(chunk)
        if received > limits.max_bytes:
            raise BodyRefused(too_large(limits))
        parts.append(chunk)
