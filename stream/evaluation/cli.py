"""``wearmon evaluate``: the click command (wired into the main CLI by ``add_evaluate_command``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from wearmon.stream.evaluation.run import DATASET_CHOICES, evaluate, write_budget_curve


def add_evaluate_command(group: click.Group) -> None:
    """Register ``evaluate`` on ``group``."""

    @group.command("evaluate")
    @click.option("--dataset", type=click.Choice(DATASET_CHOICES), required=True)
    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="WEARMON_DATA_DIR",
        default=Path("../shared/data"),
        show_default=True,
        help="Directory holding the public datasets (synthetic needs none).",
    )
    @click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        required=True,
        help="Directory for report.html, plots/ and metrics.json.",
    )
    @click.option(
        "--json",
        "json_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Also write the metrics JSON here.",
    )
    @click.option(
        "--max-patients",
        type=click.IntRange(min=1),
        default=None,
        help="Evaluate only the first N patients (quick runs, CI).",
    )
    @click.option(
        "--baselines",
        is_flag=True,
        help="Also run the published rules (NightSignal, resting-HR CuSum, nRMSSD threshold) "
        "on the same data and report them next to Wearmon.",
    )
    @click.option(
        "--write-budget-curve",
        "budget_curve",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="covid-daily, all people: also write the illness score's population curve (the "
        "file models/illness_budget_curve.json that maps a ward's alarm budget to a threshold).",
    )
    @click.option(
        "--mechanisms",
        is_flag=True,
        help="stanford: also score the illness score with each of its mechanisms changed "
        "(refractory week, smoothing, escalation, steps, can't-assess), on Stanford and "
        "covid-daily (slow: minutes).",
    )
    @click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
    def evaluate_command(
        dataset: str,
        data_dir: Path,
        out_dir: Path,
        json_path: Path | None,
        max_patients: int | None,
        baselines: bool,
        budget_curve: Path | None,
        mechanisms: bool,
        no_progress: bool,
    ) -> None:
        """Replay a labelled dataset through the detectors and score the alerts."""
        _check_options(dataset, max_patients, budget_curve, mechanisms)
        result = evaluate(dataset, data_dir, out_dir, json_path, max_patients,
                          show_progress=not no_progress, baselines=baselines,
                          mechanisms=mechanisms)
        if budget_curve is not None:
            write_budget_curve(result, budget_curve)
            click.echo(f"population curve: {budget_curve}")
        headline = {k: v for k, v in result.items() if not isinstance(v, (list, dict))}
        click.echo(json.dumps(headline, indent=2))
        click.echo(f"report: {out_dir / 'report.html'}")


def _check_options(dataset: str, max_patients: int | None, budget_curve: Path | None,
                   mechanisms: bool) -> None:
    if budget_curve is not None and (dataset != "covid-daily" or max_patients):
        raise click.UsageError("--write-budget-curve needs --dataset covid-daily and all its "
                               "people (no --max-patients)")
    if mechanisms and dataset != "stanford":
        raise click.UsageError("--mechanisms needs --dataset stanford")
