"""Chart geometry: fixed clinical scales, time ticks in local time, lines with gaps, bars,
limit lines, alert spans and markers — as percentages of the plot, for a server-rendered SVG
(``preserveAspectRatio="none"``) with HTML labels around it. Pure functions; no JavaScript,
no chart library, nothing fetched from the internet.

>>> scale = Scale.fixed(30, 180, [(40.0, 38.0)], step=30)
>>> scale.low, scale.high, [label for _, label in scale.ticks()]
(30.0, 180.0, ['30', '60', '90', '120', '150', '180'])
>>> scale.y_pct(105.0)
50.0
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

Series = list[tuple[int, float]]  # (t_ms, value)

#: time tick spacing per window: (window minutes, tick minutes, label format)
TIME_TICKS = ((30, 5, "%H:%M"), (60, 10, "%H:%M"), (360, 60, "%H:%M"), (1440, 180, "%H:%M"),
              (10080, 1440, "%a %-d"))


@dataclass(frozen=True, slots=True)
class Scale:
    """A y-axis from ``low`` to ``high`` with ticks every ``step`` (in the vital's unit)."""

    low: float
    high: float
    step: float

    @classmethod
    def fixed(cls, low: float, high: float, seen: Sequence[tuple[float, float]],
              step: float) -> Scale:
        """The clinical scale ``low``–``high``, widened by whole steps only if values
        (``seen``: (lowest, highest) pairs) fall outside it: never auto-zoomed onto the data."""
        lows = [lo for lo, _ in seen if math.isfinite(lo)]
        highs = [hi for _, hi in seen if math.isfinite(hi)]
        if lows and min(lows) < low:
            low = step * math.floor(min(lows) / step)
        if highs and max(highs) > high:
            high = step * math.ceil(max(highs) / step)
        return cls(float(low), float(high), float(step))

    def y_pct(self, value: float) -> float:
        """Distance from the top of the plot, in percent."""
        return round(100.0 * (self.high - value) / (self.high - self.low), 2)

    def ticks(self) -> list[tuple[float, str]]:
        count = round((self.high - self.low) / self.step)
        return [(self.y_pct(self.low + k * self.step), f"{self.low + k * self.step:g}")
                for k in range(count + 1)]


@dataclass(frozen=True, slots=True)
class TimeAxis:
    """The window ``start_ms``–``end_ms`` shown in the time zone ``tz``."""

    start_ms: int
    end_ms: int
    tz: str

    def x_pct(self, t_ms: int) -> float:
        """Distance from the left of the plot, in percent (clamped to the plot)."""
        x = 100.0 * (t_ms - self.start_ms) / max(1, self.end_ms - self.start_ms)
        return round(min(100.0, max(0.0, x)), 2)

    def ticks(self) -> list[tuple[float, str]]:
        """Round local times: every 5 min in 30 min, every hour in 6 h, every day in 7 d.

        >>> axis = TimeAxis(0, 30 * 60_000, "Europe/London")  # 1970 was British Standard Time
        >>> axis.ticks()[:3]
        [(0.0, '01:00'), (16.67, '01:05'), (33.33, '01:10')]
        """
        minutes = (self.end_ms - self.start_ms) // 60_000
        _, every, fmt = next((t for t in TIME_TICKS if minutes <= t[0]), TIME_TICKS[-1])
        zone = ZoneInfo(self.tz)
        start = datetime.fromtimestamp(self.start_ms / 1000, UTC).astimezone(zone)
        if every >= 1440:
            tick = start.replace(hour=0, minute=0, second=0, microsecond=0)
        else:
            minute_of_day = start.hour * 60 + start.minute
            first = -(-minute_of_day // every) * every  # round up to the next tick
            tick = start.replace(hour=0, minute=0, second=0, microsecond=0) \
                + timedelta(minutes=first)
        out = []
        while (t_ms := int(tick.timestamp() * 1000)) <= self.end_ms:
            if t_ms >= self.start_ms:
                out.append((self.x_pct(t_ms), tick.astimezone(zone).strftime(fmt)))
            tick = (tick + timedelta(minutes=every)).astimezone(zone)
            if every >= 1440:  # whole local days, also across a change of the clocks
                tick = tick.replace(hour=0, minute=0)
        return out


@dataclass(frozen=True, slots=True)
class Limit:
    """A horizontal line at a patient's limit, with its label."""

    y_pct: float
    value: float
    label: str
    beyond: str  # "below" or "above": the side that breaks the limit


@dataclass(frozen=True, slots=True)
class Span:
    """The time an alert was open: shaded, with a marker at its opening."""

    x_pct: float
    width_pct: float
    severity: str
    label: str  # e.g. "14:02 Tachycardia at rest (critical), open 6 min"
    opened_ms: int
    short: str  # on the chart: "14:02 Tachycardia at rest"


@dataclass(frozen=True)
class Chart:
    """Everything a template needs to draw one vital."""

    title: str
    unit: str
    summary: str  # the text alternative: key numbers in words
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    path: str = ""  # SVG path in a 100 × 100 box: "M x y L x y … M …" (gaps break the line)
    bars: list[tuple[float, float, float]] = field(default_factory=list)  # x, y, width (%)
    limits: list[Limit] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    band: tuple[float, float] | None = None  # a shaded range (top y, bottom y), e.g. baseline
    empty: str = ""  # why there is nothing to draw, when there is nothing

    @property
    def key(self) -> str:
        return self.title.split(" ")[0].lower()


def line_path(series: Series, axis: TimeAxis, scale: Scale, gap_ms: int) -> str:
    """An SVG path through the points; a silence longer than ``gap_ms`` (or three times the
    series' own usual spacing, for sparse readings such as SpO2 once a minute) breaks the
    line, and a reading on its own is drawn as a dot.

    >>> line_path([(0, 60.0), (60, 90.0), (600, 60.0)], TimeAxis(0, 600, "UTC"),
    ...           Scale(30, 90, 30), gap_ms=100)
    'M0.0 50.0 L10.0 0.0 M100.0 50.0 L100.0 50.0'
    """
    steps = sorted(b[0] - a[0] for a, b in itertools.pairwise(series))
    gap_ms = max(gap_ms, 3 * steps[(len(steps) - 1) // 2]) if steps else gap_ms
    segments: list[list[str]] = []
    previous: int | None = None
    for t_ms, value in series:
        point = f"{axis.x_pct(t_ms)} {scale.y_pct(value)}"
        if previous is None or t_ms - previous > gap_ms:
            segments.append([point])
        else:
            segments[-1].append(point)
        previous = t_ms
    return " ".join("M" + " L".join(points if len(points) > 1 else points * 2)
                    for points in segments)


def bar_list(series: Series, axis: TimeAxis, scale: Scale, bucket_ms: int
             ) -> list[tuple[float, float, float]]:
    """One bar per bucket with a value above zero: (x, top y, width) in percent."""
    width = round(max(0.2, 100.0 * bucket_ms / max(1, axis.end_ms - axis.start_ms) * 0.8), 2)
    return [(axis.x_pct(t_ms), scale.y_pct(value), width) for t_ms, value in series if value > 0]
