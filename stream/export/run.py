"""Start ``wearmon fhir-export``: check the FHIR server, join the exporter's consumer group,
serve ``/health``, ``/ready`` and ``/metrics``, and write until SIGINT/SIGTERM (the batch in
hand is finished)."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from wearmon.stream.config import ConfigError, Settings
from wearmon.stream.export.auth import FhirOutage, TokenRefused, auth_for
from wearmon.stream.export.client import FhirClient, problem
from wearmon.stream.export.service import Exporter, kinds_of
from wearmon.stream.kafka import ensure_topics, make_producer
from wearmon.stream.log_privacy import quiet_libraries
from wearmon.stream.sinks.group import new_consumer, run_member

log = logging.getLogger(__name__)
WRITTEN = ("Flag", "Communication")


def capability_problem(statement: dict[str, Any]) -> str | None:
    """What a server's ``CapabilityStatement`` says it cannot do of what the exporter needs:
    update (and conditional update) of Flag and Communication. A statement that lists no
    resources says nothing (None).

    >>> flag = {"type": "Flag", "interaction": [{"code": "update"}], "conditionalUpdate": True}
    >>> capability_problem({"rest": [{"mode": "server", "resource": [flag]}]})
    'the FHIR server does not support Communication'
    >>> capability_problem({"rest": [{"mode": "server", "resource": [
    ...     {**flag, "conditionalUpdate": False}, {**flag, "type": "Communication"}]}]})
    'the FHIR server does not support conditional update of Flag'
    """
    rests = [r for r in statement.get("rest") or [] if isinstance(r, dict)
             and r.get("mode", "server") == "server"]
    resources = {res.get("type"): res for r in rests for res in r.get("resource") or []
                 if isinstance(res, dict)}
    if not resources:
        return None
    for name in WRITTEN:
        found = resources.get(name)
        if found is None:
            return f"the FHIR server does not support {name}"
        codes = {i.get("code") for i in found.get("interaction") or [] if isinstance(i, dict)}
        if codes and "update" not in codes:
            return f"the FHIR server does not support update of {name}"
        if found.get("conditionalUpdate") is False:
            return f"the FHIR server does not support conditional update of {name}"
    return None


async def check_server(client: FhirClient) -> None:
    """Refused credentials, a URL that is no FHIR server, or a server that cannot do
    conditional updates stop the exporter with one line; no answer is an outage to wait out,
    said once."""
    base = client.config.base_url
    try:
        status, statement = await client.metadata()
    except TokenRefused as refused:
        raise ConfigError(str(refused)) from None
    except FhirOutage as outage:
        log.warning("%s; the exporter waits for it (nothing is committed meanwhile)", outage)
        client.watch.failed(outage)
        return
    if status in (401, 403):
        raise ConfigError(f"the FHIR server at {base} {problem(status)}: HTTP {status}")
    if status >= 500 or status in (408, 429):
        log.warning("the FHIR server at %s cannot answer (HTTP %d); the exporter waits for it",
                    base, status)
        client.watch.failed(FhirOutage(f"the FHIR server cannot answer: HTTP {status}", status))
        return
    if status != 200 or statement.get("resourceType") != "CapabilityStatement":
        raise ConfigError(f"no FHIR server at {base}: GET {base}/metadata answers HTTP {status} "
                          "without a CapabilityStatement (check WEARMON_FHIR_BASE_URL)")
    unable = capability_problem(statement)
    if unable is not None:
        raise ConfigError(f"{unable} ({base}); the exporter needs conditional updates of Flag "
                          "and Communication")


def require_export(settings: Settings) -> None:
    """The export is off (and the command stops with one line) without a FHIR server."""
    if not settings.fhir.base_url:
        raise ConfigError("The FHIR export is off: set WEARMON_FHIR_BASE_URL "
                          "(e.g. https://ehr.example.org/fhir) to write alerts to a FHIR server")


async def serve(settings: Settings) -> None:
    quiet_libraries()
    settings.require_broker()
    require_export(settings)
    async with aiohttp.ClientSession() as session:
        client = FhirClient(settings.fhir, session, auth_for(settings.fhir, session))
        await check_server(client)
        await ensure_topics(settings)
        consumer = new_consumer(settings, list(kinds_of(settings)), settings.fhir_group)
        exporter = Exporter(settings, consumer, make_producer(settings), client)
        await run_member(exporter, settings.fhir.host, settings.fhir.port)
