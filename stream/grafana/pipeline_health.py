"""The Pipeline health dashboard: throughput, lag, latency, rejections, notifications, workers."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import dashboard as dm

from wearmon.stream.grafana.influxql import InfluxQL
from wearmon.stream.grafana.panels import (
    PanelBuilder,
    bars,
    dashboard,
    fixed_color,
    organize,
    prop,
    range_mappings,
    stat_panel,
    state_timeline_panel,
    table_panel,
    thresholds,
    timeseries_panel,
)

PIPELINE_UID = "wearmon-pipeline"


def pipeline_health() -> dm.Dashboard:
    """Throughput, lag, latency, rejections, notifications and workers."""
    panels: list[PanelBuilder] = [
        *totals(),
        throughput(),
        consumer_lag(),
        end_to_end_latency(),
        batch_duration(),
        rejections_over_time(),
        rejections_by_reason(),
        notifications(),
        duplicates_anomalies_points(),
        worker_activity(),
        workers(),
    ]
    return dashboard(
        "Pipeline health",
        PIPELINE_UID,
        "now-1h",
        "30s",
        "Is Wearmon keeping up? Throughput, lag, latency, rejections, notifications and workers.",
        panels,
    ).build()


def pipeline(select: str, group: str = "time($__interval)", fill: str = "fill(0)") -> str:
    """An InfluxQL query on the ``pipeline`` measurement (one point per worker batch)."""
    return f'SELECT {select} FROM "pipeline" WHERE $timeFilter GROUP BY {group} {fill}'


def per_second(field: str, name: str) -> str:
    """A SELECT clause: the sum of ``field`` per interval, as a rate per second."""
    return f'sum("{field}") * 1000 / $__interval_ms AS "{name}"'


def total(field: str) -> InfluxQL:
    return InfluxQL(f'SELECT sum("{field}") FROM "pipeline" WHERE $timeFilter')


def totals() -> list[stat.Panel]:
    """The top row: uploads, samples, rejected uploads and anomalies in the time range."""
    return [
        stat_panel("Uploads", total("uploads"), width=6),
        stat_panel("Samples", total("samples"), width=6),
        stat_panel("Rejected uploads", total("rejected"), width=6).thresholds(
            thresholds("green", (1, "orange"))
        ),
        stat_panel("Anomalies", total("anomalies"), width=6),
    ]


def throughput() -> timeseries.Panel:
    return timeseries_panel(
        "Uploads and samples per second",
        "reqps",
        InfluxQL(
            pipeline(f"{per_second('uploads', 'uploads/s')}, {per_second('samples', 'samples/s')}")
        ).alias("$col"),
    ).override_by_name("samples/s", [prop("custom.axisPlacement", "right"), prop("unit", "none")])


def consumer_lag() -> timeseries.Panel:
    lag = pipeline(
        'max("lag_messages") AS "lag"', group='time($__interval), "worker"', fill="fill(null)"
    )
    return (
        timeseries_panel("Consumer lag", "none", InfluxQL(lag).alias("$tag_worker"))
        .description("Messages behind the end of the telemetry topic, per worker.")
        .no_value("No lag reported (the worker writes pipeline.lag_messages)")
    )


def end_to_end_latency() -> timeseries.Panel:
    latency = pipeline(
        'percentile("e2e_latency_ms", 50) AS "p50", '
        'percentile("e2e_latency_ms", 95) AS "p95", max("e2e_latency_ms") AS "max"',
        fill="fill(null)",
    )
    return timeseries_panel(
        "End-to-end latency", "ms", InfluxQL(latency).alias("$col")
    ).description("From upload (Kafka timestamp) to written in InfluxDB.")


def batch_duration() -> timeseries.Panel:
    duration = pipeline('mean("batch_ms") AS "mean", max("batch_ms") AS "max"', fill="fill(null)")
    return timeseries_panel("Batch duration", "ms", InfluxQL(duration).alias("$col"))


def rejections_over_time() -> timeseries.Panel:
    rejected = InfluxQL(
        'SELECT count("count") AS "rejected" FROM "rejected" WHERE $timeFilter '
        'GROUP BY time($__interval), "reason" fill(0)'
    ).alias("$tag_reason")
    return bars(timeseries_panel("Rejected uploads by reason", "none", rejected), stacked=True)


def rejections_by_reason() -> table.Panel:
    rejected = InfluxQL(
        'SELECT count("count") AS "uploads" FROM "rejected" WHERE $timeFilter GROUP BY "reason"'
    ).table()
    return (
        table_panel("Rejections by reason", rejected)
        .with_transformation(organize(exclude=["Time"]))
        .sort_by([cb.TableSortByFieldState().display_name("uploads").desc(True)])
    )


def notifications() -> timeseries.Panel:
    sent = InfluxQL(
        'SELECT count("alert_id") AS "notifications" FROM "notification" '
        'WHERE $timeFilter GROUP BY time($__interval), "status" fill(0)'
    ).alias("$tag_status")
    return (
        bars(timeseries_panel("Notification deliveries and failures", "none", sent), stacked=True)
        .override_by_name("failed", [fixed_color("red")])
        .override_by_name("sent", [fixed_color("green")])
    )


def duplicates_anomalies_points() -> timeseries.Panel:
    counts = pipeline(
        'sum("duplicates") AS "duplicate uploads", '
        'sum("anomalies") AS "anomalies", '
        f"{per_second('points', 'points/s')}"
    )
    return timeseries_panel(
        "Duplicates, anomalies and points written", "none", InfluxQL(counts).alias("$col")
    ).override_by_name("points/s", [prop("custom.axisPlacement", "right")])


def worker_activity() -> statetimeline.Panel:
    batches = pipeline('count("uploads") AS "batches"', group='time($__interval), "worker"')
    return (
        state_timeline_panel("Worker activity", InfluxQL(batches).alias("$tag_worker"))
        .thresholds(thresholds("red", (1, "green")))
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .mappings(range_mappings([(0, 0, "no batches", "red"), (1, 1e12, "processing", "green")]))
        .description("Red: the worker wrote no batch in that interval.")
    )


def workers() -> table.Panel:
    last_batch = InfluxQL(
        'SELECT last("batch_ms") AS "last batch ms" FROM "pipeline" '
        'WHERE $timeFilter GROUP BY "worker"'
    ).table()
    return (
        table_panel("Workers", last_batch)
        .with_transformation(
            organize(rename={"Time": "Last batch"}, order=["worker", "Time", "last batch ms"])
        )
        .override_by_name("Last batch", [prop("unit", "dateTimeFromNow")])
    )
