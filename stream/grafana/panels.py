"""Helpers shared by the dashboards: panel defaults, value mappings, thresholds, overrides.

They only shorten the dashboard code; everything they return is a grafana-foundation-sdk object.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from wearmon.stream.grafana.influxql import InfluxQL, datasource_ref

TAGS = ["wearmon"]
PanelBuilder = cogbuilder.Builder[dm.Panel]

# quality.status_code as written by the sink; 2 is the ward's "alert" level (see docs/dashboards.md)
STATUS_LABELS = {
    0: ("OK", "green"),
    1: ("Attention", "orange"),
    2: ("Alert", "red"),
    3: ("Can't assess", "purple"),
}
ALERT_STATE_COLORS = {
    "open": "red",
    "escalated": "dark-red",
    "acknowledged": "orange",
    "snoozed": "yellow",
    "resolved": "green",
}


def value_mappings(values: dict[str, tuple[str, str]]) -> list[dm.ValueMapping]:
    """Exact-value mappings: raw value -> (display text, colour)."""
    options = {
        raw: dm.ValueMappingResult(text=text, color=color, index=index)
        for index, (raw, (text, color)) in enumerate(values.items())
    }
    return [dm.ValueMap(options=options)]


def status_mappings() -> list[dm.ValueMapping]:
    return value_mappings({str(code): label for code, label in STATUS_LABELS.items()})


def alert_state_mappings() -> list[dm.ValueMapping]:
    return value_mappings({state: (state, color) for state, color in ALERT_STATE_COLORS.items()})


def range_mappings(ranges: list[tuple[float, float, str, str]]) -> list[dm.ValueMapping]:
    """Range mappings (inclusive; the first match wins): (from, to, text, colour)."""
    return [
        dm.RangeMap(
            options=dm.DashboardRangeMapOptions(
                from_val=low,
                to=high,
                result=dm.ValueMappingResult(text=text, color=color, index=i),
            )
        )
        for i, (low, high, text, color) in enumerate(ranges)
    ]


def thresholds(base: str, *steps: tuple[float, str]) -> db.ThresholdsConfig:
    """Absolute thresholds: ``base`` colour below the first step, then (value, colour) steps."""
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps(
            [dm.Threshold(value=None, color=base)]
            + [dm.Threshold(value=value, color=color) for value, color in steps]
        )
    )


def prop(prop_id: str, value: object) -> dm.DynamicConfigValue:
    """One field-override property, e.g. ``prop("unit", "percent")``."""
    return dm.DynamicConfigValue(id_val=prop_id, value=value)


def fixed_color(color: str) -> dm.DynamicConfigValue:
    """Field-override property: draw the field in one colour, e.g. ``fixed_color("green")``."""
    return prop("color", {"mode": "fixed", "fixedColor": color})


def threshold_colored_text(base: str, *steps: tuple[float, str]) -> list[dm.DynamicConfigValue]:
    """Field-override properties of a table column whose text takes its threshold colour."""
    return [
        prop("thresholds", thresholds(base, *steps).build()),
        prop("color", {"mode": "thresholds"}),
        prop("custom.cellOptions", cm.TableColorTextCellOptions()),
    ]


def transformation(
    kind: str,
    options: dict[str, object],
    ref_id: str | None = None,
) -> dm.DataTransformerConfig:
    """A panel transformation, optionally applied only to the frames of one query."""
    frame_filter = dm.MatcherConfig(id_val="byRefId", options=ref_id) if ref_id else None
    return dm.DataTransformerConfig(id_val=kind, options=options, filter_val=frame_filter)


def organize(
    rename: dict[str, str] | None = None,
    exclude: Sequence[str] = (),
    order: Sequence[str] = (),
    ref_id: str | None = None,
) -> dm.DataTransformerConfig:
    """An "organize" transformation: rename, drop and order columns (optionally of one query)."""
    options: dict[str, object] = {}
    if rename:
        options["renameByName"] = rename
    if exclude:
        options["excludeByName"] = {name: True for name in exclude}
    if order:
        options["indexByName"] = {name: index for index, name in enumerate(order)}
    return transformation("organize", options, ref_id=ref_id)


def patient_link() -> dm.DynamicConfigValue:
    """Data link from a patient id cell to the patient detail dashboard, keeping the time range."""
    url = "/d/wearmon-patient/patient-detail?var-patient=${__value.raw}&${__url_time_range}"
    return prop("links", [{"title": "Open patient detail", "url": url}])


def dashboard(
    title: str,
    uid: str,
    time_from: str,
    refresh: str,
    description: str,
    panels: Sequence[PanelBuilder],
) -> db.Dashboard:
    """A Wearmon dashboard holding ``panels`` in order (Grafana lays them out left to right)."""
    board = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .time(time_from, "now")
        .refresh(refresh)
        .timezone("browser")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .link(
            db.DashboardLink("Wearmon")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(TAGS)
            .as_dropdown(True)
            .keep_time(True)
            .include_vars(False)
        )
    )
    for panel in panels:
        board = board.with_panel(panel)
    return board


def timeseries_panel(
    title: str,
    unit: str,
    *queries: InfluxQL,
    height: int = 8,
    width: int = 12,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(datasource_ref())
        .unit(unit)
        .height(height)
        .span(width)
        .line_width(1)
        .fill_opacity(10)
        .span_nulls(False)
        .legend(
            cb.VizLegendOptions()
            .display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    )
    for query in queries:
        panel = panel.with_target(query)
    return panel


def stat_panel(title: str, query: InfluxQL, unit: str = "none", width: int = 4) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .datasource(datasource_ref())
        .with_target(query)
        .unit(unit)
        .height(4)
        .span(width)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(cm.BigValueColorMode.VALUE)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def table_panel(title: str, *queries: InfluxQL, height: int = 8, width: int = 12) -> table.Panel:
    panel = table.Panel().title(title).datasource(datasource_ref()).height(height).span(width)
    for query in queries:
        panel = panel.with_target(query)
    return panel


def state_timeline_panel(
    title: str, query: InfluxQL, height: int = 8, width: int = 12
) -> statetimeline.Panel:
    return (
        statetimeline.Panel()
        .title(title)
        .datasource(datasource_ref())
        .height(height)
        .span(width)
        .with_target(query)
    )


def bars(panel: timeseries.Panel, stacked: bool = False) -> timeseries.Panel:
    """Draw a time series panel as bars, optionally stacked."""
    panel = panel.draw_style(cm.GraphDrawStyle.BARS).fill_opacity(60)
    if stacked:
        panel = panel.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
    return panel


def points(panel: timeseries.Panel) -> timeseries.Panel:
    """Draw a time series panel as separate points (one per finding), not lines."""
    return panel.draw_style(cm.GraphDrawStyle.POINTS).point_size(6)
