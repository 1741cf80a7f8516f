"""Normal days (MMASH + Fitabase, no labels): alerts per monitored patient-day.

Replayed through ``process()`` with the shipped settings (``fixed-defaults``: nothing is fitted
on these people). Times in the files are local clock times read as UTC (replay time zone UTC).
The stream-policy figures run the same samples through validation and the alert policy.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

from rich.progress import Progress

from wearmon.stream import datasets
from wearmon.stream.evaluation import metrics, protocol, river_candidates
from wearmon.stream.evaluation.runs.patient_run import PatientRun, alerts_of
from wearmon.stream.evaluation.runs.policy import policy_effect
from wearmon.stream.evaluation.runs.results import PatientResult, replay_with_progress


def _mmash_ages(root: Path) -> dict[str, int]:
    path = root / datasets.MMASH_DIR / "subject_info.txt"
    if not path.exists():
        return {}
    with path.open() as fh:
        return {
            f"mmash-{int(r['Subject']):02d}": int(float(r["Age"]))
            for r in csv.DictReader(fh)
            if r.get("Subject", "").strip().isdigit() and r.get("Age")
        }


def _age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    lo = age // 10 * 10
    return f"{lo}-{lo + 9}"


def forest_counts(run: PatientRun) -> Counter[float]:
    """River HalfSpaceTrees' alerts at each threshold over the run's minutes (then dropped)."""
    minutes, run.minutes = run.minutes or [], None
    return Counter({th: len(alerts_of(river_candidates.minute_findings(minutes, th)))
                    for th in river_candidates.MINUTE_GRID})


def forest_summary(alerts: Counter[float], rows: list[dict[str, Any]]) -> dict[str, Any]:
    days = sum(r["monitored_days"] for r in rows)
    contextual = sum(v for r in rows for k, v in r["by_kind"].items()
                     if k.startswith("contextual_hr:"))
    return {
        "name": "River HalfSpaceTrees on minute heart rate, steps and hour (per patient)",
        "protocol": protocol.FIXED + " (each threshold shown; recall: the synthetic run)",
        "by_threshold": [{"threshold": th, "alerts": alerts[th],
                          "alerts_per_patient_day": round(alerts[th] / days, 4) if days else None}
                         for th in river_candidates.MINUTE_GRID],
        "wearmon_contextual_hr_alerts_per_patient_day": round(contextual / days, 4)
        if days else None,
    }


def normal(root: Path, progress: Progress, max_patients: int | None, baselines: bool
           ) -> tuple[dict[str, Any], list[PatientResult]]:
    """``baselines`` has no anchor here (no labels to compare on)."""
    patients = [("mmash", p) for p in datasets.list_patients("mmash", root)]
    patients += [("fitabase", p) for p in datasets.list_patients("fitabase", root)]
    if max_patients:
        half = max(1, max_patients // 2)
        patients = [p for p in patients if p[0] == "mmash"][:half] + [
            p for p in patients if p[0] == "fitabase"
        ][: max(1, max_patients - half)]
    ages = _mmash_ages(root)
    overall = progress.add_task("normal patients", total=len(patients))
    rows, results = [], []
    stream_counts: Counter[str] = Counter()
    stream_days = 0.0
    forest_alerts: Counter[float] = Counter()
    for ds, patient in patients:
        series = datasets.load_patient(ds, root, patient, plausible_only=True)
        run = replay_with_progress(progress, patient, series.columns(), 600_000,
                                   keep_minutes=True)
        forest_alerts += forest_counts(run)
        raw = datasets.load_patient(ds, root, patient)  # as the stream sees it, artefacts included
        stream_counts += policy_effect(patient, raw.samples())
        stream_days += run.monitored_days
        alerts = alerts_of(run.findings)
        row = metrics.normal_patient(run, alerts)
        row.update(
            dataset=ds,
            age_band=_age_band(ages.get(patient)),
            sample_interval_s=round(run.sample_interval_s, 1),
            sampling="1 s" if run.sample_interval_s < 3 else "5-10 s",
            state_bytes=run.state_bytes,
            info_findings=sum(1 for f in run.findings if f.severity.value == "info"),
        )
        rows.append(row)
        results.append(PatientResult(run, alerts, row))
        progress.advance(overall)
    per_day = {k: round(v / stream_days, 4) if stream_days else None
               for k, v in stream_counts.items()}
    return {
        "protocol": protocol.FIXED,
        "protocol_note": "the shipped settings; nothing is fitted on these people",
        **metrics.normal_summary(rows),
        "stream_policy": {
            "note": "the stream path (validation, pipeline, alert policy with default settings): "
                    "anomaly findings versus alerts opened, per patient-day",
            "anomalies_per_patient_day": per_day.get("anomalies", 0.0),
            "actionable_anomalies_per_patient_day": per_day.get("anomalies_actionable", 0.0),
            "alerts_opened_per_patient_day": per_day.get("alerts", 0.0),
            "clinical_alerts_opened_per_patient_day": per_day.get("clinical_alerts", 0.0),
        },
        "river_candidates": {"river_hst": forest_summary(forest_alerts, rows)},
        "per_patient": rows,
        "subgroups": {
            "dataset": metrics.subgroups(rows, "dataset", metrics.normal_summary),
            "sampling": metrics.subgroups(rows, "sampling", metrics.normal_summary),
            "age_band": metrics.subgroups(
                [r for r in rows if r["dataset"] == "mmash"], "age_band", metrics.normal_summary
            ),
            "sex": "not available in these datasets",
        },
    }, results
