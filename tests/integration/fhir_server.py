"""A small real FHIR R4 server for the exporter's tests, in its own thread (aiohttp).

* ``GET /fhir/metadata``: a CapabilityStatement (update and conditional update of Flag and
  Communication);
* ``PUT /fhir/{Flag|Communication}?identifier=system|value``: conditional update — every body is
  validated with ``fhir.resources`` (a body the model refuses is answered 400 and recorded in
  ``invalid``, which the tests expect empty), no match creates (201), one match updates (200);
  FHIR's search escapes (``\\|``) are read;
* credentials: none, a bearer token, or SMART backend services (``POST /auth/token`` verifies
  the client's signed JWT assertion with its public key and issues short-lived tokens;
  ``revoke_tokens`` makes the next request answer 401);
* ``stop`` closes the port (an unreachable server) and ``start`` opens it again with the same
  resources; ``refuse`` decides per resource whether to answer 422 with an OperationOutcome.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import jwt
import orjson
from aiohttp import web
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.flag import Flag
from pydantic import ValidationError

from wearmon.stream.tools.services import free_port

MODELS = {"Flag": Flag, "Communication": Communication}
FHIR_JSON = "application/fhir+json"
Refuse = Callable[[str, dict[str, Any]], str | None]  # (type, resource) → diagnostics, or None


def split_token(value: str) -> tuple[str, str]:
    """``system|value`` of a token search, FHIR's escapes (``\\|``, ``\\,``, ``\\$``,
    ``\\\\``) read."""
    parts, current, chars = [], "", iter(value)
    for char in chars:
        if char == "\\":
            current += next(chars, "")
        elif char == "|" and not parts:
            parts.append(current)
            current = ""
        else:
            current += char
    return (parts[0], current) if parts else ("", current)


def outcome(code: str, diagnostics: str, expression: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def capability_statement() -> dict[str, Any]:
    resource = {"interaction": [{"code": "read"}, {"code": "update"}, {"code": "search-type"}],
                "conditionalUpdate": True,
                "searchParam": [{"name": "identifier", "type": "token"}]}
    doc = {"resourceType": "CapabilityStatement", "status": "active",
           "date": "2026-03-02", "kind": "instance", "fhirVersion": "4.0.1",
           "format": ["json"],
           "rest": [{"mode": "server", "resource": [{"type": name, **resource}
                                                    for name in MODELS]}]}
    CapabilityStatement.model_validate(doc)
    return doc


class FhirServer:
    def __init__(self, token: str | None = None, client_id: str = "",
                 public_key: Any = None, token_lifetime_s: int = 300) -> None:
        self.port = free_port()
        self.token = token
        self.client_id = client_id
        self.public_key = public_key
        self.token_lifetime_s = token_lifetime_s
        self.tokens: set[str] = set()
        self.tokens_issued = 0
        self.stored: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.creates: Counter[str] = Counter()
        self.updates: Counter[str] = Counter()
        self.invalid: list[str] = []
        self.refused: list[dict[str, Any]] = []
        self.refuse: Refuse = lambda kind, resource: None
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/auth/token"

    # --- what the tests read ------------------------------------------------------------

    def resources(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [doc for (k, _, _), doc in self.stored.items() if k == kind]

    def find(self, kind: str, value: str) -> dict[str, Any] | None:
        with self.lock:
            return next((doc for (k, _, v), doc in self.stored.items()
                         if k == kind and v == value), None)

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        ready = threading.Event()
        threading.Thread(target=self.serve, args=(ready,), daemon=True).start()
        assert ready.wait(10), "the FHIR test server did not start"

    def serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        app = web.Application()
        app.router.add_get("/fhir/metadata", self.metadata)
        app.router.add_put("/fhir/{kind}", self.conditional_update)
        app.router.add_post("/auth/token", self.issue_token)
        self.runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self.runner.setup())
        loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        ready.set()
        loop.run_forever()
        loop.close()

    def stop(self) -> None:
        """Close the port (the resources stay, for ``start``)."""
        loop, runner = self.loop, self.runner
        if loop is None or runner is None:
            return
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self.loop = self.runner = None

    # --- handlers -----------------------------------------------------------------------

    def authorised(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        if self.token is not None:
            return given == f"Bearer {self.token}"
        if self.public_key is not None:
            with self.lock:
                return given.removeprefix("Bearer ") in self.tokens
        return True

    async def metadata(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return web.json_response(outcome("login", "who are you?"), status=401)
        return web.json_response(capability_statement(), content_type=FHIR_JSON)

    async def conditional_update(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return web.json_response(outcome("login", "who are you?"), status=401)
        kind = request.match_info["kind"]
        model = MODELS.get(kind)
        if model is None:
            return web.json_response(outcome("not-supported", kind), status=404)
        system, value = split_token(request.query.get("identifier", ""))
        if not system or not value:
            return web.json_response(outcome("required", "identifier=system|value"),
                                     status=412)
        doc = orjson.loads(await request.read())
        try:
            model.model_validate(doc)
        except ValidationError as error:
            self.invalid.append(f"{kind}: {error}")
            return web.json_response(outcome("invalid", str(error)[:300]), status=400)
        if {"system": system, "value": value} not in doc.get("identifier", []):
            self.invalid.append(f"{kind}: the body does not carry the searched identifier")
            return web.json_response(outcome("invalid", "identifier mismatch"), status=400)
        refusal = self.refuse(kind, doc)
        if refusal is not None:
            with self.lock:
                self.refused.append(doc)
            return web.json_response(outcome("business-rule", refusal, f"{kind}.subject"),
                                     status=422)
        return self.store(kind, system, value, doc)

    def store(self, kind: str, system: str, value: str, doc: dict[str, Any]) -> web.Response:
        with self.lock:
            key = (kind, system, value)
            previous = self.stored.get(key)
            version = 1 if previous is None else int(previous["meta"]["versionId"]) + 1
            stored = {**doc, "id": previous["id"] if previous else uuid.uuid4().hex[:16],
                      "meta": {"versionId": str(version)}}
            self.stored[key] = stored
            (self.creates if previous is None else self.updates)[kind] += 1
        return web.json_response(stored, status=201 if previous is None else 200,
                                 content_type=FHIR_JSON)

    async def issue_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        refused = web.json_response({"error": "invalid_client"}, status=401)
        if (form.get("grant_type") != "client_credentials" or form.get("client_assertion_type")
                != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"):
            return web.json_response({"error": "invalid_request"}, status=400)
        try:
            claims = jwt.decode(str(form.get("client_assertion")), self.public_key,
                                algorithms=["RS384", "ES384"], audience=self.token_url,
                                issuer=self.client_id)
        except jwt.InvalidTokenError:
            return refused
        if claims.get("sub") != self.client_id or claims["exp"] - claims["iat"] > 300:
            return refused
        token = uuid.uuid4().hex
        with self.lock:
            self.tokens.add(token)
            self.tokens_issued += 1
        return web.json_response({"access_token": token, "token_type": "bearer",
                                  "expires_in": self.token_lifetime_s,
                                  "scope": str(form.get("scope", ""))})
