"""``wearmon bench --gateway`` runs every way in (Kafka, the gateway, the gateway's FHIR) on the
same uploads and reports them."""

from __future__ import annotations

import pytest

from wearmon.stream.tools.bench_gateway import run_gateway_bench

pytestmark = pytest.mark.integration


def test_every_way_in_delivers_every_upload_and_is_timed() -> None:
    kafka, gateway, fhir = run_gateway_bench(patients=3, hours=0.5, concurrency=8)
    assert kafka.uploads == gateway.uploads == fhir.uploads > 20
    assert (len(kafka.latencies_s) == len(gateway.latencies_s) == len(fhir.latencies_s)
            == kafka.uploads)  # all acknowledged (a refusal raises)
    for way in (kafka, gateway, fhir):
        assert 0 < way.percentile_ms(0.5) <= way.percentile_ms(0.99)
        assert "uploads/s, latency p50" in way.line()
