"""The bench's figures as a table (one column per upload size) and as JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

#: The keys every full run reports for each size (``--no-e2e`` reports the in-process ones).
KEYS = ("stage_samples_per_s", "decode_samples_per_s", "e2e_samples_per_s",
        "consumer_samples_per_s", "influx_points_per_s", "latency_p50_s", "latency_p99_s",
        "state_bytes_per_patient", "memory_bytes_per_patient", "scale_out_efficiency")
IN_PROCESS_KEYS = ("stage_samples_per_s", "decode_samples_per_s", "worker_batch_samples_per_s",
                   "worker_batch_region_samples_per_s", "state_bytes_per_patient")


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    label: str
    unit: str  # how the value is shown: "n" count, "/s" rate, "x" ratio, "s", "KiB"


ROWS = (
    Row("uploads", "uploads (same data in every row)", "n"),
    Row("samples", "samples", "n"),
    Row("decode_samples_per_s", "baseline: orjson decode, samples/s", "/s"),
    Row("stage_samples_per_s", "stage: validate + process_many + lines, samples/s", "/s"),
    Row("stage_vs_decode", "stage ÷ decode", "x"),
    Row("worker_batch_samples_per_s",
        "worker's process_batch + state save (stage + alert policy), samples/s", "/s"),
    Row("worker_batch_region_samples_per_s",
        "the same, each upload of a batch another patient's (a region), samples/s", "/s"),
    Row("region_patients", "patients of that run (its last hour timed)", "n"),
    Row("consumer_samples_per_s", "baseline: plain aiokafka consumer + decode, samples/s", "/s"),
    Row("e2e_samples_per_s", "worker through a backlog (broker → topics, paged), samples/s",
        "/s"),
    Row("e2e_vs_consumer", "worker ÷ consumer", "x"),
    Row("faust_floor_samples_per_s", "baseline: a Faust agent that only decodes, samples/s",
        "/s"),
    Row("faust_floor_vs_consumer", "Faust agent ÷ consumer (the ceiling of a Faust worker)", "x"),
    Row("e2e_vs_faust_floor", "worker ÷ Faust agent", "x"),
    Row("influx_points_per_s", "baseline: raw POST /write of the same points, points/s", "/s"),
    Row("sink_points_per_s", "the sink through the worker's results, points/s", "/s"),
    Row("sink_points_vs_influx", "sink points ÷ raw write", "x"),
    Row("latency_load_samples_per_s", "latency run: load sent, samples/s (half the worker's)",
        "/s"),
    Row("latency_p50_s", "produce → anomaly on its topic, p50", "s"),
    Row("latency_p99_s", "produce → anomaly on its topic, p99", "s"),
    Row("broker_hop_p50_s", "baseline: one broker hop as the worker's consumer fetches, p50", "s"),
    Row("broker_hop_p99_s", "baseline: one broker hop as the worker's consumer fetches, p99", "s"),
    Row("latency_matched", "probes with their anomaly", "n"),
    Row("latency_probes", "probes sent", "n"),
    Row("latency_worker_cpu_share", "worker's CPU share in the latency run (1 = a core)", "x"),
    Row("latency_batch_uploads", "latency run: mean uploads per worker batch", "x"),
    Row("latency_batch_s", "latency run: mean worker batch, processing to durable", "s"),
    Row("latency_batch_oldest_wait_s",
        "latency run: mean wait of a batch's oldest upload, sent → processed", "s"),
    Row("state_bytes_per_patient", "serialised patient state", "KiB"),
    Row("memory_bytes_per_patient", "worker resident memory per patient", "KiB"),
    Row("memory_patients", "patients in the memory run", "n"),
    Row("scale_out_samples", "samples in each scale-out turn", "n"),
    Row("one_worker_samples_per_cpu_s", "one worker: samples per CPU second", "/s"),
    Row("two_workers_samples_per_cpu_s", "two workers in a group: samples per CPU second", "/s"),
    Row("scale_out_efficiency", "two ÷ one (samples per CPU second, medians of 3 turns)", "x"),
    Row("scale_out_lowest", "two ÷ one, lowest of a turn", "x"),
    Row("scale_out_highest", "two ÷ one, highest of a turn", "x"),
)


def shown(value: float, unit: str) -> str:
    """
    >>> shown(12345.6, "/s"), shown(0.03123, "x"), shown(0.0123, "s"), shown(7300, "KiB")
    ('12,346', '0.0312', '12.3 ms', '7.1 KiB')
    """
    if unit == "s":
        return f"{value * 1000:,.1f} ms"
    if unit == "KiB":
        return f"{value / 1024:,.1f} KiB"
    if unit == "x":
        return f"{value:.3g}"
    return f"{value:,.0f}"


def table_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header (the sizes) and one row per figure present in any size."""
    sizes = [key for key in result if key not in ("config", "restart")]
    rows = []
    for row in ROWS:
        if any(row.key in result[size] for size in sizes):
            rows.append([row.label] + [shown(result[size][row.key], row.unit)
                                       if row.key in result[size] else "–" for size in sizes])
    return [f"{size} samples/upload" for size in sizes], rows


def render(result: dict[str, Any]) -> str:
    """The table as plain text."""
    header, rows = table_rows(result)
    width = max(len(r[0]) for r in rows)
    columns = [max(len(h), *(len(r[i + 1]) for r in rows)) for i, h in enumerate(header)]
    lines = [" " * width + "".join(f"  {h:>{w}}" for h, w in zip(header, columns, strict=True))]
    lines += [f"{r[0]:<{width}}" + "".join(f"  {v:>{w}}" for v, w in zip(r[1:], columns,
                                                                          strict=True))
              for r in rows]
    for key, seconds in sorted(result.get("restart", {}).items()):
        how, patients = key.removeprefix("restart_blind_s_").split("_")
        lines.append(f"restart blind after SIG{how.upper()}, {int(patients):,} patients: "
                     f"{seconds:.1f} s")
    config = result.get("config", {})
    lines.append(f"{config.get('patients')} patients × {config.get('hours')} h per size, "
                 f"{config.get('cpu_count')} CPUs, {config.get('seconds')} s")
    return "\n".join(lines)


def problems(result: dict[str, Any], keys: tuple[str, ...] = KEYS) -> list[str]:
    """Keys missing, not finite or not positive in any size (empty: a complete result).

    >>> problems({"10": {"a": 1.0, "b": float("nan")}, "config": {}}, ("a", "b", "c"))
    ['10: b = nan', '10: c missing']
    """
    found = [f"restart: {key} = {value}" for key, value in result.get("restart", {}).items()
             if not (math.isfinite(value) and value > 0)]
    for size, figures in result.items():
        if size in ("config", "restart"):
            continue
        for key in keys:
            value = figures.get(key)
            if value is None:
                found.append(f"{size}: {key} missing")
            elif not (math.isfinite(value) and value > 0):
                found.append(f"{size}: {key} = {value}")
    return found


def write_json(result: dict[str, Any], path: Path) -> None:
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
