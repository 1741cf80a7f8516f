"""The exporter's Prometheus metrics and readiness (``/metrics``, ``/ready`` on its web server).

============================================ =======================================================
``wearmon_fhir_records_total{topic}``         records handled: ``alerts``, ``deliveries``
``wearmon_fhir_writes_total{resource}``       resources the server took: ``Flag``, ``Communication``
``wearmon_fhir_refused_total{resource}``      resources it refused (dead-lettered ``fhir_refused``)
``wearmon_fhir_skipped_total{reason}``        records that wrote nothing: ``superseded_event``,
                                             ``patient_sent``, ``monitoring_notice``, …,
                                             ``unreadable_alerts``, ``unreadable_deliveries``
``wearmon_fhir_lag_records{topic,partition}`` records after the last one committed
``wearmon_fhir_lag_seconds``                  age of the oldest record being written (0 when idle)
``wearmon_fhir_batch_seconds``                histogram: one batch's writes until all taken
``wearmon_fhir_retries_total``                attempts that failed and were retried
``wearmon_fhir_write_failing{reason}``        1 while writes fail: ``credentials``, ``not_found``,
                                             ``unreachable`` or ``server``
``wearmon_fhir_ready``                        1 when ``/ready`` answers 200, else 0
============================================ =======================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wearmon.stream.export.auth import FhirOutage
from wearmon.stream.export.client import FhirClient
from wearmon.stream.sinks.metrics import SECONDS_BUCKETS, SinkState, lag_gauges, lag_reasons

RECORDS = Counter("wearmon_fhir_records", "Records handled by the FHIR exporter", ["topic"])
WRITES = Counter("wearmon_fhir_writes", "Resources the FHIR server took", ["resource"])
REFUSED = Counter("wearmon_fhir_refused", "Resources the FHIR server refused", ["resource"])
SKIPPED = Counter("wearmon_fhir_skipped", "Records that wrote nothing, by reason", ["reason"])
BATCH_SECONDS = Histogram("wearmon_fhir_batch_seconds",
                          "One batch's FHIR writes until all are taken (retries included)",
                          buckets=SECONDS_BUCKETS)
FAILING_REASONS = ("credentials", "not_found", "unreachable", "server")


def failing_reason(client: FhirClient) -> str | None:
    """Why writes fail now (None: they do not).

    >>> from wearmon.stream.config import FhirSettings
    >>> from wearmon.stream.export.auth import NoAuth
    >>> client = FhirClient(FhirSettings(base_url="http://127.0.0.1:9"), None, NoAuth())
    >>> client.watch.failed(FhirOutage("the FHIR server refuses the credentials", 401))
    >>> failing_reason(client)
    'credentials'
    """
    if client.watch.since is None:
        return None
    last = client.watch.last
    status = last.status if isinstance(last, FhirOutage) else None
    if status in (401, 403):
        return "credentials"
    if status in (404, 405):
        return "not_found"
    return "server" if status is not None else "unreachable"


def reasons(client: FhirClient, state: SinkState, max_lag_s: float,
            now_s: float | None = None) -> list[str]:
    """Why this exporter is not keeping up (empty: ready)."""
    out = []
    if client.watch.since is not None:
        what = str(client.watch.last or "the FHIR server is unreachable")
        out.append(f"{what}; writes failing for {client.watch.seconds():.0f} s")
    return out + lag_reasons(state, max_lag_s, "WEARMON_FHIR_MAX_LAG_S", now_s)


class ExportCollector(Collector):
    """Gauges read from the exporter's state at scrape time."""

    def __init__(self, client: FhirClient, state: SinkState, ready: Callable[[], bool]) -> None:
        self.client = client
        self.state = state
        self.ready = ready

    def collect(self) -> Iterator[Metric]:
        yield from lag_gauges("wearmon_fhir", self.state, self.ready())
        retries = CounterMetricFamily("wearmon_fhir_retries",
                                      "FHIR write attempts that failed and were retried")
        retries.add_metric([], self.client.watch.retries)
        yield retries
        failing = GaugeMetricFamily("wearmon_fhir_write_failing", "1 while FHIR writes fail, "
                                    "by reason", labels=["reason"])
        reason = failing_reason(self.client)
        for name in FAILING_REASONS:
            failing.add_metric([name], 1.0 if name == reason else 0.0)
        yield failing
