"""Signed, expiring session cookies and CSRF tokens for the console (stateless, stdlib HMAC).

A session is ``base64(json {sid, user, ver, exp}) . signature``; every visitor gets one
(anonymous until login, so the login form has a CSRF token too), and logging in issues a new
``sid`` (no session fixation). ``ver`` is the account's session version at login: the console
accepts the session only while the account exists with that version (``accounts``), so
logout, a new password and removing the account end it at once. The CSRF token is an HMAC of
the ``sid``: a form or request that does not carry it is refused. The cookie is HttpOnly,
SameSite=Lax (a link from an e-mail still arrives logged in; cross-site POSTs do not carry it)
and Secure when the console is served over HTTPS.

>>> keys = SessionKeys(b"k" * 32)
>>> cookie = keys.encode(Session(sid="abc", user="nurse.jo", exp_s=2_000_000_000))
>>> keys.decode(cookie, now_s=1_999_999_999).user
'nurse.jo'
>>> keys.decode(cookie + "x", now_s=0) is None, keys.decode(cookie, now_s=2_000_000_001) is None
(True, True)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from wearmon.stream.notify.links import derive_key

COOKIE = "wearmon_console"


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    user: str  # "" until logged in
    exp_s: int
    version: int = 0  # the account's session version at login

    @classmethod
    def anonymous(cls, now_s: float, ttl_s: float) -> Session:
        return cls(secrets.token_urlsafe(16), "", int(now_s + ttl_s))

    @classmethod
    def login(cls, user: str, version: int, now_s: float, ttl_s: float) -> Session:
        """A new session id for the logged-in user (never the anonymous one's)."""
        return cls(secrets.token_urlsafe(16), user, int(now_s + ttl_s), version)


class SessionKeys:
    def __init__(self, secret: bytes) -> None:
        self._session = derive_key(secret, "session")
        self._csrf = derive_key(secret, "csrf")

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self._session, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def encode(self, session: Session) -> str:
        doc = {"sid": session.sid, "user": session.user, "ver": session.version,
               "exp": session.exp_s}
        payload = base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
        return f"{payload}.{self._sign(payload)}"

    def decode(self, cookie: str, now_s: float) -> Session | None:
        """The session, or None when the cookie is missing, altered or expired."""
        payload, _, signature = cookie.partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(str(doc["sid"]), str(doc["user"]), int(doc["exp"]),
                              int(doc.get("ver", 0)))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.exp_s >= now_s else None

    def csrf_token(self, session: Session) -> str:
        mac = hmac.new(self._csrf, session.sid.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def csrf_ok(self, session: Session, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.csrf_token(session).encode())
