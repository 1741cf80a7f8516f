"""Synthetic patients with injected, labelled clinical events (``datasets.simulator``).

Replayed through ``process()`` with the shipped settings (``fixed-defaults``). The simulator's
clock is UTC and so is the replay's time zone. An event counts as detected when a finding of a
matching kind (``SYNTHETIC_MATCH``) falls inside it or within ``SYNTHETIC_GRACE_MS`` after it;
an alert is false when it overlaps no event (with the same grace on both sides).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from rich.progress import Progress

from wearmon.models.base import Finding
from wearmon.stream.core.schema import Columns, Sample
from wearmon.stream.datasets.simulator import Label, Simulator
from wearmon.stream.evaluation import protocol, river_candidates
from wearmon.stream.evaluation.runs.patient_run import DAY_MS, Alert, PatientRun, alerts_of
from wearmon.stream.evaluation.runs.results import PatientResult, replay_with_progress

SYNTHETIC_PATIENTS = 20
SYNTHETIC_DAYS = 2.0
SYNTHETIC_GRACE_MS = 5 * 60_000
SYNTHETIC_SEED = 7
SYNTHETIC_START_MS = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS

#: which finding kinds detect each simulated event type
SYNTHETIC_MATCH = {
    "tachycardia_at_rest": ("tachycardia_at_rest", "high_hr_for_patient", "news2_partial"),
    "bradycardia": ("bradycardia", "low_hr_for_patient", "news2_partial"),
    "desaturation": ("desaturation", "news2_partial"),
    "off_wrist": ("off_wrist", "data_gap"),
    "device_offline": ("data_gap",),
}
#: matched event types left out of the clinical recall and latency (device events)
DEVICE_EVENTS = ("off_wrist", "device_offline")

#: per event type, the latency (ms from the event's start) of each event; None = missed
Latencies = dict[str, list[int | None]]


def synthetic(root: Path, progress: Progress, max_patients: int | None, baselines: bool
              ) -> tuple[dict[str, Any], list[PatientResult]]:
    """``root`` is unused (the patients are simulated); no anchor applies."""
    per_patient, labels = simulate(max_patients or SYNTHETIC_PATIENTS)
    overall = progress.add_task("synthetic patients", total=len(per_patient))
    results = []
    latencies: Latencies = {}
    false_alerts = 0
    days = 0.0
    forest: dict[float, list[int]] = {th: [0, 0, 0] for th in river_candidates.MINUTE_GRID}
    for patient, samples in sorted(per_patient.items()):
        run = replay_with_progress(progress, patient, Columns.from_samples(samples), 600_000,
                                   keep_minutes=True)
        alerts = alerts_of(run.findings)
        mine = [lab for lab in labels if lab.patient_id == patient]
        forest_found(forest, mine, run)
        add_latencies(latencies, mine, run.findings)
        false_alerts += count_false_alerts(alerts, mine)
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
    summary = summarise(latencies, false_alerts, days, len(per_patient))
    summary["river_candidates"] = {"river_hst": {
        "name": "River HalfSpaceTrees on minute heart rate, steps and hour (per patient)",
        "events": "simulated tachycardia and bradycardia at rest",
        "by_threshold": [{"threshold": th, "recall": round(found / events, 4) if events else None,
                          "false_alerts_per_patient_day": round(false / days, 4) if days else None}
                         for th, (found, events, false) in forest.items()]}}
    return summary, results


def forest_found(forest: dict[float, list[int]], labels: Sequence[Label], run: PatientRun
                 ) -> None:
    """Add River HalfSpaceTrees' detections of heart-rate events, and its false alerts, at each
    threshold (``forest[th]``: found, events, false alerts); drops the run's minutes."""
    minutes, run.minutes = run.minutes or [], None
    heart = [lab for lab in labels if lab.kind in ("tachycardia_at_rest", "bradycardia")]
    for th, acc in forest.items():
        found = river_candidates.minute_findings(minutes, th)
        acc[0] += sum(any(lab.start_ms <= f.t_ms <= lab.end_ms + SYNTHETIC_GRACE_MS
                          for f in found) for lab in heart)
        acc[1] += len(heart)
        acc[2] += count_false_alerts(alerts_of(found), labels)


def simulate(patients: int) -> tuple[dict[str, list[Sample]], list[Label]]:
    """The simulator's samples per patient (its uploads, decoded) and its event labels."""
    sim = Simulator(patients, SYNTHETIC_START_MS, SYNTHETIC_DAYS * 86_400, seed=SYNTHETIC_SEED)
    per_patient: dict[str, list[Sample]] = {}
    fields = set(Sample.__slots__)
    for key, value, _ in sim.uploads_until(SYNTHETIC_START_MS + int(SYNTHETIC_DAYS * DAY_MS)):
        doc = orjson.loads(value)
        samples = per_patient.setdefault(key.decode(), [])
        samples.extend(
            Sample(**{k: v for k, v in s.items() if k in fields}) for s in doc["samples"]
        )
    return per_patient, sim.labels


def add_latencies(latencies: Latencies, labels: Sequence[Label],
                  findings: Sequence[Finding]) -> None:
    """Add each label's latency to its type's list (types without a match: no entry added)."""
    for lab in labels:
        kinds = SYNTHETIC_MATCH.get(lab.kind)
        if kinds is None:
            latencies.setdefault(lab.kind, [])
            continue
        times = [
            f.t_ms
            for f in findings
            if f.kind in kinds and lab.start_ms <= f.t_ms <= lab.end_ms + SYNTHETIC_GRACE_MS
        ]
        latencies.setdefault(lab.kind, []).append(min(times) - lab.start_ms if times else None)


def count_false_alerts(alerts: Sequence[Alert], labels: Sequence[Label]) -> int:
    """Alerts that overlap none of the patient's events (with the grace on both sides)."""
    return sum(
        not any(
            lab.start_ms - SYNTHETIC_GRACE_MS <= a.end_ms
            and a.start_ms <= lab.end_ms + SYNTHETIC_GRACE_MS
            for lab in labels
        )
        for a in alerts
    )


def per_event_type(latencies: Latencies) -> dict[str, dict[str, Any]]:
    """Events, detections, recall and median latency (s) of each event type."""
    per_type = {}
    for kind, lat in sorted(latencies.items()):
        found = [x / 1000 for x in lat if x is not None]
        per_type[kind] = {
            "events": len(lat),
            "detected": len(found),
            "recall": round(len(found) / len(lat), 4) if lat else None,
            "median_latency_s": round(statistics.median(found), 1) if found else None,
            "assessed_by_models": kind in SYNTHETIC_MATCH,
        }
    return per_type


def summarise(latencies: Latencies, false_alerts: int, days: float, patients: int
              ) -> dict[str, Any]:
    """The dataset's figures: clinical recall and latency, false alerts per patient-day."""
    clinical = [k for k in latencies if k in SYNTHETIC_MATCH and k not in DEVICE_EVENTS]
    events = sum(len(latencies[k]) for k in clinical)
    found_s = [x / 1000 for k in clinical for x in latencies[k] if x is not None]
    return {
        "protocol": protocol.FIXED,
        "protocol_note": "the shipped settings; nothing is fitted on simulated patients",
        "recall": round(len(found_s) / events, 4) if events else None,
        "false_alerts_per_patient_day": round(false_alerts / days, 4) if days else None,
        "median_latency_s": round(statistics.median(found_s), 1) if found_s else None,
        "recall_counts_event_types": clinical,
        "per_event_type": per_event_type(latencies),
        "patients": patients,
        "patient_days": round(days, 2),
        "subgroups": {"note": "simulated patients have no demographics"},
    }
