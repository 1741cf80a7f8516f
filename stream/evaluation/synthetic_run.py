"""Synthetic patients with injected, labelled clinical events (``tools.simulator``).

Replayed through ``process()`` with the shipped settings (``fixed-defaults``). The simulator's
clock is UTC and so is the replay's time zone.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from rich.progress import Progress

from wearmon.stream.core.schema import Columns, Sample
from wearmon.stream.evaluation import protocol
from wearmon.stream.evaluation.patient_run import DAY_MS, alerts_of
from wearmon.stream.evaluation.results import PatientResult, replay_with_progress

SYNTHETIC_PATIENTS = 20
SYNTHETIC_DAYS = 2.0
SYNTHETIC_GRACE_MS = 5 * 60_000

#: which finding kinds detect each simulated event type
SYNTHETIC_MATCH = {
    "tachycardia_at_rest": ("tachycardia_at_rest", "high_hr_for_patient", "news2_partial"),
    "bradycardia": ("bradycardia", "low_hr_for_patient", "news2_partial"),
    "desaturation": ("desaturation", "news2_partial"),
    "off_wrist": ("off_wrist", "data_gap"),
    "device_offline": ("data_gap",),
}


def synthetic(root: Path, progress: Progress, max_patients: int | None, baselines: bool
              ) -> tuple[dict[str, Any], list[PatientResult]]:
    """``root`` is unused (the patients are simulated); no anchor applies."""
    import orjson

    from wearmon.stream.tools.simulator import Simulator

    n = max_patients or SYNTHETIC_PATIENTS
    start_ms = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS
    sim = Simulator(n, start_ms, SYNTHETIC_DAYS * 86_400, seed=7)
    per_patient: dict[str, list[Sample]] = {}
    fields = set(Sample.__slots__)  # the simulator's uploads, decoded
    for key, value, _ in sim.uploads_until(start_ms + int(SYNTHETIC_DAYS * DAY_MS)):
        doc = orjson.loads(value)
        samples = per_patient.setdefault(key.decode(), [])
        samples.extend(
            Sample(**{k: v for k, v in s.items() if k in fields}) for s in doc["samples"]
        )
    labels = sim.labels
    overall = progress.add_task("synthetic patients", total=len(per_patient))
    results = []
    hits: dict[str, list[int | None]] = {}
    false_alerts = 0
    days = 0.0
    for patient, samples in sorted(per_patient.items()):
        run = replay_with_progress(progress, patient, Columns.from_samples(samples), 600_000)
        alerts = alerts_of(run.findings)
        mine = [lab for lab in labels if lab.patient_id == patient]
        for lab in mine:
            kinds = SYNTHETIC_MATCH.get(lab.kind)
            if kinds is None:
                hits.setdefault(lab.kind, [])
                continue
            times = [
                f.t_ms
                for f in run.findings
                if f.kind in kinds and lab.start_ms <= f.t_ms <= lab.end_ms + SYNTHETIC_GRACE_MS
            ]
            hits.setdefault(lab.kind, []).append(min(times) - lab.start_ms if times else None)
        for a in alerts:
            if not any(
                lab.start_ms - SYNTHETIC_GRACE_MS <= a.end_ms
                and a.start_ms <= lab.end_ms + SYNTHETIC_GRACE_MS
                for lab in mine
            ):
                false_alerts += 1
        days += (run.last_t_ms - run.first_t_ms) / DAY_MS
        results.append(
            PatientResult(
                run,
                alerts,
                {"patient": patient, "alerts": len(alerts)},
                windows=[(lab.start_ms, lab.end_ms, lab.kind) for lab in mine],
            )
        )
        progress.advance(overall)
    per_type = {}
    for kind, lat in sorted(hits.items()):
        found = [x / 1000 for x in lat if x is not None]
        per_type[kind] = {
            "events": len(lat),
            "detected": len(found),
            "recall": round(len(found) / len(lat), 4) if lat else None,
            "median_latency_s": round(statistics.median(found), 1) if found else None,
            "assessed_by_models": kind in SYNTHETIC_MATCH,
        }
    clinical = [
        k for k in hits if k in SYNTHETIC_MATCH and k not in ("off_wrist", "device_offline")
    ]
    ev = sum(len(hits[k]) for k in clinical)
    det = sum(1 for k in clinical for x in hits[k] if x is not None)
    lat_all = [x / 1000 for k in clinical for x in hits[k] if x is not None]
    return {
        "protocol": protocol.FIXED,
        "protocol_note": "the shipped settings; nothing is fitted on simulated patients",
        "recall": round(det / ev, 4) if ev else None,
        "false_alerts_per_patient_day": round(false_alerts / days, 4) if days else None,
        "median_latency_s": round(statistics.median(lat_all), 1) if lat_all else None,
        "recall_counts_event_types": clinical,
        "per_event_type": per_type,
        "patients": len(per_patient),
        "patient_days": round(days, 2),
        "subgroups": {"note": "simulated patients have no demographics"},
    }, results
