"""The report's plots: one per patient (signals, baselines, labelled spans, every alert) and
the operating curves of the illness-style methods.

Every shaded span and every line has a legend entry, below the plot in a readable size. Alerts
are drawn as markers in their own row at the top of the plot, one row, colour and marker per
detector, named in clinical words (published rules' alerts in grey rows below Wearmon's), so a
reader can tell whose alert is whose. Values that are only known on some days are drawn only on
those days (lines break at gaps, nothing is carried across them). SpO2 is drawn on a second
axis where the patient has it. Plots are written at the size the report shows them
(``png_size``), never stretched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wearmon.stream.evaluation.curves import envelope
from wearmon.stream.evaluation.verdict import DETECTOR_NAMES

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from wearmon.stream.evaluation.runs.results import PatientResult

DAY_MS = 86_400_000
MAX_POINTS = 4000
FONT = 10  # legend and label size (px at DPI 100: readable at the size shown)
DPI = 100
WIDTH_IN = 10.0
DETECTOR_STYLE = {  # colour, marker
    "clinical_bands": ("tab:red", "v"),
    "contextual_hr": ("tab:orange", "^"),
    "slow_deviation": ("tab:purple", "D"),
    "activity": ("tab:green", "s"),
    "irregular_rhythm": ("tab:brown", "o"),
    "data_quality": ("tab:gray", "x"),
}
ANCHOR_MARKERS = ("P", "X", "*", "h")
SPAN_COLOURS = {"illness window": "gold", "AFIB": "tab:red", "AFL": "tab:pink",
                "J": "tab:cyan"}
SPARE_COLOURS = ("gold", "tab:pink", "tab:cyan", "tab:olive", "silver", "tab:purple", "tab:blue")


def _x(t_ms: int, origin_ms: int | None) -> float:
    """Matplotlib date number, or days from ``origin_ms`` when given."""
    return (t_ms - (origin_ms or 0)) / DAY_MS


def _thin(xs: Sequence[Any], ys: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    step = max(1, len(xs) // MAX_POINTS)
    return list(xs[::step]), list(ys[::step])


def _nan(values: Sequence[float | None]) -> list[float]:
    return [math.nan if v is None else v for v in values]


def broken(xs: Sequence[float], ys: Sequence[float], max_gap: float
           ) -> tuple[list[float], list[float]]:
    """The points with a NaN inserted wherever consecutive x are more than ``max_gap`` apart,
    so a line is not drawn across missing data.

    >>> broken([0, 1, 5], [1.0, 2.0, 3.0], 1.5)
    ([0, 1, 3.0, 5], [1.0, 2.0, nan, 3.0])
    """
    out_x: list[float] = []
    out_y: list[float] = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if i and x - xs[i - 1] > max_gap:
            out_x.append((x + xs[i - 1]) / 2)
            out_y.append(math.nan)
        out_x.append(x)
        out_y.append(y)
    return out_x, out_y


def _spans(ax: Axes, result: PatientResult, origin: int | None) -> None:
    labels = list(dict.fromkeys(label for _, _, label in result.windows))
    colours = {lab: SPAN_COLOURS.get(lab, SPARE_COLOURS[i % len(SPARE_COLOURS)])
               for i, lab in enumerate(labels)}
    seen: set[str] = set()
    for start, end, label in result.windows:
        ax.axvspan(_x(start, origin), _x(end, origin), color=colours[label],
                   alpha=0.18, lw=0, label=None if label in seen else f"shaded: {label}")
        seen.add(label)
    for label, t in result.events:
        ax.axvline(_x(t, origin), color="k", lw=1.0, ls="-" if label == "symptom_onset" else ":",
                   label=None if label in seen else f"line: {label.replace('_', ' ')}")
        seen.add(label)


def _alerts(ax: Axes, result: PatientResult, origin: int | None) -> None:
    """Each detector's alerts as markers in its own row above the data (axes coordinates)."""
    names = sorted({a.detector for a in result.alerts})
    anchors = sorted({a.detector for a in result.anchor_alerts})
    rows = len(names) + len(anchors)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + (hi - lo) * 0.07 * rows)  # head room: alert rows sit above the data
    trans = ax.get_xaxis_transform()
    for row, name in enumerate(names + anchors):
        mine = [a for a in result.alerts + result.anchor_alerts if a.detector == name]
        words = DETECTOR_NAMES.get(name, name)
        if name in anchors:
            colour, marker = "dimgray", ANCHOR_MARKERS[anchors.index(name) % len(ANCHOR_MARKERS)]
            label = f"alerts: {words} ({len(mine)})"
        else:
            colour, marker = DETECTOR_STYLE.get(name, ("k", "o"))
            label = f"alerts: {words} ({len(mine)})"
        ax.scatter([_x(a.start_ms, origin) for a in mine], [0.97 - 0.05 * row] * len(mine),
                   transform=trans, color=colour, marker=marker, s=28, zorder=5, label=label,
                   clip_on=False)


def _rhythm(ax: Axes, result: PatientResult) -> None:
    run, rt = result.run, result.run.rhythm
    xs, ys = _thin([_x(t, None) for t in run.trace.nrmssd_t_ms], run.trace.nrmssd)
    ax.plot(xs, ys, lw=0.6, color="tab:blue", label="RR irregularity (nRMSSD, per upload)")
    xs, flags = _thin([_x(t, None) for t in rt.t_ms], rt.irregular)
    ax.fill_between(xs, 0, [0.05 if f else 0 for f in flags], step="post", color="tab:brown",
                    alpha=0.6, label="Wearmon decision: irregular (band at the bottom)")
    ax.set_ylim(0, 0.6)
    ax.set_ylabel("nRMSSD")


def _daily(ax: Axes, result: PatientResult, origin: int | None) -> None:
    tr = result.run.trace
    xs = [_x(t, origin) for t in tr.daily_t_ms]
    ax.plot(*broken(xs, tr.daily_rest_bpm, 1.5), lw=0.8, color="tab:purple", marker=".",
            ms=4, label="daily resting (baseline) HR, days with data only")
    ax.set_ylabel("bpm")
    steps = [d.steps for d in result.run.days]
    if any(s is not None for s in steps):
        ax2 = ax.twinx()
        ax2.plot(*broken(xs, _nan([float(s) if s is not None else None for s in steps]), 1.5),
                 lw=0.6, color="tab:green", alpha=0.6, label="steps per day (right axis)")
        ax2.set_ylabel("steps per day")
        ax2.legend(loc="lower right", fontsize=FONT)
    ax.set_xlabel("days from symptom onset" if origin is not None else "")


def _minutes(ax: Axes, result: PatientResult) -> None:
    tr = result.run.trace
    x = [_x(t, None) for t in tr.t_ms]
    hr = _nan(tr.hr_bpm)
    ax.plot(x, hr, lw=0.6, color="tab:blue", alpha=0.7, label="heart rate (bucket mean)")
    worn = [v is not None for v in tr.hr_bpm]  # baselines only where there is data
    base = [b if w else None for b, w in zip(tr.baseline_bpm, worn, strict=True)]
    slow = [b if w else None for b, w in zip(tr.slow_baseline_bpm, worn, strict=True)]
    ax.plot(x, _nan(base), lw=1.2, color="tab:orange", label="personal resting baseline")
    ax.plot(x, _nan(slow), lw=1.2, color="tab:purple", ls="--",
            label="multi-day resting baseline")
    if tr.daily_t_ms:
        ax.scatter([_x(t, None) for t in tr.daily_t_ms], tr.daily_rest_bpm, s=10,
                   color="tab:purple", zorder=3, label="night's resting HR (nights with data)")
    ax.set_ylabel("bpm")
    if any(v is not None for v in tr.spo2_pct):
        ax2 = ax.twinx()
        ax2.plot(x, _nan(tr.spo2_pct), lw=0.6, color="tab:cyan", label="SpO2 (right axis)")
        ax2.set_ylabel("SpO2 %")
        ax2.set_ylim(70, 101)
        ax2.legend(loc="lower right", fontsize=FONT)
    ax.xaxis_date()


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels of a PNG file, from its header."""
    head = path.read_bytes()[16:24]
    return int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")


def plot_patient(result: PatientResult, path: Path, dataset: str) -> tuple[int, int]:
    """One patient's plot; returns its size in pixels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    origin = result.x_origin_ms
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.0))
    if dataset in ("afdb", "nsr"):
        _rhythm(ax, result)
        ax.xaxis_date()
    elif dataset == "covid-daily":
        _daily(ax, result, origin)
    else:
        _minutes(ax, result)
    _spans(ax, result, origin)
    _alerts(ax, result, origin)
    run = result.run
    ax.set_title(f"{run.patient}: {len(result.alerts)} Wearmon alerts"
                 + (f", {len(result.anchor_alerts)} published-rule alerts"
                    if result.anchor_alerts else ""), fontsize=FONT + 1)
    if origin is None:
        fig.autofmt_xdate()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=FONT,
              frameon=False)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return png_size(path)


CURVE_STYLES = {"wearmon": ("tab:purple", "-", 2.6, "o"), "nightsignal": ("dimgray", "-", 1.6, "s"),
                "rhr_cusum": ("darkgoldenrod", "-", 1.6, "^")}


CANDIDATE_COLOURS = ("tab:red", "tab:cyan", "tab:olive", "tab:pink")


def plot_curves(curves: dict[str, dict[str, Any]], path: Path, title: str) -> tuple[int, int]:
    """Each method's operating curve (``curves[key]``: name, operating_curve, sensitivity_at);
    the chance line of the first. Returns the image size in pixels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(WIDTH_IN * 0.8, 5.2))
    extra = 0
    for key, c in curves.items():
        if key not in CURVE_STYLES:
            extra += 1
        colour, ls, lw, marker = CURVE_STYLES.get(
            key, (CANDIDATE_COLOURS[(extra - 1) % len(CANDIDATE_COLOURS)], "--", 1.2, None))
        xs, ys = envelope(c["operating_curve"])  # what ``sensitivity_at`` reads
        at = c["sensitivity_at"]
        ax.plot([*xs, 3.0], [*ys, ys[-1]], color=colour, ls=ls, lw=lw,
                label=f"{c['name']}: {at['0.5']:.2f} at 0.5, {at['1.0']:.2f} at 1.0")
        if marker:
            ax.plot([p["false_alert_days_per_30d"] for p in c["operating_curve"]],
                    [p["sensitivity"] or 0.0 for p in c["operating_curve"]], ls="none",
                    marker=marker, ms=4, color=colour)
    first = next(iter(curves.values()))
    chance = sorted((p["false_alert_days_per_30d"], p["chance_sensitivity"] or 0.0)
                    for p in first["operating_curve"])
    ax.plot([x for x, _ in chance], [y for _, y in chance], color="k", ls=":", lw=1.2,
            label="chance (alerts on random days at the same rate)")
    for x in (0.5, 1.0):
        ax.axvline(x, color="silver", lw=1, zorder=0)
    ax.set_xlim(0, 3.0)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("false alert-days per patient-month (30 days)", fontsize=FONT + 1)
    ax.set_ylabel("share of illness onsets flagged (days −7…+3)", fontsize=FONT + 1)
    ax.set_title(title, fontsize=FONT + 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1, fontsize=FONT,
              frameon=False)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return png_size(path)
