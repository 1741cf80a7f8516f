"""The Patient detail dashboard: one patient's vitals, baseline, findings, alerts, data quality."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from wearmon.stream.grafana.influxql import InfluxAnnotation, InfluxQL, datasource_ref
from wearmon.stream.grafana.panels import (
    PanelBuilder,
    alert_state_mappings,
    bars,
    dashboard,
    fixed_color,
    points,
    prop,
    range_mappings,
    stat_panel,
    state_timeline_panel,
    status_mappings,
    table_panel,
    thresholds,
    timeseries_panel,
)

PATIENT_UID = "wearmon-patient"
# A patient's series, selected by the dashboard's `patient` variable
PATIENT = "\"patient\" = '$patient'"
#: what an empty panel says: why it cannot have data (yet), instead of a bare "No data"
NO_BASELINE = ("Not learned yet: the personal baseline needs about an hour of worn data at rest "
               "(the illness score: 5 nights)")
NO_SPO2 = "No SpO2 from this patient's device in this period"
NO_NEWS2_INPUTS = ("No SpO2 or respiration from this patient's device: a wearable's NEWS2 needs "
                   "them (heart rate alone is scored at rest)")


def patient_detail() -> dm.Dashboard:
    """One patient's trends with the personal baseline, anomalies, alerts and data quality."""
    panels: list[PanelBuilder] = [
        *latest_values(),
        heart_rate_and_baseline(),
        steps(),
        spo2(),
        respiration_rate(),
        skin_temperature(),
        news2_subscores(),
        anomaly_scores(),
        news2_at_alert_level(),
        findings(),
        alerts_and_acknowledgements(),
        data_quality_status(),
        wear_and_battery(),
        sync_lag_and_dropped_samples(),
    ]
    return (
        dashboard(
            "Patient detail",
            PATIENT_UID,
            "now-24h",
            "1m",
            "One patient's vitals against their personal baseline, with every finding, "
            "alert and acknowledgement on the timeline.",
            panels,
        )
        .with_variable(patient_variable())
        .annotation(alerts_annotation())
        .annotation(critical_findings_annotation())
        .build()
    )


def per_patient(
    select: str, measurement: str, group: str = "time($__interval)", fill: str = "fill(null)"
) -> InfluxQL:
    """The selected patient's series over the time range, one column per SELECT clause."""
    return InfluxQL(
        f'SELECT {select} FROM "{measurement}" WHERE {PATIENT} AND $timeFilter '
        f"GROUP BY {group} {fill}"
    ).alias("$col")


def latest(field: str, measurement: str) -> InfluxQL:
    return InfluxQL(f'SELECT last("{field}") FROM "{measurement}" WHERE {PATIENT} AND $timeFilter')


def patient_variable() -> db.QueryVariable:
    return (
        db.QueryVariable("patient")
        .label("Patient")
        .datasource(datasource_ref())
        .query('SHOW TAG VALUES FROM "quality" WITH KEY = "patient"')
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )


def alerts_annotation() -> InfluxAnnotation:
    return InfluxAnnotation(
        "Alerts",
        f'SELECT "title", "state", "severity" FROM "alert" WHERE {PATIENT} AND $timeFilter',
        text_column="title",
        tags_column="state,severity",
    )


def critical_findings_annotation() -> InfluxAnnotation:
    return InfluxAnnotation(
        "Critical findings",
        'SELECT "explanation", "kind" FROM "anomaly" '
        f"WHERE {PATIENT} AND \"severity\" = 'critical' AND $timeFilter",
        text_column="explanation",
        tags_column="kind",
    ).icon_color("orange")


def latest_values() -> list[stat.Panel]:
    """The top row: latest heart rate, SpO2, baseline, status, battery and upload time."""
    return [
        stat_panel("Heart rate (latest)", latest("hr_bpm", "vitals"), "bpm"),
        stat_panel("SpO2 (latest)", latest("spo2_pct", "vitals"), "percent").no_value(NO_SPO2),
        stat_panel("Resting heart rate (baseline)", latest("resting_hr_bpm", "baseline"), "bpm")
        .no_value(NO_BASELINE),
        stat_panel("Status", latest("status_code", "quality"))
        .mappings(status_mappings())
        .color_mode(cm.BigValueColorMode.BACKGROUND),
        stat_panel("Battery", latest("battery_pct", "quality"), "percent").thresholds(
            thresholds("red", (20, "orange"), (40, "green"))
        ).no_value("This device does not report its battery"),
        stat_panel("Last upload", latest("samples", "quality"), "dateTimeFromNow").reduce_options(
            cb.ReduceDataOptions().calcs(["lastNotNull"]).fields("/^Time$/").values(False)
        ),
    ]


def heart_rate_and_baseline() -> timeseries.Panel:
    baseline = per_patient(
        'mean("resting_hr_bpm") - 2 * mean("resting_hr_sd_bpm") AS "baseline low", '
        'mean("resting_hr_bpm") AS "resting heart rate", '
        'mean("resting_hr_bpm") + 2 * mean("resting_hr_sd_bpm") AS "baseline high"',
        "baseline",
        fill="fill(previous)",
    ).ref_id("B")
    return (
        timeseries_panel(
            "Heart rate and personal baseline",
            "bpm",
            per_patient('mean("hr_bpm") AS "heart rate"', "vitals"),
            baseline,
            height=9,
            width=24,
        )
        .description(
            "Heart rate (mean per interval) with the patient's learned resting heart "
            "rate and its band (resting ± 2 SD). Alerts are shown as annotations."
        )
        .override_by_name(
            "baseline high",
            [
                prop("custom.fillBelowTo", "baseline low"),
                prop("custom.lineWidth", 0),
                fixed_color("green"),
            ],
        )
        .override_by_name(
            "baseline low",
            [
                prop("custom.lineWidth", 0),
                prop("custom.hideFrom", {"legend": True, "tooltip": False, "viz": False}),
                fixed_color("green"),
            ],
        )
        .override_by_name(
            "resting heart rate",
            [prop("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}), fixed_color("green")],
        )
    )


def steps() -> timeseries.Panel:
    activity = per_patient('sum("steps") AS "steps"', "rollup_1m", fill="fill(0)")
    return bars(timeseries_panel("Steps (activity)", "none", activity))


def spo2() -> timeseries.Panel:
    return (
        timeseries_panel(
            "SpO2",
            "percent",
            per_patient('mean("spo2_pct") AS "SpO2"', "vitals"),
            per_patient('min("spo2_min_pct") AS "SpO2 minimum"', "rollup_1m").ref_id("B"),
        )
        .thresholds(thresholds("red", (92, "orange"), (94, "transparent")))
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED))
        .no_value(NO_SPO2)
    )


def optional_vital(title: str, unit: str, select: str) -> timeseries.Panel:
    """A vital that not every device measures: an empty panel says so."""
    return timeseries_panel(title, unit, per_patient(select, "vitals")).no_value(
        "Not measured by this patient's device"
    )


def respiration_rate() -> timeseries.Panel:
    return optional_vital("Respiration rate", "none", 'mean("resp_rate_brpm") AS "breaths/min"')


def skin_temperature() -> timeseries.Panel:
    return optional_vital(
        "Skin temperature (not core temperature)",
        "celsius",
        'mean("skin_temp_c") AS "skin temperature"',
    )


def news2_subscores() -> statetimeline.Panel:
    """HR, SpO2 and respiration rate coloured by their NEWS2 sub-score (models/bands.py)."""

    def scored(*ranges: tuple[float, float, int]) -> list[dm.DynamicConfigValue]:
        colors = {0: "green", 1: "yellow", 2: "orange", 3: "red"}
        return [
            prop(
                "mappings",
                range_mappings(
                    [(low, high, str(score), colors[score]) for low, high, score in ranges]
                ),
            )
        ]

    vitals = per_patient(
        'mean("hr_bpm") AS "heart rate", mean("spo2_pct") AS "SpO2", '
        'mean("resp_rate_brpm") AS "respiration rate"',
        "vitals",
    )
    return (
        state_timeline_panel(
            "NEWS2 sub-scores (partial: heart rate, SpO2 scale 1, respiration only)",
            vitals,
            height=6,
            width=24,
        )
        .description(
            "Each vital coloured by its NEWS2 sub-score (0-3). Partial: a wearable has no blood "
            "pressure, consciousness, supplemental-oxygen status or core temperature, so this "
            "is never a full NEWS2. Patients on SpO2 scale 2 are scored by the worker, not here."
        )
        .no_value(NO_NEWS2_INPUTS)
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color("text"))
        .override_by_name(
            "heart rate",
            scored(
                (0, 40, 3), (40, 50, 1), (50, 90, 0), (90, 110, 1), (110, 130, 2), (130, 400, 3)
            ),
        )
        .override_by_name("SpO2", scored((0, 91, 3), (91, 93, 2), (93, 95, 1), (95, 100, 0)))
        .override_by_name(
            "respiration rate",
            scored((0, 8, 3), (8, 11, 1), (11, 20, 0), (20, 24, 2), (24, 100, 3)),
        )
    )


def anomaly_scores() -> timeseries.Panel:
    scores = per_patient(
        'max("score") AS "score"',
        "anomaly",
        group='time($__interval), "detector", "kind"',
        fill="fill(none)",
    ).alias("$tag_detector: $tag_kind")
    return points(timeseries_panel("Anomaly scores", "none", scores)).description(
        "Score of every finding, per detector and kind (higher = further from "
        "the patient's normal)."
    ).no_value("No findings in this period: nothing unusual was flagged")


def news2_at_alert_level() -> timeseries.Panel:
    news2 = InfluxQL(
        'SELECT max("score") AS "NEWS2 partial" FROM "anomaly" '
        f"WHERE \"kind\" = 'news2_partial' AND {PATIENT} AND $timeFilter "
        "GROUP BY time($__interval) fill(none)"
    ).alias("$col")
    return (
        points(timeseries_panel("NEWS2 (partial) at alert level", "none", news2))
        .min(0)
        .max(20)
        .no_value("Never at the NEWS2 alert level in this period (or no SpO2 and respiration "
                  "from this device)")
        .description(
            "Partial NEWS2 totals the worker flagged (total ≥ the alert level or a "
            "single parameter scoring 3). Partial: no blood pressure, consciousness or "
            "supplemental oxygen."
        )
    )


def findings() -> table.Panel:
    anomalies = InfluxQL(
        'SELECT "severity", "kind", "detector", "observed", "baseline", "score", '
        f'"explanation" FROM "anomaly" WHERE {PATIENT} AND $timeFilter '
        "ORDER BY time DESC LIMIT 200"
    ).table()
    return (
        table_panel("Findings", anomalies, height=9, width=24)
        .description("Every finding with its explanation, newest first.")
        .no_value("No findings in this period")
        .override_by_name(
            "explanation", [prop("custom.cellOptions", {"type": "auto", "wrapText": True})]
        )
    )


def alerts_and_acknowledgements() -> table.Panel:
    alerts = InfluxQL(
        'SELECT "state", "severity", "title", "alert_id" FROM "alert" '
        f"WHERE {PATIENT} AND $timeFilter ORDER BY time DESC LIMIT 200"
    ).table()
    return table_panel("Alerts and acknowledgements", alerts, height=8, width=12).no_value(
        "No alerts in this period").override_by_name(
        "state",
        [
            prop("mappings", alert_state_mappings()),
            prop("custom.cellOptions", cm.TableColorTextCellOptions()),
        ],
    )


def data_quality_status() -> statetimeline.Panel:
    status = per_patient('last("status_code") AS "status"', "quality")
    return (
        state_timeline_panel("Data-quality status", status)
        .mappings(status_mappings())
        .description(
            "Status of each upload: OK, Attention (findings), Can't assess "
            "(not worn). Gaps mean no uploads."
        )
    )


def wear_and_battery() -> timeseries.Panel:
    quality = per_patient(
        '100 * sum("worn_samples") / sum("samples") AS "worn", mean("battery_pct") AS "battery"',
        "quality",
    )
    return timeseries_panel("Wear and battery", "percent", quality).min(0).max(100)


def sync_lag_and_dropped_samples() -> timeseries.Panel:
    return timeseries_panel(
        "Sync lag and dropped samples",
        "s",
        per_patient('max("sync_lag_s") AS "sync lag"', "quality"),
        per_patient('sum("dropped") AS "dropped samples"', "quality", fill="fill(0)").ref_id("B"),
    ).override_by_name(
        "dropped samples",
        [
            prop("unit", "none"),
            prop("custom.axisPlacement", "right"),
            prop("custom.drawStyle", "bars"),
        ],
    )
