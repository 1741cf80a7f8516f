"""``wearmon fhir-export``: each alert's life → a FHIR server, in its own consumer group.

It reads the alerts topic (alert events) and the deliveries topic (delivery results) — what the
workers made durable after paging — so paging never waits for the FHIR server. Per fetch of at
most ``WEARMON_FHIR_BATCH_RECORDS`` records:

1. the records become conditional updates (``plan``): the latest Flag of each alert, a
   Communication for each care-team message sent;
2. the updates are made, ``WEARMON_FHIR_CONCURRENCY`` at a time, each until the server has taken
   it (``FhirClient``: outages of any length are waited out, never a drop); what the server
   refuses is dead-lettered as ``fhir_refused`` with its ``OperationOutcome``'s diagnostics;
3. the dead letters are published and acknowledged;
4. only then are the records' offsets committed.

At least once, idempotent: every update is conditional on the resource's identifier, so a batch
written again (a crash between 2 and 4, a replay from the start) updates the same resources.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from wearmon.stream.config import Settings
from wearmon.stream.core.issues import Issue
from wearmon.stream.core.validation import Rejection
from wearmon.stream.export import metrics
from wearmon.stream.export.client import FhirClient, FhirRefused, put_all
from wearmon.stream.export.plan import ALERTS, DELIVERIES, Write, plan
from wearmon.stream.sinks.group import GroupMember, received

log = logging.getLogger(__name__)


def kinds_of(settings: Settings) -> dict[str, str]:
    """Topic name → what kind of records it holds."""
    return {settings.topics.alerts: ALERTS, settings.topics.deliveries: DELIVERIES}


def refused_letter(write: Write, refused: FhirRefused) -> Rejection:
    """The dead letter of a resource the server refused: the element and the server's
    diagnostics; the original is the resource as sent (no vitals, no names)."""
    element = refused.element or write.resource_type
    said = f": {refused.diagnostics}" if refused.diagnostics else ""
    issue = Issue(element, "fhir_refused",
                  f"the FHIR server refused this {write.resource_type} "
                  f"(HTTP {refused.status}){said}")
    return Rejection((issue,), write.original, write.received_ms, write.patient)


class Exporter(GroupMember):
    """One exporter's loop over its consumer, producer (dead letters) and FHIR client."""

    role = "exporter"
    rewrites = "their new owner writes those resources again (conditional updates: the same)"

    def __init__(self, settings: Settings, consumer: AIOKafkaConsumer,
                 producer: AIOKafkaProducer, client: FhirClient) -> None:
        super().__init__(settings, consumer, producer)
        self.kinds = kinds_of(settings)
        self.client = client

    async def step(self) -> int:
        """Fetch, write, dead-letter and commit one batch; returns the records handled."""
        fetched = await self.fetch(self.settings.fhir.batch_records)
        records = [received(r) for batch in fetched.values() for r in batch]
        if not records:
            await self.probe_when_idle()
            return 0
        planned = plan(records, self.kinds)
        letters = planned.dead_letters + await self.write(planned.writes)
        await self.publish(letters)
        await self.commit(fetched)
        for record in records:
            metrics.RECORDS.labels(self.kinds[record.topic]).inc()
        for reason, count in planned.skipped.items():
            metrics.SKIPPED.labels(reason).inc(count)
        return len(records)

    async def probe(self) -> None:
        await self.client.probe()

    def reasons(self) -> list[str]:
        return metrics.reasons(self.client, self.state, self.settings.fhir.max_lag_s)

    def collector(self) -> metrics.ExportCollector:
        return metrics.ExportCollector(self.client, self.state, lambda: not self.reasons())

    async def write(self, writes: list[Write]) -> list[Rejection]:
        """Every write until taken; the dead letters of those the server refused."""
        started_s = time.perf_counter()
        refused = await put_all(self.client, writes)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started_s)
        refused_ids = {id(write) for write, _ in refused}
        for write in writes:
            taken = id(write) not in refused_ids
            (metrics.WRITES if taken else metrics.REFUSED).labels(write.resource_type).inc()
        letters = [refused_letter(write, error) for write, error in refused]
        if refused:
            log.warning("the FHIR server refused %d of %d resources (HTTP %s); dead-lettered "
                        "as fhir_refused", len(refused), len(writes),
                        ", ".join(sorted({str(e.status) for _, e in refused})))
        return letters
