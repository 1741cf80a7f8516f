"""The gateway's Prometheus metrics, in a registry of its own (one per running gateway).

``wearmon_gateway_requests_total{status}``, ``wearmon_gateway_uploads_total``,
``wearmon_gateway_samples_total``, ``wearmon_gateway_rejections_total{reason}``,
``wearmon_gateway_request_seconds`` (histogram, accepted uploads: receive → broker ack),
``wearmon_gateway_inflight`` (uploads received, awaiting the broker), ``wearmon_gateway_receiving``
(bodies being received), ``wearmon_gateway_devices`` (tokens currently granted),
``wearmon_gateway_device_records_skipped_total`` (devices-topic records that are not grants) and
``wearmon_gateway_dead_letters_lost_total`` (refusals the broker did not take as dead letters).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

#: Request latencies from sub-millisecond (refused) to the broker timeout.
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class CountOf(Collector):
    """A counter kept elsewhere (``read`` returns it), exposed as ``<name>_total``."""

    def __init__(self, name: str, documentation: str, read: Callable[[], int]) -> None:
        self.name, self.documentation, self.read = name, documentation, read

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.read())


class GatewayMetrics:
    def __init__(self, devices: Callable[[], int], inflight: Callable[[], int],
                 receiving: Callable[[], int], skipped: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("wearmon_gateway_requests", "Upload requests by HTTP status",
                                ["status"], registry=self.registry)
        self.uploads = Counter("wearmon_gateway_uploads", "Uploads acknowledged by the broker",
                               registry=self.registry)
        self.samples = Counter("wearmon_gateway_samples", "Valid samples in accepted uploads",
                               registry=self.registry)
        self.rejections = Counter("wearmon_gateway_rejections",
                                  "Refused uploads by reason (auth, validation, busy, broker)",
                                  ["reason"], registry=self.registry)
        self.seconds = Histogram("wearmon_gateway_request_seconds",
                                 "Accepted uploads: request received to broker acknowledgement",
                                 buckets=SECONDS_BUCKETS, registry=self.registry)
        Gauge("wearmon_gateway_inflight", "Uploads waiting for the broker",
              registry=self.registry).set_function(inflight)
        Gauge("wearmon_gateway_receiving", "Request bodies being received",
              registry=self.registry).set_function(receiving)
        Gauge("wearmon_gateway_devices", "Devices with a valid token",
              registry=self.registry).set_function(devices)
        self.registry.register(CountOf(
            "wearmon_gateway_device_records_skipped",
            "Devices-topic records skipped: no key, a key that is not a device id, not a grant",
            skipped))
        self.dead_letters_lost = Counter(
            "wearmon_gateway_dead_letters_lost",
            "Refused uploads the broker did not take on the dead-letter topic",
            registry=self.registry)

    def accepted(self, samples: int, seconds: float) -> None:
        self.requests.labels("202").inc()
        self.uploads.inc()
        self.samples.inc(samples)
        self.seconds.observe(seconds)

    def refused(self, status: int, reason: str) -> None:
        self.requests.labels(str(status)).inc()
        self.rejections.labels(reason).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
