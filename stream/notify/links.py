"""Signed, expiring links to one alert in the care-team console. Pure functions.

A care-team message carries ``{public_url}/a/{token}``; the token names the alert by an opaque
reference (a keyed hash of the alert id, which itself contains the patient pseudonym), so the URL
holds no patient data. ``token = ref.expiry.signature``: the console finds the alert by ``ref``,
refuses the link after ``expiry`` (Unix seconds, base 36) and refuses any altered token.

One secret (``WEARMON_CONSOLE_SECRET_KEY``) is shared by the workers that write the links and the
console that opens them; each use gets its own derived key.

>>> key, alert_id = b"k" * 32, "p-0001:bradycardia:1700000000000"
>>> token = link_token(key, alert_id, expires_s=2_000_000_000)
>>> verify_token(key, token, now_s=1_999_999_999) == opaque_ref(key, ALERT, alert_id)
True
>>> "p-0001" in token
False
>>> verify_token(key, token, now_s=2_000_000_001)
Traceback (most recent call last):
...
wearmon.stream.notify.links.LinkError: this link has expired
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

ALERT = "alert"
PATIENT = "patient"
REF_CHARS = 16  # 96 bits
SIG_CHARS = 22  # 132 bits
_TOKEN = re.compile(r"([A-Za-z0-9_-]{16})\.([0-9a-z]{1,13})\.([A-Za-z0-9_-]{22})")


class LinkError(ValueError):
    """A link that must be refused: altered, malformed or expired."""


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A separate key per use (links, references, sessions) from the one configured secret."""
    return hmac.new(secret, f"wearmon:{purpose}".encode(), hashlib.sha256).digest()


def _b64(data: bytes, chars: int) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")[:chars]


def opaque_ref(secret: bytes, kind: str, value: str) -> str:
    """A stable reference to an alert or a patient that reveals nothing about it."""
    digest = hmac.new(derive_key(secret, f"ref:{kind}"), value.encode(), hashlib.sha256)
    return _b64(digest.digest(), REF_CHARS)


def _signature(secret: bytes, ref: str, expiry: str) -> str:
    mac = hmac.new(derive_key(secret, "link"), f"{ref}.{expiry}".encode(), hashlib.sha256)
    return _b64(mac.digest(), SIG_CHARS)


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def link_token(secret: bytes, alert_id: str, expires_s: int) -> str:
    ref = opaque_ref(secret, ALERT, alert_id)
    expiry = _base36(expires_s)
    return f"{ref}.{expiry}.{_signature(secret, ref, expiry)}"


def verify_token(secret: bytes, token: str, now_s: float) -> str:
    """The alert reference of a valid, unexpired token; ``LinkError`` otherwise."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise LinkError("this link is not valid")
    ref, expiry, signature = match.groups()
    if not hmac.compare_digest(signature, _signature(secret, ref, expiry)):
        raise LinkError("this link is not valid")
    if int(expiry, 36) < now_s:
        raise LinkError("this link has expired")
    return ref


def alert_link(public_url: str, secret: bytes, alert_id: str, now_s: float, ttl_s: float) -> str:
    """The link a care-team message carries."""
    token = link_token(secret, alert_id, int(now_s + ttl_s))
    return f"{public_url.rstrip('/')}/a/{token}"
