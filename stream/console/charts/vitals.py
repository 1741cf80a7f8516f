"""One patient's vitals as charts a clinician can read: fixed clinical scales with units, the
patient's own limits as lines, the alerts of the period as shaded spans with a marker at their
opening, and a text alternative with the key numbers. Pure: the history comes in as lists.

Windows are 30 min, 1 h, 6 h, 24 h and 7 d; ``default_window`` picks the shortest one that
shows the patient's data (and the opening of every active alert) without squeezing it into a
corner of the chart.

>>> default_window(first_data_ms=0, now_ms=25 * MINUTE_MS, active_opened_ms=[])
'30m'
>>> default_window(first_data_ms=0, now_ms=3 * DAY_MS, active_opened_ms=[])
'6h'
>>> default_window(first_data_ms=None, now_ms=0, active_opened_ms=[])
'6h'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from wearmon.models.bands import BandSettings
from wearmon.stream.console.charts.geometry import (
    Chart,
    Limit,
    Scale,
    Series,
    Span,
    TimeAxis,
    bar_list,
    line_path,
)
from wearmon.stream.core.patients import PatientSettings

MINUTE_MS = 60_000
DAY_MS = 1440 * MINUTE_MS
#: query value → (minutes, what the selector says)
WINDOWS: dict[str, tuple[int, str]] = {
    "30m": (30, "30 minutes"), "1h": (60, "1 hour"), "6h": (360, "6 hours"),
    "24h": (1440, "24 hours"), "7d": (10080, "7 days"),
}
DEFAULT_WINDOW = "6h"
POINTS_PER_CHART = 150
CONTEXT_BEFORE_ALERT_MS = 10 * MINUTE_MS


def bucket_s(window: str, at_least_s: int = 10) -> int:
    """The time bucket of one point: about 150 points per chart.

    >>> [bucket_s(w) for w in WINDOWS], bucket_s("30m", at_least_s=60)
    ([12, 24, 144, 576, 4032], 60)
    """
    return max(at_least_s, WINDOWS[window][0] * 60 // POINTS_PER_CHART)


def default_window(first_data_ms: int | None, now_ms: int,
                   active_opened_ms: Sequence[int]) -> str:
    """The shortest window that holds the patient's data of the last 6 hours and the opening
    of every active alert (with 10 minutes before it)."""
    if first_data_ms is None and not active_opened_ms:
        return DEFAULT_WINDOW
    need_ms = min(now_ms - first_data_ms, 360 * MINUTE_MS) if first_data_ms is not None else 0
    for opened_ms in active_opened_ms:
        need_ms = max(need_ms, now_ms - opened_ms + CONTEXT_BEFORE_ALERT_MS)
    return next((w for w, (minutes, _) in WINDOWS.items() if minutes * MINUTE_MS >= need_ms),
                "7d")


@dataclass(frozen=True, slots=True)
class Vital:
    """How one vital is drawn: its clinical scale and the alert kinds that concern it."""

    key: str
    title: str
    unit: str
    low: float
    high: float
    step: float
    kinds: frozenset[str]
    noun: str  # in a sentence: "no heart rate readings"
    bars: bool = False
    absent: str = ""  # why a device may not send it


HR_KINDS = frozenset({"tachycardia_at_rest", "bradycardia", "high_hr_for_patient",
                      "low_hr_for_patient", "irregular_rhythm", "resting_hr_rise"})
VITALS = (
    Vital("hr_bpm", "Heart rate", "bpm", 30, 180, 30, HR_KINDS, "heart rate"),
    Vital("spo2_pct", "SpO2", "%", 80, 100, 5, frozenset({"desaturation", "news2_partial"}),
          "SpO2", absent="this device does not measure SpO2"),
    Vital("resp_rate_brpm", "Respiration rate", "/min", 0, 40, 10,
          frozenset({"news2_partial"}), "respiration rate",
          absent="this device does not measure respiration"),
    Vital("skin_temp_c", "Skin temperature", "°C", 28, 40, 2, frozenset(), "skin temperature",
          absent="this device does not measure skin temperature"),
    Vital("steps", "Steps", "steps/min", 0, 150, 50,
          frozenset({"unusual_inactivity", "unusual_night_activity", "steps_decline"}), "step",
          bars=True, absent="this device does not count steps"),
)


@dataclass(frozen=True, slots=True)
class AlertPeriod:
    """One alert as the charts show it."""

    kind: str
    severity: str
    opened_ms: int
    ended_ms: int | None  # None: still active


def limits_of(vital: Vital, settings: PatientSettings | None, scale: Scale) -> list[Limit]:
    """The patient's own limits (their overrides, else the detectors' defaults)."""
    band = BandSettings()
    if settings is not None:  # as the worker applies them (worker.patient_store)
        wanted = settings.band_overrides()
        band = BandSettings(
            spo2_scale=settings.spo2_scale,
            rest_hr_high_bpm=wanted.get("rest_hr_high_bpm", band.rest_hr_high_bpm),
            hr_low_bpm=wanted.get("hr_low_bpm", band.hr_low_bpm),
            spo2_low_pct=wanted.get("spo2_low_pct"))
    lines = {
        "hr_bpm": [(band.hr_low_bpm, f"low limit {band.hr_low_bpm:g} bpm", "below"),
                   (band.rest_hr_high_bpm, f"at-rest limit {band.rest_hr_high_bpm:g} bpm",
                    "above")],
        "spo2_pct": [(band.spo2_limit(),
                      f"limit {band.spo2_limit():g}% (scale {band.spo2_scale})", "below")],
        "resp_rate_brpm": [(12.0, "NEWS2 normal from 12", "below"), (20.0, "to 20 /min", "above")],
    }.get(vital.key, [])
    return [Limit(scale.y_pct(value), value, label, beyond) for value, label, beyond in lines
            if scale.low <= value <= scale.high]


def clock(t_ms: int, tz: str) -> str:
    return datetime.fromtimestamp(t_ms / 1000, UTC).astimezone(ZoneInfo(tz)).strftime("%H:%M")


def spans_of(vital: Vital, alerts: Iterable[AlertPeriod], axis: TimeAxis, now_ms: int
             ) -> list[Span]:
    out = []
    for alert in sorted(alerts, key=lambda a: a.opened_ms):
        end_ms = alert.ended_ms if alert.ended_ms is not None else now_ms
        if alert.kind not in vital.kinds or end_ms < axis.start_ms or alert.opened_ms > now_ms:
            continue
        x = axis.x_pct(alert.opened_ms)
        state = "still open" if alert.ended_ms is None else \
            f"open {max(1, (end_ms - alert.opened_ms) // MINUTE_MS)} min"
        short = f"{clock(alert.opened_ms, axis.tz)} {alert.kind.replace('_', ' ').capitalize()}"
        out.append(Span(x, round(max(0.4, axis.x_pct(end_ms) - x), 2), alert.severity,
                        f"{short} ({alert.severity}), {state}", alert.opened_ms, short))
    return out


def summary_of(vital: Vital, series: Series, limits: list[Limit], spans: list[Span],
               window_text: str, tz: str, bucket_ms: int) -> str:
    """The chart in words: latest, lowest and highest, time beyond each limit, the alerts."""
    values = [v for _, v in series]
    unit = vital.unit
    if vital.bars:
        total_steps = sum(values) * bucket_ms / MINUTE_MS
        text = f"{total_steps:.0f} steps in the last {window_text}"
    else:
        latest_t, latest = series[-1]
        text = (f"latest {latest:.0f} {unit} at {clock(latest_t, tz)}; lowest "
                f"{min(values):.0f}, highest {max(values):.0f} {unit}")
        for limit in limits:
            below = limit.beyond == "below"
            beyond = [t for t, v in series if (v < limit.value if below else v > limit.value)]
            if beyond:
                minutes = max(1, len(beyond) * bucket_ms // MINUTE_MS)
                text += (f"; {limit.beyond} {limit.value:g} {unit} for about {minutes} min "
                         f"(from {clock(beyond[0], tz)})")
    if spans:
        text += "; alerts: " + "; ".join(span.label for span in spans)
    return text + "."


def vital_chart(vital: Vital, series: Series, settings: PatientSettings | None,
                alerts: Sequence[AlertPeriod], axis: TimeAxis, window: str, now_ms: int,
                bucket_ms: int) -> Chart:
    window_text = WINDOWS[window][1]
    values = [v for _, v in series]
    title = f"{vital.title} ({vital.unit})"
    if not values:
        what = f"No {vital.noun} readings in the last {window_text}"
        return Chart(title, vital.unit, f"{what}.",
                     empty=f"{what}: {vital.absent or 'none arrived'}, or the device was not "
                           "worn or not syncing.")
    scale = Scale.fixed(vital.low, vital.high, [(min(values), max(values))], vital.step)
    limits = limits_of(vital, settings, scale)
    spans = spans_of(vital, alerts, axis, now_ms)
    return Chart(
        title=title, unit=vital.unit,
        summary=summary_of(vital, series, limits, spans, window_text, axis.tz, bucket_ms),
        x_ticks=axis.ticks(), y_ticks=scale.ticks(),
        path="" if vital.bars else line_path(series, axis, scale, gap_ms=3 * bucket_ms),
        bars=bar_list(series, axis, scale, bucket_ms) if vital.bars else [],
        limits=limits, spans=spans)


def vital_charts(history: Mapping[str, Series], settings: PatientSettings | None,
                 alerts: Sequence[AlertPeriod], window: str, now_ms: int, tz: str,
                 steps_bucket_ms: int) -> list[Chart]:
    """Every vital of the window, in a fixed order (empty ones say why)."""
    axis = TimeAxis(now_ms - WINDOWS[window][0] * MINUTE_MS, now_ms, tz)
    bucket_ms = bucket_s(window) * 1000
    return [vital_chart(v, history.get(v.key, []), settings, alerts, axis, window, now_ms,
                        steps_bucket_ms if v.bars else bucket_ms) for v in VITALS]
