"""Nightly resting heart rate against the patient's personal baseline: the picture behind an
illness alert (``resting_hr_rise``). Pure.

A night is the patient's local hours before 07:00 (the day boundary of the stream's day
summaries); its resting heart rate is the mean of the hourly means of minutes at rest. The
baseline band is the personal resting baseline ± 2 SD that the contextual heart-rate model has
learned (the ``baseline`` measurement), the latest value.

>>> hours = [(h * 3_600_000, 60.0) for h in range(0, 7)]  # 1 Jan 1970, 00:00–06:00 UTC
>>> [(n.label, n.resting_bpm) for n in nights(hours, "UTC", now_ms=36 * 3_600_000, count=2)]
[('Thu 1', 60.0), ('Fri 2', None)]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from wearmon.stream.console.charts.geometry import Chart, Scale, Series

NIGHT_ENDS_HOUR = 7  # stream.core.minutes.DAY_START_HOUR
MIN_HOURS = 2  # hours of rest data that make a night count
NIGHTS = 7


@dataclass(frozen=True, slots=True)
class Night:
    day: date
    label: str
    resting_bpm: float | None  # None: not enough rest data that night


def nights(hourly: Series, tz: str, now_ms: int, count: int = NIGHTS) -> list[Night]:
    """The last ``count`` nights (oldest first), each with its resting heart rate if known."""
    zone = ZoneInfo(tz)
    by_night: dict[date, list[float]] = defaultdict(list)
    for t_ms, bpm in hourly:
        local = datetime.fromtimestamp(t_ms / 1000, UTC).astimezone(zone)
        if local.hour < NIGHT_ENDS_HOUR:
            by_night[local.date()].append(bpm)
    today = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(zone).date()
    out = []
    for back in range(count - 1, -1, -1):
        day = today - timedelta(days=back)
        hours = by_night.get(day, [])
        value = round(sum(hours) / len(hours), 1) if len(hours) >= MIN_HOURS else None
        out.append(Night(day, day.strftime("%a %-d"), value))
    return out


def nights_chart(hourly: Series, baseline: tuple[float, float] | None, tz: str, now_ms: int
                 ) -> Chart:
    """The chart of the last seven nights; ``baseline``: (resting mean, SD) in bpm, if learned."""
    shown = nights(hourly, tz, now_ms)
    known = [n for n in shown if n.resting_bpm is not None]
    title = "Nightly resting heart rate (bpm)"
    base_text = ("personal baseline not learned yet" if baseline is None else
                 f"personal baseline {baseline[0]:.0f} ± {2 * baseline[1]:.0f} bpm (2 SD)")
    if not known:
        return Chart(title, "bpm", f"No night with enough rest data in the last {NIGHTS} "
                     f"nights; {base_text}.",
                     empty=f"No night with {MIN_HOURS} hours of rest data in the last {NIGHTS} "
                           "nights (the device must be worn at night and count steps). The "
                           "illness score starts after 5 such nights.")
    seen = [(n.resting_bpm, n.resting_bpm) for n in known if n.resting_bpm is not None]
    if baseline is not None:
        seen.append((baseline[0] - 2 * baseline[1], baseline[0] + 2 * baseline[1]))
    scale = Scale.fixed(40, 100, seen, 10)
    width = 100.0 / len(shown)
    x_of = {n.day: round((k + 0.5) * width, 2) for k, n in enumerate(shown)}
    parts, previous = [], False
    for n in shown:
        if n.resting_bpm is None:
            previous = False
            continue
        parts.append(f"{'L' if previous else 'M'}{x_of[n.day]} {scale.y_pct(n.resting_bpm)}")
        previous = True
    bars = [(x_of[n.day] - 0.6, scale.y_pct(n.resting_bpm), 1.2) for n in known
            if n.resting_bpm is not None]
    values = ", ".join(f"{n.label} {n.resting_bpm:.0f}" if n.resting_bpm is not None
                       else f"{n.label} –" for n in shown)
    band = None
    if baseline is not None:
        band = (scale.y_pct(baseline[0] + 2 * baseline[1]),
                scale.y_pct(baseline[0] - 2 * baseline[1]))
    above = [n.label for n in known if baseline is not None and n.resting_bpm is not None
             and n.resting_bpm > baseline[0] + 2 * baseline[1]]
    summary = f"Resting heart rate by night: {values} bpm; {base_text}"
    summary += f"; above the baseline band: {', '.join(above)}." if above else "."
    if len(known) < 5:
        summary += f" The illness score starts after 5 nights with rest data ({len(known)} so far)."
    return Chart(title, "bpm", summary, x_ticks=[(x_of[n.day], n.label) for n in shown],
                 y_ticks=scale.ticks(), path=" ".join(parts), bars=bars, band=band)


def latest_baseline(points: Sequence[tuple[int, float, float]]) -> tuple[float, float] | None:
    """(mean, SD) of the newest ``baseline`` point, if any."""
    return (points[-1][1], points[-1][2]) if points else None
