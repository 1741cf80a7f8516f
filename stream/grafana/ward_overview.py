"""The Ward overview dashboard: every patient at a glance, the ones who need attention first.

The ``ward`` variable filters every query by the points' ``ward`` tag (the patient's ward from
enrolment; docs/influx-schema.md). "All" matches every point, those without a ward included.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, table
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from wearmon.stream.grafana.influxql import InfluxQL, datasource_ref
from wearmon.stream.grafana.panels import (
    PanelBuilder,
    dashboard,
    organize,
    patient_link,
    prop,
    stat_panel,
    status_mappings,
    table_panel,
    threshold_colored_text,
    thresholds,
    transformation,
)

WARD_UID = "wearmon-ward"
#: the selected ward(s): Grafana writes a multi-value or "All" selection as a regex
WARD = '"ward" =~ /^$ward$/'

WARD_COLUMNS = {  # query column -> table header, in display order
    "patient": "Patient",
    "status": "Status",
    "open_alerts": "Open alerts",
    "Alert opened": "Latest alert opened",
    "acknowledged_by": "Last acknowledged by",
    "hr_bpm": "Heart rate",
    "spo2_pct": "SpO2",
    "news2": "NEWS2 (partial)",
    "anomalies": "Anomalies",
    "wear_pct": "Wear time",
    "Last seen": "Last seen",
    "battery_pct": "Battery",
    "priority": "Priority",
}
#: Status codes (0 OK, 1 attention, 2 alert, 3 can't assess) → sort rank, worst first:
#: (2 × code) mod 5 gives alert 4, attention 2, can't assess 1, OK 0.
PRIORITY = '(2 * last("status_code")) % 5'
#: Per patient and alert kind the latest event: code 2 while active, 0 once resolved.
OPEN_ALERTS = (
    f'SELECT last("code") / 2 AS "active" FROM "alert" WHERE {WARD} AND $timeFilter '
    'GROUP BY "patient", "kind"'
)
PATIENTS_DESCRIPTION = (
    "One row per patient seen in the time range, in order Alert, Attention, Can't "
    "assess, OK. Status is the latest upload's status (Attention = anomalies in that "
    "upload, Can't assess = device not worn). Open alerts = alerts whose latest event "
    "is not a resolution; Latest alert opened = when the newest of them opened (time "
    "open); NEWS2 appears when the partial score reached the alert level. Wear time = "
    "worn samples / all samples in the range. Click a patient for the patient detail "
    "dashboard; acknowledge in the Wearmon care console. The Ward selector keeps the "
    "patients of the chosen ward(s)."
)


def ward_overview() -> dm.Dashboard:
    """One row per patient, the patients who need attention first."""
    panels: list[PanelBuilder] = [*ward_totals(), patients()]
    return dashboard(
        "Ward overview",
        WARD_UID,
        "now-24h",
        "1m",
        "Every patient at a glance; the patients who need attention come first.",
        panels,
    ).with_variable(ward_variable()).build()


def ward_variable() -> db.QueryVariable:
    """The wards in the data, several at once or all (points without a ward included)."""
    return (
        db.QueryVariable("ward")
        .label("Ward")
        .description("The patients' ward from their enrolment (wearmon patients set)")
        .datasource(datasource_ref())
        .query('SHOW TAG VALUES FROM "quality" WITH KEY = "ward"')
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dm.VariableOption(selected=True, text="All", value="$__all"))
    )


def by_patient(select: str, measurement: str, where: str = "") -> str:
    """An InfluxQL query with one row per patient of the selected ward(s) over the time range,
    filtered by ``where``."""
    condition = f"{where} AND {WARD} AND $timeFilter" if where else f"{WARD} AND $timeFilter"
    return f'SELECT {select} FROM "{measurement}" WHERE {condition} GROUP BY "patient"'


def ward_totals() -> list[stat.Panel]:
    """The top row: patients reporting, needing attention, critical anomalies, open alerts."""
    latest_status = by_patient('last("status_code") AS "status_code"', "quality")
    return [
        stat_panel(
            "Patients reporting",
            InfluxQL(f'SELECT count("status_code") FROM ({latest_status})'),
            width=6,
        ),
        stat_panel(
            "Need attention (latest upload)",
            InfluxQL(f'SELECT count("status_code") FROM ({latest_status}) WHERE "status_code" > 0'),
            width=6,
        ).thresholds(thresholds("green", (1, "orange"))),
        stat_panel(
            "Critical anomalies",
            InfluxQL(
                'SELECT count("score") FROM "anomaly" '
                f"WHERE \"severity\" = 'critical' AND {WARD} AND $timeFilter"
            ),
            width=6,
        ).thresholds(thresholds("green", (1, "red"))),
        stat_panel(
            "Open alerts", InfluxQL(f'SELECT sum("active") FROM ({OPEN_ALERTS})'), width=6
        ).thresholds(thresholds("green", (1, "red"))),
    ]


def patients() -> table.Panel:
    """The patients table: one query per column group, joined on the patient id."""
    panel = table_panel("Patients", *patient_queries(), height=18, width=24).description(
        PATIENTS_DESCRIPTION
    )
    for step in patient_transformations():
        panel = panel.with_transformation(step)
    panel = panel.sort_by([cb.TableSortByFieldState().display_name("Priority").desc(True)])
    panel = panel.cell_height(cm.TableCellHeight.SM)
    for column, properties in patient_column_overrides().items():
        panel = panel.override_by_name(column, properties)
    return panel


def patient_queries() -> list[InfluxQL]:
    """The patients table's queries, each returning one row per patient (ref id: what it adds)."""
    opened = "(\"action\" = 'opened' OR \"action\" = 'reopened')"
    queries = {
        "STATUS": by_patient('last("status_code") AS "status"', "quality"),
        "VITALS": by_patient(
            'last("hr_bpm") AS "hr_bpm", last("spo2_pct") AS "spo2_pct"', "vitals"
        ),
        "DEVICE": by_patient(
            'last("battery_pct") AS "battery_pct", '
            '100 * sum("worn_samples") / sum("samples") AS "wear_pct"',
            "quality",
        ),
        "ANOMALIES": by_patient(
            'count("score") AS "anomalies"', "anomaly", where="\"severity\" <> 'info'"
        ),
        "OPEN_ALERTS": (
            f'SELECT sum("active") AS "open_alerts" FROM ({OPEN_ALERTS}) GROUP BY "patient"'
        ),
        "OPENED": by_patient('last("step") AS "opened_step"', "alert", where=opened),
        "ACKNOWLEDGED": by_patient(
            'last("actor") AS "acknowledged_by"', "alert_audit", where="\"action\" = 'acknowledged'"
        ),
        "NEWS2": by_patient(
            'last("score") AS "news2"', "anomaly", where="\"kind\" = 'news2_partial'"
        ),
        "PRIORITY": by_patient(f'{PRIORITY} AS "priority"', "quality"),
    }
    return [InfluxQL(query).ref_id(ref_id).table() for ref_id, query in queries.items()]


def patient_transformations() -> list[dm.DataTransformerConfig]:
    """Keep the time of the latest upload as "Last seen" and of the latest opening as "Alert
    opened", drop every other time column, join the queries on the patient, order the columns.
    """
    return [
        organize(rename={"Time": "Last seen"}, ref_id="STATUS"),
        organize(rename={"Time": "Alert opened"}, exclude=["opened_step"], ref_id="OPENED"),
        organize(exclude=["Time"]),
        transformation("joinByField", {"byField": "patient", "mode": "outer"}),
        organize(
            rename={k: v for k, v in WARD_COLUMNS.items() if k != v}, order=list(WARD_COLUMNS)
        ),
    ]


def patient_column_overrides() -> dict[str, list[dm.DynamicConfigValue]]:
    """Table header -> display properties of that column."""
    percent = [prop("unit", "percent"), prop("decimals", 0)]
    heart_rate_bands = (
        (41, "yellow"),
        (51, "green"),
        (91, "yellow"),
        (111, "orange"),
        (131, "red"),
    )
    return {
        "Priority": [prop("custom.hidden", True)],
        "Open alerts": threshold_colored_text("green", (1, "red")),
        "Latest alert opened": [prop("unit", "dateTimeFromNow")],
        "NEWS2 (partial)": [prop("decimals", 0), *threshold_colored_text("orange", (7, "red"))],
        "Patient": [patient_link(), prop("custom.width", 140)],
        "Status": [
            prop("mappings", status_mappings()),
            prop("custom.cellOptions", cm.TableColoredBackgroundCellOptions()),
        ],
        "Heart rate": [
            prop("unit", "bpm"),
            prop("decimals", 0),
            *threshold_colored_text("red", *heart_rate_bands),
        ],
        "SpO2": [
            *percent,
            *threshold_colored_text("red", (92, "orange"), (94, "yellow"), (96, "green")),
        ],
        "Wear time": percent,
        "Last seen": [prop("unit", "dateTimeFromNow")],
        "Battery": [*percent, *threshold_colored_text("red", (20, "orange"), (40, "green"))],
    }
