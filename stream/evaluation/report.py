"""The HTML report a clinician can read.

First screen: the verdict (each figure in plain words, Wearmon, the best published rule, the
target, met or missed), what it means for a ward, then the operating-curve plot. Then the
alarm burden by kind in clinical words, a glossary, the protocol, and one section per person
(people with an illness onset first): a sentence, a plot at its own size with alt text, and
the alerts in clinical words. Developer fields (timings, state sizes, settings in code) stay in
the metrics JSON.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wearmon.models.alarm_budget import DEFAULT_BUDGET, budget_summary
from wearmon.stream.evaluation.plots import plot_curves, plot_patient
from wearmon.stream.evaluation.verdict import (
    CLINICAL_NAMES,
    DETECTOR_NAMES,
    GLOSSARY,
    answer,
    clinical_name,
    verdict,
)

if TYPE_CHECKING:
    from wearmon.stream.evaluation.runs.results import PatientResult

#: the figures each dataset is judged on (the JSON's keys; the anchors carry the same ones)
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
TITLES = {
    "covid-daily": "Illness before symptoms: people around a COVID-19 onset (daily values)",
    "stanford": "Illness before symptoms: Stanford smartwatch wearers (minute data)",
    "afdb": "Atrial fibrillation from beat intervals (MIT-BIH AF database)",
    "nsr": "False AF alarms on normal heart rhythm (24-hour recordings)",
    "normal": "Alarm burden on ordinary days (MMASH chest strap, Fitbit)",
    "synthetic": "Simulated patients with injected events",
}
MAX_ALERTS_LISTED = 30
WARD_PATIENTS = 40
STYLE = """body{font-family:sans-serif;max-width:1100px;margin:auto;padding:0 1em;
line-height:1.4}td,th{padding:3px 8px;text-align:left;vertical-align:top}
table{border-collapse:collapse;margin-bottom:1em}tr:nth-child(even){background:#f4f4f4}
th{background:#e0e0e8}.note{color:#444}.met{color:#0a6b0a;font-weight:bold}
.missed{color:#a00;font-weight:bold}img{max-width:100%;height:auto}nav{margin:.5em 0}
dt{font-weight:bold;margin-top:.4em}section.person{border-top:1px solid #ccc;margin-top:2em}"""


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


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
          headers: Sequence[str] | None = None, table_id: str = "") -> str:
    """An HTML table of ``rows`` with ``columns`` (headers in words)."""
    if not rows:
        return "<p class='note'>(none)</p>"
    names = headers or [c.replace("_", " ") for c in columns]
    head = "".join(f"<th scope='col'>{html.escape(h)}</th>" for h in names)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell(r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in rows)
    ident = f" id='{table_id}'" if table_id else ""
    return f"<table{ident}><tr>{head}</tr>{body}</table>"


def _figure(value: Any, unit: str) -> str:
    """A verdict figure in words: a share as a percentage (with the value), seconds with 's'.

    >>> _figure(0.4083, "share"), _figure(61.4, "s"), _figure(None, "share")
    ('41% (0.408)', '61.4 s', 'not measured')
    """
    if value is None:
        return "not measured"
    if unit == "share":
        return f"{100 * value:.0f}% ({value:.3g})"
    return cell(value) + (f" {unit}" if unit else "")


def _met(value: bool | None) -> str:
    if value is None:
        return "<td>not measured</td>"
    return "<td class='met'>met</td>" if value else "<td class='missed'>missed</td>"


def verdict_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The first table: figure, Wearmon, best published rule, target, met/missed."""
    if not rows:
        return ""
    def rule(r: Mapping[str, Any]) -> str:
        if not r["published_rule"]:
            return "—"
        return f"{_figure(r['best_published_rule'], r['unit'])}, {r['published_rule']}"

    body = "".join(
        f"<tr><td>{html.escape(r['figure'])}</td>"
        f"<td>{html.escape(_figure(r['wearmon'], r['unit']))}</td>"
        f"<td>{html.escape(rule(r))}</td>"
        f"<td>{html.escape(r['target'])}</td>{_met(r['met'])}</tr>" for r in rows)
    head = ("<tr><th scope='col'>figure</th><th scope='col'>Wearmon</th><th scope='col'>best "
            "published rule, same data</th><th scope='col'>target</th><th scope='col'>"
            "verdict</th></tr>")
    return f"<table id='verdict'>{head}{body}</table>"


def _ward(result: Mapping[str, Any]) -> str:
    """What budgets mean for a ward, with the sensitivity measured on people never seen."""
    curve = {p["threshold"]: p for p in result.get("operating_curve", [])}
    rows = []
    for budget in (0.25, 0.5, 1.0, 1.5):
        s = budget_summary(budget, WARD_PATIENTS)
        held = curve.get(budget)
        rows.append({"budget": budget, "alerts_week": s["false_alerts_per_week"],
                     "sens": held["sensitivity"] if held else None,
                     "fpr": held["false_alert_days_per_30d"] if held else None})
    default = budget_summary(DEFAULT_BUDGET, WARD_PATIENTS)["text"]
    return (f"<h2 id='ward'>What this means for a ward</h2><p>{html.escape(default)}</p>"
            + table(rows, ["budget", "alerts_week", "sens", "fpr"], [
                "alarm budget (false alert-days per patient-month)",
                f"illness alerts for nothing per week, {WARD_PATIENTS} patients",
                "share of onsets flagged here (threshold chosen on other people)",
                "false alert-days per patient-month measured here"]))


def _curve_section(dataset: str, result: Mapping[str, Any], plots: Path) -> str:
    if "operating_curve" not in result:
        return ""
    methods: dict[str, dict[str, Any]] = {"wearmon": {
        "name": "Wearmon illness score", "operating_curve": result["operating_curve"],
        "sensitivity_at": result["sensitivity_at"]}}
    for name, figures in {**result.get("baselines", {}),
                          **result.get("river_candidates", {})}.items():
        if "operating_curve" in figures:
            methods[name] = {"name": figures.get("name") or DETECTOR_NAMES.get(
                f"anchor:{name}", name), **figures}
    width, height = plot_curves(methods, plots / "operating_curves.png",
                                f"{dataset}: every method on the same days")
    alt = ("Operating curves: share of illness onsets flagged against false alert-days per "
           "patient-month. " + "; ".join(
               f"{m['name']} {m['sensitivity_at']['0.5']:.2f} at 0.5 and "
               f"{m['sensitivity_at']['1.0']:.2f} at 1.0" for m in methods.values()))
    rows = result.get("at_equal_alarm_rates", [])
    return (f"<h2 id='curve'>Operating curves</h2><img id='curve-plot' "
            f"src='plots/operating_curves.png' width='{width}' height='{height}' "
            f"alt='{html.escape(alt, quote=True)}'>"
            f"<p class='note'>Wearmon: {html.escape(str(result.get('curve_protocol', '')))} "
            "(each point is an alarm budget). Published rules: their papers' rule with only "
            "their threshold moved, every point on the same people (this favours them). River "
            "candidates: fitted like Wearmon.</p>"
            + table(rows, ["method", "protocol", "sensitivity_at_0.5", "sensitivity_at_1.0",
                           "mean_sensitivity_0.25_1.5", "cliffs"],
                    ["method", "protocol", "flagged at 0.5", "flagged at 1.0",
                     "mean over 0.25–1.5", "cliffs"]))


def _burden(result: Mapping[str, Any]) -> str:
    by_kind = (result.get("false_alert_days_per_30d_by_kind")
               or result.get("alerts_per_patient_day_by_kind"))
    if not by_kind:
        return ""
    unit = ("false alert-days per patient-month" if "false_alert_days_per_30d_by_kind" in result
            else "alerts per patient-day")
    rows = [{"kind": CLINICAL_NAMES.get(k, k), "rate": v} for k, v in
            sorted(by_kind.items(), key=lambda kv: -(kv[1] or 0))]
    return ("<h2 id='burden'>Alarm burden by kind</h2>"
            + table(rows, ["kind", "rate"], ["alert", unit])
            + "<p class='note'>Each person's counts by kind are in their section and in the "
              "JSON (per person).</p>")


def _river(result: Mapping[str, Any]) -> str:
    """Minute-level River candidates (normal days, simulated events): each threshold's row."""
    parts = []
    for c in result.get("river_candidates", {}).values():
        rows = c.get("by_threshold")
        if not rows:
            continue  # illness candidates are in the operating-curve table
        columns = [k for k in rows[0] if k != "alerts"]
        parts.append(f"<p>{html.escape(c['name'])}"
                     + (f" — Wearmon's heart rate for this patient on the same days: "
                        f"{c['wearmon_contextual_hr_alerts_per_patient_day']} alerts per "
                        "patient-day" if "wearmon_contextual_hr_alerts_per_patient_day" in c
                        else "") + "</p>" + table(rows, columns))
    return ("<h2 id='river'>River candidates</h2>" + "".join(parts)) if parts else ""


def _mechanisms(result: Mapping[str, Any]) -> str:
    rows = result.get("mechanisms")
    if not rows:
        return ""
    flat = [{"variant": r["variant"], **{f"{ds} {k}": v for ds in ("covid_daily", "stanford")
                                         for k, v in r[ds].items()}} for r in rows]
    columns = list(flat[0])
    return ("<h2 id='mechanisms'>The illness score's mechanisms, one at a time</h2>"
            + table(flat, columns, [c.replace("_", " ") for c in columns]))


def _glossary() -> str:
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
                    for k, v in GLOSSARY.items())
    return f"<h2 id='glossary'>Glossary</h2><dl>{items}</dl>"


def _protocol(result: Mapping[str, Any]) -> str:
    parts = [f"<p><b>Protocol: {html.escape(str(result.get('protocol', '')))}.</b> "
             f"{html.escape(str(result.get('protocol_note', '')))}</p>"]
    if result.get("scoring"):
        parts.append(f"<p>Scoring: {html.escape(str(result['scoring']))}</p>")
    parts.append("<p class='note'>Replayed in event-time order through the stream's own code "
                 "(no look-ahead). An alert is a run of warning or critical findings of one kind "
                 "less than an hour apart. Wearmon supports clinicians; it does not diagnose."
                 "</p>")
    return "<h2 id='protocol'>How it was measured</h2>" + "".join(parts)


def _when(p: PatientResult, t_ms: int) -> str:
    """A time as the plots show it: a date, or a day number when the x axis counts days."""
    if p.x_origin_ms is not None:
        return f"day {(t_ms - p.x_origin_ms) / 86_400_000:+.0f}"
    return f"{datetime.fromtimestamp(t_ms / 1000, tz=UTC):%Y-%m-%d %H:%M}"


def _lead_words(leads: Sequence[float]) -> str:
    words = []
    for lead in leads:
        if lead > 0:
            words.append(f"{lead:g} days before symptoms")
        elif lead < 0:
            words.append(f"{-lead:g} days after symptoms started")
        else:
            words.append("on the day symptoms started")
    return ", ".join(words)


def person_sentence(row: Mapping[str, Any]) -> str:
    """One plain sentence about a person's row.

    >>> person_sentence({"events": 1, "detected": 1, "lead_days": [2.0], "false_alert_days": 0})
    'Illness onsets: 1, flagged: 1 (2 days before symptoms). False alert-days: 0.'
    """
    parts = []
    if "events" in row:
        lead = _lead_words(row.get("lead_days", []))
        parts.append(f"Illness onsets: {row['events']}, flagged: {row['detected']}"
                     + (f" ({lead})" if lead else "") + ".")
    if "all_alerts_false_alert_days" in row:
        parts.append(f"False alert-days: illness score {row['false_alert_days']}, all alerts "
                     f"{row['all_alerts_false_alert_days']}.")
    elif "false_alert_days" in row:
        parts.append(f"False alert-days: {row['false_alert_days']}.")
    if "alerts" in row and "monitored_days" in row:
        parts.append(f"{row['alerts']} alerts in {row['monitored_days']:g} monitored days.")
    if "sensitivity" in row and "specificity" in row:
        parts.append(f"AF time recognised {cell(row['sensitivity'])}, time without AF left "
                     f"alone {cell(row['specificity'])}.")
    if "af_alerts" in row:
        parts.append(f"{row['af_alerts']} AF alerts in {row['hours']:g} hours.")
    return " ".join(parts)


def _alt(p: PatientResult, dataset: str) -> str:
    kinds = sorted({clinical_name(a.detector, a.kind) for a in p.alerts})
    what = {"covid-daily": "daily resting heart rate and steps around symptom onset",
            "afdb": "beat-to-beat irregularity and the AF decision",
            "nsr": "beat-to-beat irregularity and the AF decision"}.get(
        dataset, "heart rate with the personal baselines")
    return (f"{p.run.patient}: {what}; {len(p.alerts)} Wearmon alerts"
            + (f" ({', '.join(kinds)})" if kinds else "")
            + (f"; {len(p.anchor_alerts)} published-rule alerts" if p.anchor_alerts else "")
            + "; labelled events and windows shaded.")


def _person(p: PatientResult, dataset: str, plots: Path) -> str:
    name = f"{p.run.patient}.png"
    width, height = plot_patient(p, plots / name, dataset)
    alerts = [{"alert": clinical_name(a.detector, a.kind) if not a.detector.startswith("anchor")
               else DETECTOR_NAMES.get(a.detector, a.detector),
               "severity": a.severity, "starts": _when(p, a.start_ms),
               "explanation": a.explanation}
              for a in (p.alerts + p.anchor_alerts)[:MAX_ALERTS_LISTED]]
    more = len(p.alerts) + len(p.anchor_alerts) - MAX_ALERTS_LISTED
    false_days = "false_alert_days_by_kind" in p.row
    by_kind = p.row.get("false_alert_days_by_kind") or p.row.get("by_kind") or {}
    kinds = "; ".join(f"{CLINICAL_NAMES.get(k, k)}: {v}" for k, v in by_kind.items())
    kinds_words = "False alert-days by kind" if false_days else "Alerts by kind"
    return (f"<section class='person' id='{html.escape(p.run.patient)}'>"
            f"<h3>{html.escape(p.run.patient)}</h3><p>{html.escape(person_sentence(p.row))}"
            + (f" {kinds_words}: {html.escape(kinds)}." if kinds else "") + "</p>"
            f"<img src='plots/{name}' width='{width}' height='{height}' "
            f"alt='{html.escape(_alt(p, dataset), quote=True)}'>"
            f"<details><summary>alerts ({len(p.alerts)} Wearmon, {len(p.anchor_alerts)} "
            f"published rules)</summary>"
            + table(alerts, ["alert", "severity", "starts", "explanation"])
            + (f"<p>… and {more} more</p>" if more > 0 else "") + "</details></section>")


def _scope(result: Mapping[str, Any], people: int) -> str:
    """What was measured on whom, in one sentence."""
    words = f"{people} people"
    if "events" in result:
        words += f", {result['events']} illness onsets"
    if "patient_days" in result:
        words += f", {result['patient_days']:g} patient-days"
    if "hours" in result:
        words += f", {result['hours']:g} hours of beats"
    return (f"{words}; protocol: {result.get('protocol', '')} (thresholds never chosen on the "
            "person scored). Wearmon supports clinicians; it does not diagnose.")


def _order(patients: Sequence[PatientResult]) -> list[PatientResult]:
    """People with an illness onset (or any labelled event) first, then by alerts."""
    return sorted(patients, key=lambda p: (-int(p.row.get("events", 0) or bool(p.events)),
                                           -len(p.alerts), p.run.patient))


def write_report(out: Path, dataset: str, result: dict[str, Any],
                 patients: Sequence[PatientResult]) -> Path:
    """Write ``report.html`` and its PNGs into ``out``."""
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    people = _order(patients)
    rows = result.get("verdict") or verdict(dataset, result)
    illness = "operating_curve" in result
    toc = [("verdict", "Verdict"), *([("ward", "What this means for a ward"),
                                      ("curve", "Operating curves")] if illness else []),
           *([("burden", "Alarm burden by kind")] if _burden(result) else []),
           *([("river", "River candidates")] if _river(result) else []),
           *([("mechanisms", "The score's mechanisms")] if result.get("mechanisms") else []),
           ("glossary", "Glossary"), ("protocol", "How it was measured"),
           ("people", f"People ({len(people)})")]
    nav = " · ".join(f"<a href='#{k}'>{html.escape(v)}</a>" for k, v in toc)
    person_links = "".join(f"<li><a href='#{html.escape(p.run.patient)}'>"
                           f"{html.escape(p.run.patient)}</a></li>" for p in people)
    doc = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Wearmon evaluation: {html.escape(dataset)}</title><style>{STYLE}</style></head><body>
<h1>{html.escape(TITLES.get(dataset, dataset))}</h1>
<nav aria-label="contents">Contents: {nav}</nav>
<p>{html.escape(_scope(result, len(people)))}</p>
<h2 id='verdict-title'>Verdict</h2><p><b>{html.escape(answer(dataset, result))}</b></p>
{verdict_table(rows)}
{_ward(result) if illness else ""}
{_curve_section(dataset, result, plots)}
{_burden(result)}{_river(result)}{_mechanisms(result)}{_glossary()}{_protocol(result)}
<h2 id='people'>People</h2><p class='note'>People with an illness onset first.</p>
<ul>{person_links}</ul>
{"".join(_person(p, dataset, plots) for p in people)}
</body></html>"""
    path = out / "report.html"
    path.write_text(doc)
    return path
