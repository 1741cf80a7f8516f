"""``wearmon bench --gateway`` runs both ways in on the same uploads and reports them."""

from __future__ import annotations

import pytest

from wearmon.stream.tools.bench_gateway import run_gateway_bench

pytestmark = pytest.mark.integration


def test_both_ways_in_deliver_every_upload_and_are_timed() -> None:
    kafka, gateway = run_gateway_bench(patients=3, hours=0.5, concurrency=8)
    assert kafka.uploads == gateway.uploads > 20
    assert len(kafka.latencies_s) == len(gateway.latencies_s) == kafka.uploads  # all acked
    for way in (kafka, gateway):
        assert 0 < way.percentile_ms(0.5) <= way.percentile_ms(0.99)
        assert "uploads/s, latency p50" in way.line()
