"""The gateway's Prometheus metrics, in a registry of its own (one per running gateway).

``wearmon_gateway_requests_total{status}``, ``wearmon_gateway_uploads_total``,
``wearmon_gateway_samples_total``, ``wearmon_gateway_rejections_total{reason}``,
``wearmon_gateway_request_seconds`` (histogram, accepted uploads: receive → broker ack),
``wearmon_gateway_inflight`` and ``wearmon_gateway_devices`` (tokens currently granted).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

#: Request latencies from sub-millisecond (refused) to the broker timeout.
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    def __init__(self, devices: Callable[[], int], inflight: Callable[[], int]) -> None:
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
        Gauge("wearmon_gateway_devices", "Devices with a valid token",
              registry=self.registry).set_function(devices)

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
