"""The report's plain words: the verdict against each target, clinical names, the glossary.

``verdict(dataset, result)`` returns the rows of the first table a clinician reads: the figure
in words, Wearmon's value, the best published rule's value on the same data, the target, and
whether the target is met. The same rows go into the metrics JSON (``verdict``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: detector:kind → what a nurse calls it
CLINICAL_NAMES = {
    "slow_deviation:resting_hr_rise": "Illness score: resting heart rate up",
    "clinical_bands:tachycardia_at_rest": "Fast heart rate at rest",
    "clinical_bands:bradycardia": "Slow heart rate",
    "clinical_bands:desaturation": "Low oxygen saturation",
    "clinical_bands:news2_partial": "Early warning score (partial NEWS2)",
    "contextual_hr:high_hr_for_patient": "Heart rate high for this patient",
    "contextual_hr:low_hr_for_patient": "Heart rate low for this patient",
    "irregular_rhythm:irregular_rhythm": "Irregular rhythm (possible atrial fibrillation)",
    "activity:unusual_inactivity": "Unusual inactivity",
    "activity:steps_decline": "Fewer steps for several days",
    "activity:unusual_night_activity": "Restless night",
    "data_quality:off_wrist": "Device not worn",
    "data_quality:data_gap": "Gap in the data",
}
DETECTOR_NAMES = {
    "slow_deviation": "Wearmon illness score",
    "clinical_bands": "Wearmon vital-sign limits",
    "contextual_hr": "Wearmon heart rate for this patient",
    "irregular_rhythm": "Wearmon irregular rhythm",
    "activity": "Wearmon activity",
    "data_quality": "Wearmon data quality",
    "anchor:nightsignal": "NightSignal (published rule)",
    "anchor:rhr_cusum": "Resting-HR CuSum (published rule)",
    "anchor:nrmssd_rule": "RMSSD rule (published rule)",
}
#: published rules by their papers, for the verdict's comparison column
RULES = {"nightsignal": "NightSignal, Alavi 2022", "rhr_cusum": "resting-HR CuSum, Mishra 2020",
         "nrmssd_rule": "RMSSD rule, Dash 2009"}
GLOSSARY = {
    "Sensitivity": "The share of illness onsets (or AF time, or events) that Wearmon flagged.",
    "Lead": "How many days before symptoms started the first alert came. A negative lead "
            "means the alert came after symptoms started (−1 = one day after).",
    "False alert-days per patient-month": "Days with an alert outside any labelled illness, "
            "per 30 days of monitoring one patient. 0.5 means one alert for nothing every two "
            "months per patient.",
    "Alarm budget": "The false alert-days per patient-month a ward accepts for the illness "
            "score; Wearmon sets the score's threshold from it.",
    "Chance": "The sensitivity that alerts thrown at random days, at the same rate, would "
            "reach. A useful detector is well above it.",
    "Operating curve": "Sensitivity against false alert-days as the threshold is moved: "
            "higher and further left is better.",
    "Protocol": "How thresholds were chosen. Leave-one-patient-out: each person is scored with "
            "a threshold chosen on everybody else, never on themselves. Fixed defaults: "
            "the shipped settings, chosen on other people.",
    "Published rule": "A method from a paper (NightSignal, CuSum, RMSSD rule) run on the same "
            "data in the same run, for comparison.",
}


def clinical_name(detector: str, kind: str) -> str:
    """The clinical words for a detector's kind.

    >>> clinical_name("clinical_bands", "bradycardia"), clinical_name("x", "odd_kind")
    ('Slow heart rate', 'odd kind')
    """
    return CLINICAL_NAMES.get(f"{detector}:{kind}", kind.replace("_", " "))


def _sensitivity_at(rate: str) -> Callable[[Mapping[str, Any]], Any]:
    def read(figures: Mapping[str, Any]) -> Any:
        return figures.get("sensitivity_at", {}).get(rate)

    return read


def _best_anchor(result: Mapping[str, Any], key: Callable[[Mapping[str, Any]], Any]
                 ) -> tuple[str, Any]:
    best: tuple[str, Any] = ("", None)
    for name, figures in result.get("baselines", {}).items():
        value = key(figures)
        if value is not None and (best[1] is None or value > best[1]):
            best = (RULES.get(name, name), value)
    return best


def _row(figure: str, wearmon: Any, target: str, met: bool | None,
         best: tuple[str, Any] = ("", None), unit: str = "") -> dict[str, Any]:
    return {"figure": figure, "wearmon": wearmon, "best_published_rule": best[1],
            "published_rule": best[0], "target": target, "unit": unit,
            "met": None if met is None else bool(met)}


def _illness(result: Mapping[str, Any], dataset: str) -> list[dict[str, Any]]:
    rows = []
    for rate in ("0.5", "1.0"):
        mine = result.get("sensitivity_at", {}).get(rate)
        best = _best_anchor(result, _sensitivity_at(rate))
        rows.append(_row(f"Illness onsets flagged (days −7…+3) when the ward accepts {rate} "
                         "false alert-days per patient-month", mine,
                         "at least the best published rule",
                         None if best[1] is None or mine is None else mine >= best[1], best,
                         unit="share"))
    cliffs = result.get("cliffs")
    if cliffs is not None:
        rows.append(_row("Steps of the curve where sensitivity drops by more than a third for "
                         "less than a quarter fewer false alerts", len(cliffs), "none",
                         not cliffs))
    if dataset == "stanford":
        value = result.get("all_detectors_false_alert_days_per_30d")
        rows.append(_row("False alert-days per patient-month, all Wearmon alerts together",
                         value, "≤ 1.0", None if value is None else value <= 1.0))
    rows.append(_row("Illness onsets flagged at the ward default (0.5 false alert-days per "
                     "patient-month)", result.get("sensitivity"), "≥ 0.5 (first design target)",
                     None if result.get("sensitivity") is None else result["sensitivity"] >= 0.5,
                     unit="share"))
    return rows


def answer(dataset: str, result: Mapping[str, Any]) -> str:
    """The first screen's plain answer for the illness datasets ('' for the others).

    >>> print(answer("covid-daily", {"sensitivity_at": {"0.5": 0.34, "1.0": 0.47},
    ...     "baselines": {"rhr_cusum": {"sensitivity_at": {"0.5": 0.24, "1.0": 0.43}}}}))
    ... # doctest: +NORMALIZE_WHITESPACE
    At equal alarm rates Wearmon flags 34% of illness onsets at 0.5 and 47% at 1.0 false
    alert-days per patient-month; the best published rule on the same people flags 24% at 0.5
    (resting-HR CuSum, Mishra 2020) and 43% at 1.0 (resting-HR CuSum, Mishra 2020).
    """
    at = result.get("sensitivity_at")
    if not at:
        return ""
    best = {rate: _best_anchor(result, _sensitivity_at(rate)) for rate in ("0.5", "1.0")}
    parts = [f"At equal alarm rates Wearmon flags {100 * at['0.5']:.0f}% of illness onsets at "
             f"0.5 and {100 * at['1.0']:.0f}% at 1.0 false alert-days per patient-month"]
    if best["0.5"][1] is not None and best["1.0"][1] is not None:
        parts.append(f"; the best published rule on the same people flags "
                     f"{100 * best['0.5'][1]:.0f}% at 0.5 ({best['0.5'][0]}) and "
                     f"{100 * best['1.0'][1]:.0f}% at 1.0 ({best['1.0'][0]})")
    return "".join(parts) + "."


def _at_least(value: Any, target: float) -> bool | None:
    return None if value is None else value >= target


def _at_most(value: Any, target: float) -> bool | None:
    return None if value is None else value <= target


def verdict(dataset: str, result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The verdict rows of one dataset's result.

    >>> rows = verdict("normal", {"alerts_per_patient_day": 0.08})
    >>> rows[0]["met"], rows[0]["target"]
    (True, '≤ 0.1')
    """
    r = result
    if dataset in ("covid-daily", "stanford"):
        return _illness(r, dataset)
    anchor = _best_anchor(r, lambda f: f.get("sensitivity"))
    spec_anchor = _best_anchor(r, lambda f: f.get("specificity"))
    tables: dict[str, list[dict[str, Any]]] = {
        "afdb": [
            _row("Time in AF recognised (sensitivity)", r.get("sensitivity"), "≥ 0.95",
                 _at_least(r.get("sensitivity"), 0.95), anchor),
            _row("Time without AF left alone (specificity)", r.get("specificity"), "≥ 0.95",
                 _at_least(r.get("specificity"), 0.95), spec_anchor)],
        "nsr": [
            _row("AF alerts per 24 h on normal rhythm", r.get("af_alerts_per_24h"), "≤ 0.1",
                 _at_most(r.get("af_alerts_per_24h"), 0.1)),
            _row("Time correctly called not-AF", r.get("time_specificity"), "≥ 0.99",
                 _at_least(r.get("time_specificity"), 0.99))],
        "normal": [
            _row("Alerts per patient-day on days without known illness",
                 r.get("alerts_per_patient_day"), "≤ 0.1",
                 _at_most(r.get("alerts_per_patient_day"), 0.1))],
        "synthetic": [
            _row("Simulated events found (recall)", r.get("recall"), "≥ 0.99",
                 _at_least(r.get("recall"), 0.99)),
            _row("False alerts per patient-day", r.get("false_alerts_per_patient_day"), "≤ 0.2",
                 _at_most(r.get("false_alerts_per_patient_day"), 0.2)),
            _row("Median time to alert", r.get("median_latency_s"), "≤ 60 s",
                 _at_most(r.get("median_latency_s"), 60), unit="s")],
    }
    return tables.get(dataset, [])
