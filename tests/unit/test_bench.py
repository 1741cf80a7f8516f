"""``wearmon bench``'s pure parts: data, paced schedule, probe matching, stage, report, CLI."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from wearmon.stream.cli import main
from wearmon.stream.core.validation import Limits, Rejection, validate
from wearmon.stream.tools.bench import KEYS, problems, render
from wearmon.stream.tools.bench.data import (
    CRITICAL_HR_BPM,
    probe_upload,
    sample_count,
    schedule,
    simulated,
)
from wearmon.stream.tools.bench.latency import Probe, Seen, match, percentile
from wearmon.stream.tools.bench.report import IN_PROCESS_KEYS
from wearmon.stream.tools.bench.stage import run_stage
from wearmon.stream.tools.workers import (
    isolated_values,
    proc_cpu_seconds,
    proc_rss_bytes,
    settings_from,
)

END_MS = 1_800_000_000_000


def test_simulated_uploads_hold_the_asked_number_of_samples() -> None:
    data = simulated(3, 1.0, 12, END_MS, seed=4)
    sizes = {sample_count(value) for _, value in data.messages}
    assert max(sizes) == 12 and data.samples == sum(sample_count(v) for _, v in data.messages)
    assert data.count > 3 * 40  # an hour of 60-second uploads, less offline gaps


def test_a_probe_is_valid_and_critical_within_its_samples() -> None:
    """Critical heart rate counts once held one median window (30 s): inside a 10-sample
    probe (45 s) and a 60-sample one, so every probe is matched by its anomaly."""
    from wearmon.stream.core.pipeline import PatientState, process

    key, value = probe_upload("probe-60-000001", 60, END_MS)
    checked = validate(value, END_MS, Limits())
    assert not isinstance(checked, Rejection) and key == b"probe-60-000001"
    result = process(PatientState(), checked.upload, 3_600_000, checked.issues)
    first = result.findings[0]
    assert (first.kind, first.severity.value) == ("bradycardia", "critical")
    assert first.t_ms == END_MS - 59 * 5_000 + 30_000 and first.observed == CRITICAL_HR_BPM
    short = validate(probe_upload("probe-10-000001", 10, END_MS)[1], END_MS, Limits())
    assert not isinstance(short, Rejection)
    found = process(PatientState(), short.upload, 3_600_000, short.issues).findings
    assert found and END_MS - 9 * 5_000 <= found[0].t_ms <= END_MS


def test_the_schedule_keeps_the_rate_and_the_probe_fraction() -> None:
    background = simulated(4, 8.0, 10, END_MS, seed=2).messages  # more than 20 s worth
    slots = list(schedule(background, 10, rate=1_000.0, duration_s=20.0, probe_every=10))
    probes = [s for s in slots if s.message is None]
    assert len(probes) == len(slots) // 10
    sent = 0
    for slot in slots:
        assert slot.due_s == pytest.approx(sent / 1_000.0)
        sent += slot.samples
    assert slots[-1].due_s < 20.0 <= sent / 1_000.0


def test_the_schedule_ends_with_the_background() -> None:
    background = [(b"k", b'{"samples":[{"t_ms":1}]}')] * 3
    slots = list(schedule(background, 1, rate=1.0, duration_s=100.0, probe_every=2))
    assert [s.message is None for s in slots] == [False, True, False, True, False, True]


def test_probes_match_their_first_anomaly_in_their_sample_times() -> None:
    probes = [Probe("p1", 1_000, 2_000, 10.0), Probe("p2", 1_000, 2_000, 11.0),
              Probe("p3", 1_000, 2_000, 12.0)]
    seen = [Seen("p1", 1_000, 10.4), Seen("p1", 1_500, 10.2), Seen("p2", 999, 11.1),
            Seen("p2", 2_001, 11.1), Seen("other", 1_000, 10.0)]
    assert match(probes, seen) == {"p1": pytest.approx(0.2)}
    assert percentile([0.3, 0.1, 0.2], 0.5) == 0.2 and percentile([0.3, 0.1, 0.2], 0.99) == 0.3


def test_the_stage_counts_every_sample_and_keeps_the_lines() -> None:
    data = simulated(3, 1.0, 10, END_MS, seed=6)
    run = run_stage(data, batch_uploads=50, received_ms=END_MS)
    assert run.rejected == 0 and run.samples == data.samples
    assert run.stage_samples_per_s > 0 and run.decode_samples_per_s > run.stage_samples_per_s
    assert len(run.lines) >= data.samples  # a point per sample, and minutes, quality, ...
    assert len(run.state_bytes) == 3 and run.state_bytes_per_patient > 1000


def test_problems_name_what_is_missing_or_not_positive() -> None:
    result = {"10": dict.fromkeys(KEYS, 1.0), "60": {**dict.fromkeys(KEYS, 1.0),
                                                     "latency_p99_s": 0.0}, "config": {}}
    del result["10"]["scale_out_efficiency"]
    assert problems(result) == ["10: scale_out_efficiency missing", "60: latency_p99_s = 0.0"]


def test_isolated_runs_share_nothing_and_ignore_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEARMON_PARTITIONS", "9")
    a = isolated_values("kafka://127.0.0.1:1", "http://127.0.0.1:2", tmp_path, "x")
    b = isolated_values("kafka://127.0.0.1:1", "http://127.0.0.1:2", tmp_path, "x")
    shared = {k for k in a if a[k] == b[k]}
    assert shared == {"WEARMON_BROKER", "WEARMON_INFLUX_URL", "WEARMON_INFLUX_CREATE_DB",
                      "WEARMON_PRODUCER_MAX_BATCH_BYTES"}
    settings = settings_from(a)
    assert settings.kafka.partitions == 4 and settings.kafka.producer_max_batch_bytes == 1
    assert settings.topics.devices.startswith("devices-x-")


def test_cpu_time_and_resident_memory_of_a_process() -> None:
    assert proc_cpu_seconds(os.getpid()) > 0
    assert proc_rss_bytes(os.getpid()) > 10 * 2**20


def test_bench_without_services_reports_the_in_process_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", "--patients", "2", "--hours", "0.5",
                                       "--samples-per-upload", "10,60", "--no-e2e",
                                       "--region-patients", "10", "--json", str(out)])
    assert result.exit_code == 0, result.output
    doc = orjson.loads(out.read_bytes())
    assert set(doc) == {"10", "60", "config"}
    assert doc["config"]["patients"] == 2 and doc["config"]["cpu_count"] == os.cpu_count()
    assert problems(doc, IN_PROCESS_KEYS) == []
    assert doc["10"]["stage_vs_decode"] == pytest.approx(
        doc["10"]["stage_samples_per_s"] / doc["10"]["decode_samples_per_s"])
    assert render(doc) in result.output


@pytest.mark.parametrize("sizes", ["", "0", "ten"])
def test_bench_refuses_bad_sizes(sizes: str) -> None:
    result = CliRunner().invoke(main, ["bench", "--samples-per-upload", sizes, "--no-e2e"])
    assert result.exit_code == 2 and "--samples-per-upload" in result.output
