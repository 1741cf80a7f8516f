"""HTML report with one plot per patient: signal, baselines, scores, alerts, labelled events."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wearmon.stream.evaluation.run import PatientResult

DETECTOR_COLOURS = {
    "clinical_bands": "tab:red",
    "contextual_hr": "tab:orange",
    "slow_deviation": "tab:purple",
    "activity": "tab:green",
    "irregular_rhythm": "tab:brown",
    "data_quality": "tab:gray",
}
MAX_POINTS = 4000


def _dt(t_ms: int) -> datetime:
    return datetime.fromtimestamp(t_ms / 1000, tz=UTC)


def _x(t_ms: int) -> float:
    """Matplotlib date number (days since 1970-01-01, its default epoch)."""
    return t_ms / 86_400_000


def _thin(xs: Sequence[Any], ys: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    step = max(1, len(xs) // MAX_POINTS)
    return list(xs[::step]), list(ys[::step])


def plot_patient(result: PatientResult, path: Path, dataset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = result.run
    fig, ax = plt.subplots(figsize=(12, 3.6))
    if dataset == "afdb":
        rt = run.rhythm
        xs, ys = _thin([_x(t) for t in run.trace.nrmssd_t_ms], run.trace.nrmssd)
        ax.plot(xs, ys, lw=0.6, color="tab:blue", label="RR irregularity (nRMSSD)")
        xs, flags = _thin([_x(t) for t in rt.t_ms], rt.irregular)
        ax.fill_between(
            xs,
            0,
            [0.5 if f else 0 for f in flags],
            step="post",
            color="tab:brown",
            alpha=0.35,
            label="detector: irregular",
        )
        ax.axhline(0.12, color="k", lw=0.6, ls=":", label="threshold")
        ax.set_ylim(0, 0.6)
        ax.set_ylabel("nRMSSD")
    else:
        tr = run.trace
        x = [_x(t) for t in tr.t_ms]
        ax.plot(
            x,
            [v if v is not None else float("nan") for v in tr.hr_bpm],
            lw=0.6,
            color="tab:blue",
            alpha=0.7,
            label="heart rate (bucket mean)",
        )
        ax.plot(
            x,
            [v if v is not None else float("nan") for v in tr.baseline_bpm],
            lw=1.2,
            color="tab:orange",
            label="personal resting baseline",
        )
        ax.plot(
            x,
            [v if v is not None else float("nan") for v in tr.slow_baseline_bpm],
            lw=1.2,
            color="tab:purple",
            ls="--",
            label="multi-day resting baseline",
        )
        if tr.daily_t_ms:
            ax.scatter(
                [_x(t) for t in tr.daily_t_ms],
                tr.daily_rest_bpm,
                s=10,
                color="tab:purple",
                zorder=3,
                label="daily resting HR",
            )
        ax.set_ylabel("bpm")
    for start, end, _label in result.windows:
        ax.axvspan(
            _x(start),
            _x(end),
            color="gold" if dataset != "afdb" else "tab:red",
            alpha=0.15 if dataset != "afdb" else 0.2,
            lw=0,
        )
    for label, t in result.events:
        ax.axvline(_x(t), color="k", lw=1.0, ls="-" if label == "symptom_onset" else ":")
    seen: set[str] = set()
    for a in result.alerts:
        colour = DETECTOR_COLOURS.get(a.detector, "k")
        ax.axvline(
            _x(a.start_ms),
            color=colour,
            lw=0.8,
            alpha=0.8,
            ymin=0.9,
            ymax=1.0,
            label=None if a.detector in seen else f"alert: {a.detector}",
        )
        seen.add(a.detector)
    ax.xaxis_date()
    ax.set_title(f"{run.patient}: {run.samples:,} samples, {len(result.alerts)} alerts")
    ax.legend(loc="upper left", fontsize=7, ncol=3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_report(
    out: Path, dataset: str, result: dict[str, Any], patients: Sequence[PatientResult]
) -> Path:
    """Write ``report.html`` and one PNG per patient into ``out``."""
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    sections = []
    for p in patients:
        name = f"{p.run.patient}.png"
        plot_patient(p, plots / name, dataset)
        alerts = "".join(
            f"<li><b>{html.escape(a.detector)}/{html.escape(a.kind)}</b> "
            f"{_dt(a.start_ms):%Y-%m-%d %H:%M} ({a.findings} findings): "
            f"{html.escape(a.explanation)}</li>"
            for a in p.alerts[:30]
        )
        more = f"<p>… and {len(p.alerts) - 30} more alerts</p>" if len(p.alerts) > 30 else ""
        row = html.escape(json.dumps(p.row, default=str))
        sections.append(
            f"<h2>{html.escape(p.run.patient)}</h2><img src='plots/{name}' width='100%'>"
            f"<details><summary>metrics</summary><pre>{row}</pre></details>"
            f"<details><summary>alerts</summary><ul>{alerts}</ul>{more}</details>"
        )
    summary = {
        k: v for k, v in result.items() if not isinstance(v, list) and k not in ("subgroups",)
    }
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(json.dumps(v))}</td></tr>"
        for k, v in summary.items()
    )
    subgroups = html.escape(json.dumps(result.get("subgroups", {}), indent=2))
    doc = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Wearmon evaluation: {html.escape(dataset)}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto}}td{{padding:2px 8px}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f4f4f4}}</style></head><body>
<h1>Wearmon evaluation: {html.escape(dataset)}</h1>
<p>Replayed in event-time order through the stream's PatientFeatures and PatientModels (no
look-ahead). Alerts: warning/critical findings of one detector and kind, grouped while less than
an hour apart. Shaded: labelled windows (illness windows or non-sinus rhythm episodes); black
lines: labelled events (solid: symptom onset); coloured ticks at the top: alerts.</p>
<h2>Summary</h2><table>{rows}</table>
<h2>Subgroups</h2><pre>{subgroups}</pre>
{"".join(sections)}
</body></html>"""
    path = out / "report.html"
    path.write_text(doc)
    return path
