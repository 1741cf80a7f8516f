"""The Pipeline health dashboard: throughput, lag, latency, rejections, notifications, workers."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import statetimeline
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from wearmon.stream.grafana.influxql import InfluxQL, datasource_ref
from wearmon.stream.grafana.panels import (
    dashboard,
    prop,
    range_mappings,
    stat_panel,
    table_panel,
    thresholds,
    timeseries_panel,
    transformation,
)

PIPELINE_UID = "wearmon-pipeline"


def _per_second(field: str, name: str) -> str:
    return f'sum("{field}") * 1000 / $__interval_ms AS "{name}"'


def pipeline_health() -> dm.Dashboard:
    """Throughput, lag, latency, rejections, notifications and workers."""

    def pipeline(select: str, group: str = "time($__interval)", fill: str = "fill(0)") -> str:
        return f'SELECT {select} FROM "pipeline" WHERE $timeFilter GROUP BY {group} {fill}'

    def total(field: str, measurement: str = "pipeline") -> InfluxQL:
        return InfluxQL(f'SELECT sum("{field}") FROM "{measurement}" WHERE $timeFilter')

    return (
        dashboard(
            "Pipeline health",
            PIPELINE_UID,
            "now-1h",
            "30s",
            "Is Wearmon keeping up? Throughput, lag, latency, rejections, "
            "notifications and workers.",
        )
        .with_panel(stat_panel("Uploads", total("uploads"), width=6))
        .with_panel(stat_panel("Samples", total("samples"), width=6))
        .with_panel(
            stat_panel("Rejected uploads", total("rejected"), width=6).thresholds(
                thresholds("green", (1, "orange"))
            )
        )
        .with_panel(stat_panel("Anomalies", total("anomalies"), width=6))
        .with_panel(
            timeseries_panel(
                "Uploads and samples per second",
                "reqps",
                InfluxQL(
                    pipeline(
                        f"{_per_second('uploads', 'uploads/s')}, "
                        f"{_per_second('samples', 'samples/s')}"
                    )
                ).alias("$col"),
            ).override_by_name(
                "samples/s", [prop("custom.axisPlacement", "right"), prop("unit", "none")]
            )
        )
        .with_panel(
            timeseries_panel(
                "Consumer lag",
                "none",
                InfluxQL(
                    pipeline(
                        'max("lag_messages") AS "lag"',
                        group='time($__interval), "worker"',
                        fill="fill(null)",
                    )
                ).alias("$tag_worker"),
            )
            .description("Messages behind the end of the telemetry topic, per worker.")
            .no_value("No lag reported (the worker writes pipeline.lag_messages)")
        )
        .with_panel(
            timeseries_panel(
                "End-to-end latency",
                "ms",
                InfluxQL(
                    pipeline(
                        'percentile("e2e_latency_ms", 50) AS "p50", '
                        'percentile("e2e_latency_ms", 95) AS "p95", max("e2e_latency_ms") AS "max"',
                        fill="fill(null)",
                    )
                ).alias("$col"),
            ).description("From upload (Kafka timestamp) to written in InfluxDB.")
        )
        .with_panel(
            timeseries_panel(
                "Batch duration",
                "ms",
                InfluxQL(
                    pipeline(
                        'mean("batch_ms") AS "mean", max("batch_ms") AS "max"', fill="fill(null)"
                    )
                ).alias("$col"),
            )
        )
        .with_panel(
            timeseries_panel(
                "Rejected uploads by reason",
                "none",
                InfluxQL(
                    'SELECT count("count") AS "rejected" FROM "rejected" WHERE $timeFilter '
                    'GROUP BY time($__interval), "reason" fill(0)'
                ).alias("$tag_reason"),
            )
            .draw_style(cm.GraphDrawStyle.BARS)
            .fill_opacity(60)
            .stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
        )
        .with_panel(
            table_panel(
                "Rejections by reason",
                InfluxQL(
                    'SELECT count("count") AS "uploads" FROM "rejected" WHERE $timeFilter '
                    'GROUP BY "reason"'
                ).table(),
            )
            .with_transformation(transformation("organize", {"excludeByName": {"Time": True}}))
            .sort_by([cb.TableSortByFieldState().display_name("uploads").desc(True)])
        )
        .with_panel(
            timeseries_panel(
                "Notification deliveries and failures",
                "none",
                InfluxQL(
                    'SELECT count("alert_id") AS "notifications" FROM "notification" '
                    'WHERE $timeFilter GROUP BY time($__interval), "status" fill(0)'
                ).alias("$tag_status"),
            )
            .draw_style(cm.GraphDrawStyle.BARS)
            .fill_opacity(60)
            .stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
            .override_by_name("failed", [prop("color", {"mode": "fixed", "fixedColor": "red"})])
            .override_by_name("sent", [prop("color", {"mode": "fixed", "fixedColor": "green"})])
        )
        .with_panel(
            timeseries_panel(
                "Duplicates, anomalies and points written",
                "none",
                InfluxQL(
                    pipeline(
                        'sum("duplicates") AS "duplicate uploads", '
                        'sum("anomalies") AS "anomalies", '
                        f"{_per_second('points', 'points/s')}"
                    )
                ).alias("$col"),
            ).override_by_name("points/s", [prop("custom.axisPlacement", "right")])
        )
        .with_panel(
            statetimeline.Panel()
            .title("Worker activity")
            .datasource(datasource_ref())
            .height(8)
            .span(12)
            .with_target(
                InfluxQL(
                    pipeline('count("uploads") AS "batches"', group='time($__interval), "worker"')
                ).alias("$tag_worker")
            )
            .thresholds(thresholds("red", (1, "green")))
            .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
            .mappings(
                range_mappings([(0, 0, "no batches", "red"), (1, 1e12, "processing", "green")])
            )
            .description("Red: the worker wrote no batch in that interval.")
        )
        .with_panel(
            table_panel(
                "Workers",
                InfluxQL(
                    'SELECT last("batch_ms") AS "last batch ms" FROM "pipeline" '
                    'WHERE $timeFilter GROUP BY "worker"'
                ).table(),
            )
            .with_transformation(
                transformation(
                    "organize",
                    {
                        "renameByName": {"Time": "Last batch"},
                        "indexByName": {"worker": 0, "Time": 1, "last batch ms": 2},
                    },
                )
            )
            .override_by_name("Last batch", [prop("unit", "dateTimeFromNow")])
        )
        .build()
    )
