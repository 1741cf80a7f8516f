"""``wearmon evaluate``: replay a labelled dataset through the detectors and score the alerts.

One patient at a time (bounded memory): read → replay through the stream's ``process()`` (or,
for daily values, the daily decision logic) → alerts → per-patient metrics; then the summary,
the subgroups, the metrics JSON and the HTML report. Every figure is produced under the
protocol the JSON names (``protocol``): settings chosen without the patient scored.
``baselines`` also runs the published rules (``anchors``) on the same data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from rich.progress import Progress

from wearmon.stream.evaluation.runs import illness_run, normal_run, rhythm_run, synthetic_run
from wearmon.stream.evaluation.runs.results import PatientResult, progress_bar
from wearmon.stream.evaluation.verdict import verdict

Runner = Callable[[Path, Progress, int | None, bool], tuple[dict[str, Any], list[PatientResult]]]
RUNNERS: dict[str, Runner] = {
    "stanford": illness_run.stanford,
    "covid-daily": illness_run.covid_daily,
    "afdb": rhythm_run.afdb,
    "nsr": rhythm_run.nsr,
    "normal": normal_run.normal,
    "synthetic": synthetic_run.synthetic,
}
DATASET_CHOICES = tuple(RUNNERS)


def evaluate(
    dataset: str,
    data_dir: str | Path,
    out_dir: str | Path,
    json_path: str | Path | None = None,
    max_patients: int | None = None,
    show_progress: bool = True,
    baselines: bool = False,
    mechanisms: bool = False,
) -> dict[str, Any]:
    """Run one evaluation; write ``metrics.json`` (and ``json_path``) and ``report.html``."""
    if dataset not in RUNNERS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASET_CHOICES}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runner = RUNNERS[dataset]
    if mechanisms:
        if dataset != "stanford":
            raise ValueError("mechanisms are measured in the stanford run (with covid-daily)")
        runner = partial(illness_run.stanford, mechanisms=True)
    with progress_bar(show_progress) as progress:
        result, patients = runner(Path(data_dir), progress, max_patients, baselines)
    result = {"dataset": dataset, "max_patients": max_patients, "baselines_run": baselines,
              **result}
    result["verdict"] = verdict(dataset, result)
    result["state_bytes_max"] = max((p.run.state_bytes for p in patients), default=0)
    samples = sum(p.run.samples for p in patients)
    result["replay_us_per_sample"] = round(
        1e6 * sum(p.run.seconds for p in patients) / max(1, samples), 2)
    text = json.dumps(result, indent=2, sort_keys=False)
    (out / "metrics.json").write_text(text + "\n")
    if json_path is not None:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(text + "\n")
    from wearmon.stream.evaluation.report import write_report

    write_report(out, dataset, result, patients)
    return result


BUDGET_CURVE_COMMAND = ("wearmon evaluate --dataset covid-daily --data-dir ../shared/data "
                        "--out out/covid --write-budget-curve models/illness_budget_curve.json")


def write_budget_curve(result: dict[str, Any], path: str | Path) -> None:
    """Write the illness score's population curve of a full covid-daily ``result``."""
    from wearmon.stream.evaluation.runs.illness_curves import budget_curve_document

    people = len(result["per_person"])
    doc = budget_curve_document(result["in_sample_curve"], result["operating_curve"], people,
                                BUDGET_CURVE_COMMAND)
    Path(path).write_text(json.dumps(doc, indent=1) + "\n")
