"""Small line and bar charts as SVG geometry, rendered by the templates. Pure functions.

No JavaScript and no chart library: the server computes the points in a fixed view box; the
template draws them with a text summary for screen readers.

>>> c = chart([(0, 60.0), (60_000, 90.0)], start_ms=0, end_ms=60_000, unit="bpm")
>>> c.points, c.summary
('0.0,100.0 600.0,0.0', 'latest 90 bpm, range 60–90 bpm')
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 600.0, 100.0


@dataclass(frozen=True, slots=True)
class Chart:
    points: str  # "x,y x,y …" in a WIDTH × HEIGHT view box
    bars: tuple[tuple[float, float, float], ...]  # (x, y, height)
    low: str
    high: str
    summary: str
    empty: bool


def chart(series: list[tuple[int, float]], start_ms: int, end_ms: int, unit: str,
          bars: bool = False, floor: float | None = None) -> Chart:
    values = [v for _, v in series]
    if not values or (bars and not any(values)):
        return Chart("", (), "", "", f"no {unit} in this period" if bars
                     else "no data in this period", True)
    low = min(values) if floor is None else min(floor, *values)
    high = max(values)
    span_y = (high - low) or 1.0
    span_x = max(1, end_ms - start_ms)

    def xy(t_ms: int, v: float) -> tuple[float, float]:
        x = round(WIDTH * (t_ms - start_ms) / span_x, 1)
        return min(max(x, 0.0), WIDTH), round(HEIGHT - HEIGHT * (v - low) / span_y, 1)

    coords = [xy(t, v) for t, v in series]
    points = " ".join(f"{x},{y}" for x, y in coords)
    bar_list = tuple((x, y, round(HEIGHT - y, 1)) for x, y in coords) if bars else ()
    latest = f"{values[-1]:.0f} {unit}"
    summary = (f"total {sum(values):.0f} {unit}" if bars
               else f"latest {latest}, range {min(values):.0f}–{high:.0f} {unit}")
    return Chart("" if bars else points, bar_list, f"{low:.0f}", f"{high:.0f}", summary, False)
