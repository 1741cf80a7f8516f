"""How the exporter authenticates to the FHIR server: a bearer token, SMART backend services, or
nothing.

SMART backend services (the client-credentials grant with a signed JWT assertion, SMART App
Launch 2 "Backend Services"): the client signs a short-lived JWT with its private key (RS384 for
RSA keys, ES256/ES384/ES512 by the EC key's curve) — ``iss`` = ``sub`` = the client id, ``aud``
= the token endpoint, ``exp`` within five minutes, a fresh ``jti``, the key's ``kid`` in the
header — and posts it to the token endpoint for an access token, which is used until shortly
before it expires, or until the server answers 401 (then a new one is fetched).

Tokens and keys are never logged; the token endpoint's refusal is quoted only by its OAuth
``error`` code.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from wearmon.stream.config import ConfigError, FhirSettings

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_S = 300  # SMART: no more than five minutes
CURVES = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class FhirOutage(Exception):
    """The FHIR server (or its token endpoint) cannot take writes now: wait and retry."""

    def __init__(self, what: str, status: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(what)
        self.status = status
        self.retry_after_s = retry_after_s


class TokenRefused(FhirOutage):
    """The token endpoint refuses this client (stops the exporter at start-up; while it runs,
    an outage to wait out, as a refused bearer token)."""


class Auth(Protocol):
    async def headers(self) -> dict[str, str]:
        """The ``Authorization`` header for the next request (empty: none)."""
        ...

    def refused(self) -> None:
        """The server answered 401: forget the token (a new one is fetched, if possible)."""
        ...


class NoAuth:
    async def headers(self) -> dict[str, str]:
        return {}

    def refused(self) -> None:
        pass


class BearerToken:
    def __init__(self, token: str) -> None:
        self._header = {"Authorization": f"Bearer {token}"}

    async def headers(self) -> dict[str, str]:
        return self._header

    def refused(self) -> None:
        pass  # the same token again: an operator must change it


def signing_key(path: str) -> tuple[Any, str]:
    """The private key of a PEM file and its JWT algorithm; ``ConfigError`` when it is not an
    unencrypted RSA or EC (P-256/384/521) private key."""
    variable = "WEARMON_FHIR_PRIVATE_KEY_FILE"
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise ConfigError(f"{variable}: not a readable, unencrypted PEM private key "
                          f"({type(error).__name__})") from None
    if isinstance(key, rsa.RSAPrivateKey):
        return key, "RS384"
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in CURVES:
        return key, CURVES[key.curve.name]
    raise ConfigError(f"{variable}: an RSA or EC (P-256, P-384, P-521) key is needed")


class SmartBackend:
    """Access tokens from the token endpoint, each asked for with a fresh signed assertion."""

    def __init__(self, config: FhirSettings, session: aiohttp.ClientSession,
                 clock_s: Callable[[], float] = time.time) -> None:
        self.config = config
        self.session = session
        self.clock_s = clock_s
        self.key, self.algorithm = signing_key(config.private_key_file)
        self.token: str | None = None
        self.renew_at_s = 0.0
        self.tokens_fetched = 0
        self.fetching = asyncio.Lock()  # concurrent requests wait for one new token

    def assertion(self, now_s: float) -> str:
        """The client's signed JWT (``client_assertion``)."""
        claims = {"iss": self.config.client_id, "sub": self.config.client_id,
                  "aud": self.config.token_url, "iat": int(now_s),
                  "exp": int(now_s) + ASSERTION_LIFETIME_S, "jti": uuid.uuid4().hex}
        headers = {"kid": self.config.key_id} if self.config.key_id else None
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers=headers)

    async def headers(self) -> dict[str, str]:
        async with self.fetching:
            if self.token is None or self.clock_s() >= self.renew_at_s:
                await self.fetch()
        return {"Authorization": f"Bearer {self.token}"}

    def refused(self) -> None:
        self.token = None

    async def fetch(self) -> None:
        """A new access token; ``TokenRefused`` when the endpoint refuses the client,
        ``FhirOutage`` when it cannot answer."""
        now_s = self.clock_s()
        form = {"grant_type": "client_credentials", "scope": self.config.scope,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.assertion(now_s)}
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with self.session.post(self.config.token_url, data=form, timeout=timeout,
                                         headers={"Accept": "application/json"}) as resp:
                status, body = resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FhirOutage(f"the SMART token endpoint is unreachable ({type(exc).__name__})"
                             ) from None
        if status in (400, 401, 403):
            raise TokenRefused(f"the SMART token endpoint refuses client "
                               f"{self.config.client_id!r} ({oauth_error(body)}, HTTP {status}): "
                               "check WEARMON_FHIR_CLIENT_ID, WEARMON_FHIR_PRIVATE_KEY_FILE, "
                               "WEARMON_FHIR_KEY_ID and WEARMON_FHIR_SCOPE", 401)
        doc = parsed(body)
        token, lifetime_s = doc.get("access_token"), doc.get("expires_in", 300)
        if status != 200 or not isinstance(token, str) or not isinstance(lifetime_s, int | float):
            raise FhirOutage(f"the SMART token endpoint cannot issue a token (HTTP {status})",
                             status)
        self.token = token
        self.renew_at_s = now_s + lifetime_s - min(60.0, lifetime_s / 5)
        self.tokens_fetched += 1


def parsed(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def oauth_error(body: bytes) -> str:
    """The OAuth ``error`` code of a refusal (``invalid_client``), never its description.

    >>> oauth_error(b'{"error": "invalid_client", "error_description": "unknown kid"}')
    'invalid_client'
    """
    error = parsed(body).get("error")
    return error[:40] if isinstance(error, str) and error.isascii() else "no error code"


def auth_for(config: FhirSettings, session: aiohttp.ClientSession) -> Auth:
    if config.smart:
        return SmartBackend(config, session)
    if config.token is not None:
        return BearerToken(config.token.get_secret_value())
    return NoAuth()
