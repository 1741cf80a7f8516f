"""``wearmon bench`` end to end at a tiny size: every figure is measured, finite and positive."""

from __future__ import annotations

import math

import pytest

from wearmon.stream.tools.bench import KEYS, BenchOptions, problems, run_bench

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_every_figure_is_measured_at_a_tiny_size() -> None:
    # enough uploads for several worker batches (the backlog is timed after the first one)
    options = BenchOptions(patients=4, hours=3.0, sizes=(10,), memory_patients=300,
                           memory_uploads=1, latency_s=5.0, region_patients=20,
                           region_hours=2.0, scale_samples=0, restart_patients=(50,))
    result = run_bench(options)
    assert set(result) == {"10", "restart", "config"}
    assert set(result["restart"]) == {"restart_blind_s_kill_50", "restart_blind_s_term_50"}
    assert all(0 < seconds < 120 for seconds in result["restart"].values())
    assert problems(result) == []
    figures = result["10"]
    assert set(KEYS) <= set(figures)
    assert all(math.isfinite(v) for v in figures.values())
    assert figures["latency_p50_s"] <= figures["latency_p99_s"] < 30
    assert 0 < figures["broker_hop_p50_s"] <= figures["broker_hop_p99_s"] < 2
    assert figures["latency_matched"] == figures["latency_probes"] > 10
    assert 0 < figures["scale_out_efficiency"] < 2.5
    assert figures["scale_out_samples"] == figures["samples"]  # scale_samples=0: the same data
    assert figures["stage_samples_per_s"] < figures["decode_samples_per_s"]
    assert figures["e2e_samples_per_s"] < figures["consumer_samples_per_s"]
    assert 0 < figures["faust_floor_samples_per_s"] < figures["consumer_samples_per_s"]
    assert result["config"]["memory_patients"] == 300
