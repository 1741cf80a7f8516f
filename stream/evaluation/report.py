"""The HTML report a clinician can read: the protocol, Wearmon next to the published rules, real
tables of the metrics (no JSON), then one plot and one alert list per patient."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wearmon.stream.evaluation.plots import plot_patient

if TYPE_CHECKING:
    from wearmon.stream.evaluation.runs.results import PatientResult

#: the figures each dataset is judged on, in table order
HEADLINE = {
    "stanford": ("events", "detected", "sensitivity", "median_lead_days",
                 "false_alert_days_per_30d", "chance_sensitivity"),
    "covid-daily": ("events", "detected", "sensitivity", "median_lead_days",
                    "false_alert_days_per_30d", "chance_sensitivity"),
    "afdb": ("sensitivity", "specificity", "episode_sensitivity", "median_detection_delay_s"),
    "nsr": ("records", "hours", "af_alerts", "af_alerts_per_24h", "time_specificity"),
    "normal": ("patients", "patient_days", "alerts", "alerts_per_patient_day"),
    "synthetic": ("recall", "false_alerts_per_patient_day", "median_latency_s"),
}
MAX_ALERTS_LISTED = 30
STYLE = """body{font-family:sans-serif;max-width:1200px;margin:auto}td,th{padding:2px 8px;
text-align:left}table{border-collapse:collapse;margin-bottom:1em}tr:nth-child(even){background:
#f4f4f4}th{background:#e0e0e8}.note{color:#444}"""


def cell(value: Any) -> str:
    """A value as table text: numbers as numbers, lists joined, nothing as an empty cell.

    >>> cell(0.91234), cell(35724.6), cell([3.0, 2.5]), cell(None), cell({"a": 1})
    ('0.9123', '35,725', '3, 2.5', '', 'a: 1')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value)
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """An HTML table of ``rows`` (one dict each), with ``columns`` (default: all keys)."""
    if not rows:
        return "<p class='note'>(none)</p>"
    cols = list(columns) if columns else list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell(r.get(c)))}</td>" for c in cols) + "</tr>"
        for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def key_values(doc: Mapping[str, Any]) -> str:
    """A two-column table of the scalar entries of ``doc``."""
    rows = [{"figure": k, "value": v} for k, v in doc.items()
            if not isinstance(v, (list, dict))]
    return table(rows, ["figure", "value"])


def comparison(dataset: str, result: Mapping[str, Any]) -> str:
    """Wearmon and each published rule on the same data, the dataset's headline figures."""
    keys = HEADLINE.get(dataset, ())
    rows = [{"detector": "Wearmon", **{k: result.get(k) for k in keys}}]
    for name, figures in result.get("baselines", {}).items():
        rows.append({"detector": f"published rule: {name}", **{k: figures.get(k) for k in keys}})
    return table(rows, ["detector", *keys])


def _nested(result: Mapping[str, Any]) -> str:
    parts = []
    for key, value in result.items():
        if key in ("baselines", "subgroups") or not isinstance(value, dict):
            continue
        flat = {k: v for k, v in value.items() if not isinstance(v, dict)}
        sub = [{"": k, **v} for k, v in value.items() if isinstance(v, dict)]
        parts.append(f"<h3>{html.escape(key.replace('_', ' '))}</h3>"
                     + (key_values(flat) if flat else "") + (table(sub) if sub else ""))
    for name, groups in result.get("subgroups", {}).items():
        if isinstance(groups, dict) and all(isinstance(v, dict) for v in groups.values()):
            rows = [{name: g, **{k: v for k, v in s.items() if not isinstance(v, dict)}}
                    for g, s in groups.items()]
            parts.append(f"<h3>subgroups by {html.escape(name)}</h3>{table(rows)}")
        else:
            parts.append(f"<p class='note'>subgroups by {html.escape(name)}: "
                         f"{html.escape(cell(groups))}</p>")
    return "".join(parts)


def _per_patient(result: Mapping[str, Any]) -> str:
    rows = next((v for k, v in result.items() if k.startswith("per_") and isinstance(v, list)),
                [])
    flat = [{k: (cell(v) if isinstance(v, dict) else v) for k, v in r.items()} for r in rows]
    return table(flat)


def _when(p: PatientResult, t_ms: int) -> str:
    """A time as the plots show it: a date, or a day number when the x axis counts days."""
    if p.x_origin_ms is not None:
        return f"day {(t_ms - p.x_origin_ms) / 86_400_000:+.0f}"
    return f"{datetime.fromtimestamp(t_ms / 1000, tz=UTC):%Y-%m-%d %H:%M}"


def _patient_section(p: PatientResult, dataset: str, plots: Path) -> str:
    name = f"{p.run.patient}.png"
    plot_patient(p, plots / name, dataset)
    alerts = [{"detector": a.detector, "kind": a.kind, "starts": _when(p, a.start_ms),
               "findings": a.findings, "explanation": a.explanation}
              for a in (p.alerts + p.anchor_alerts)[:MAX_ALERTS_LISTED]]
    more = len(p.alerts) + len(p.anchor_alerts) - MAX_ALERTS_LISTED
    return (f"<h2>{html.escape(p.run.patient)}</h2><img src='plots/{name}' width='100%'>"
            f"<h3>metrics</h3>{key_values(p.row)}"
            f"<details><summary>alerts ({len(p.alerts)} Wearmon, {len(p.anchor_alerts)} "
            f"published rules)</summary>{table(alerts)}"
            + (f"<p>… and {more} more</p>" if more > 0 else "") + "</details>")


def write_report(out: Path, dataset: str, result: dict[str, Any],
                 patients: Sequence[PatientResult]) -> Path:
    """Write ``report.html`` and one PNG per patient into ``out``."""
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    sections = "".join(_patient_section(p, dataset, plots) for p in patients)
    anchors = ("" if "baselines" not in result else
               "<h2>Wearmon and the published rules, same data, same run</h2>"
               + comparison(dataset, result))
    doc = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Wearmon evaluation: {html.escape(dataset)}</title><style>{STYLE}</style></head><body>
<h1>Wearmon evaluation: {html.escape(dataset)}</h1>
<p><b>Protocol: {html.escape(str(result.get("protocol", "")))}.</b>
{html.escape(str(result.get("protocol_note", "")))}</p>
<p class='note'>Replayed in event-time order through the stream's own code (no look-ahead).
Alerts: warning/critical findings of one detector and kind, grouped while less than an hour
apart. Wearmon supports clinicians; it does not diagnose. In the plots every shaded span and
line is named in the legend below the plot; alerts are markers in one row per detector at the
top (published rules in grey).</p>
{anchors}
<h2>Summary</h2>{key_values(result)}
{_nested(result)}
<h2>Per patient</h2>{_per_patient(result)}
{sections}
</body></html>"""
    path = out / "report.html"
    path.write_text(doc)
    return path
