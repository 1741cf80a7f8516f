"""What every dataset's runner shares: the per-patient result and the replay with progress."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from wearmon.stream.core.pipeline import PatientState
from wearmon.stream.core.schema import Columns
from wearmon.stream.evaluation.runs.patient_run import Alert, PatientRun, replay_patient


@dataclass(slots=True)
class PatientResult:
    """What the report needs of one patient: the run, its alerts, labels and the metrics row.

    ``anchor_alerts`` are the published rules' alerts on the same data (``--baselines``);
    ``events`` are (label, t_ms) vertical markers, ``windows`` (start_ms, end_ms, label) shaded
    spans; ``x_origin_ms`` (if set) makes the plot's x axis days from that time (day 0).
    """

    run: PatientRun
    alerts: list[Alert]
    row: dict[str, Any]
    events: list[tuple[str, int]] = field(default_factory=list)
    windows: list[tuple[int, int, str]] = field(default_factory=list)
    anchor_alerts: list[Alert] = field(default_factory=list)
    x_origin_ms: int | None = None


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress]:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )
    with progress:
        yield progress


def replay_with_progress(progress: Progress, patient: str, columns: Columns, bucket_ms: int,
                         state: PatientState | None = None, timezone: str = "UTC",
                         keep_minutes: bool = False) -> PatientRun:
    """``replay_patient`` with a progress bar of its samples."""
    total = len(columns)
    task = progress.add_task(f"  {patient}", total=total)

    def advance(n: int) -> None:
        progress.advance(task, n)

    run = replay_patient(patient, columns, state=state, bucket_ms=bucket_ms, timezone=timezone,
                         on_samples=advance, keep_minutes=keep_minutes)
    progress.update(task, completed=total, visible=False)
    return run


def limit(patients: list[str], max_patients: int | None) -> list[str]:
    return patients[:max_patients] if max_patients else patients
