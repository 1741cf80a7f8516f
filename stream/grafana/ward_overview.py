"""The Ward overview dashboard: every patient at a glance, the ones who need attention first."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from wearmon.stream.grafana.influxql import InfluxQL
from wearmon.stream.grafana.panels import (
    dashboard,
    patient_link,
    prop,
    stat_panel,
    status_mappings,
    table_panel,
    thresholds,
    transformation,
)

WARD_UID = "wearmon-ward"

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
    'SELECT last("code") / 2 AS "active" FROM "alert" WHERE $timeFilter GROUP BY "patient", "kind"'
)


def ward_overview() -> dm.Dashboard:
    """One row per patient, the patients who need attention first."""
    latest_status = (
        'SELECT last("status_code") AS "status_code" FROM "quality" '
        'WHERE $timeFilter GROUP BY "patient"'
    )
    patients = (
        table_panel(
            "Patients",
            InfluxQL(
                'SELECT last("status_code") AS "status" FROM "quality" '
                'WHERE $timeFilter GROUP BY "patient"'
            )
            .ref_id("STATUS")
            .table(),
            InfluxQL(
                'SELECT last("hr_bpm") AS "hr_bpm", last("spo2_pct") AS "spo2_pct" '
                'FROM "vitals" WHERE $timeFilter GROUP BY "patient"'
            )
            .ref_id("VITALS")
            .table(),
            InfluxQL(
                'SELECT last("battery_pct") AS "battery_pct", '
                '100 * sum("worn_samples") / sum("samples") AS "wear_pct" FROM "quality" '
                'WHERE $timeFilter GROUP BY "patient"'
            )
            .ref_id("DEVICE")
            .table(),
            InfluxQL(
                'SELECT count("score") AS "anomalies" FROM "anomaly" '
                'WHERE "severity" <> \'info\' AND $timeFilter GROUP BY "patient"'
            )
            .ref_id("ANOMALIES")
            .table(),
            InfluxQL(
                f'SELECT sum("active") AS "open_alerts" FROM ({OPEN_ALERTS}) GROUP BY "patient"'
            )
            .ref_id("OPEN_ALERTS")
            .table(),
            InfluxQL(
                'SELECT last("step") AS "opened_step" FROM "alert" WHERE '
                "(\"action\" = 'opened' OR \"action\" = 'reopened') AND $timeFilter "
                'GROUP BY "patient"'
            )
            .ref_id("OPENED")
            .table(),
            InfluxQL(
                'SELECT last("actor") AS "acknowledged_by" FROM "alert_audit" '
                'WHERE "action" = \'acknowledged\' AND $timeFilter GROUP BY "patient"'
            )
            .ref_id("ACKNOWLEDGED")
            .table(),
            InfluxQL(
                'SELECT last("score") AS "news2" FROM "anomaly" '
                'WHERE "kind" = \'news2_partial\' AND $timeFilter GROUP BY "patient"'
            )
            .ref_id("NEWS2")
            .table(),
            InfluxQL(
                f'SELECT {PRIORITY} AS "priority" FROM "quality" WHERE $timeFilter '
                'GROUP BY "patient"'
            )
            .ref_id("PRIORITY")
            .table(),
            height=18,
            width=24,
        )
        .description(
            "One row per patient seen in the time range, in order Alert, Attention, Can't "
            "assess, OK. Status is the latest upload's status (Attention = anomalies in that "
            "upload, Can't assess = device not worn). Open alerts = alerts whose latest event "
            "is not a resolution; Latest alert opened = when the newest of them opened (time "
            "open); NEWS2 appears when the partial score reached the alert level. Wear time = "
            "worn samples / all samples in the range. Click a patient for the patient detail "
            "dashboard; acknowledge in the Wearmon care console."
        )
        # Keep the time of the latest upload as "Last seen" and of the latest opening as
        # "Alert opened", drop every other time column, then join the queries on the patient.
        .with_transformation(
            transformation("organize", {"renameByName": {"Time": "Last seen"}}, ref_id="STATUS")
        )
        .with_transformation(
            transformation("organize", {"renameByName": {"Time": "Alert opened"},
                                        "excludeByName": {"opened_step": True}}, ref_id="OPENED")
        )
        .with_transformation(transformation("organize", {"excludeByName": {"Time": True}}))
        .with_transformation(transformation("joinByField", {"byField": "patient", "mode": "outer"}))
        .with_transformation(
            transformation(
                "organize",
                {
                    "indexByName": {name: i for i, name in enumerate(WARD_COLUMNS)},
                    "renameByName": {k: v for k, v in WARD_COLUMNS.items() if k != v},
                },
            )
        )
        .sort_by([cb.TableSortByFieldState().display_name("Priority").desc(True)])
        .override_by_name("Priority", [prop("custom.hidden", True)])
        .override_by_name(
            "Open alerts",
            [
                prop("thresholds", thresholds("green", (1, "red")).build()),
                prop("color", {"mode": "thresholds"}),
                prop("custom.cellOptions", cm.TableColorTextCellOptions()),
            ],
        )
        .override_by_name("Latest alert opened", [prop("unit", "dateTimeFromNow")])
        .override_by_name(
            "NEWS2 (partial)",
            [
                prop("decimals", 0),
                prop("thresholds", thresholds("orange", (7, "red")).build()),
                prop("color", {"mode": "thresholds"}),
                prop("custom.cellOptions", cm.TableColorTextCellOptions()),
            ],
        )
        .cell_height(cm.TableCellHeight.SM)
        .override_by_name("Patient", [patient_link(), prop("custom.width", 140)])
        .override_by_name(
            "Status",
            [
                prop("mappings", status_mappings()),
                prop("custom.cellOptions", cm.TableColoredBackgroundCellOptions()),
            ],
        )
        .override_by_name(
            "Heart rate",
            [
                prop("unit", "bpm"),
                prop("decimals", 0),
                prop(
                    "thresholds",
                    thresholds(
                        "red",
                        (41, "yellow"),
                        (51, "green"),
                        (91, "yellow"),
                        (111, "orange"),
                        (131, "red"),
                    ).build(),
                ),
                prop("color", {"mode": "thresholds"}),
                prop("custom.cellOptions", cm.TableColorTextCellOptions()),
            ],
        )
        .override_by_name(
            "SpO2",
            [
                prop("unit", "percent"),
                prop("decimals", 0),
                prop(
                    "thresholds",
                    thresholds("red", (92, "orange"), (94, "yellow"), (96, "green")).build(),
                ),
                prop("color", {"mode": "thresholds"}),
                prop("custom.cellOptions", cm.TableColorTextCellOptions()),
            ],
        )
        .override_by_name("Wear time", [prop("unit", "percent"), prop("decimals", 0)])
        .override_by_name("Last seen", [prop("unit", "dateTimeFromNow")])
        .override_by_name(
            "Battery",
            [
                prop("unit", "percent"),
                prop("decimals", 0),
                prop("thresholds", thresholds("red", (20, "orange"), (40, "green")).build()),
                prop("color", {"mode": "thresholds"}),
                prop("custom.cellOptions", cm.TableColorTextCellOptions()),
            ],
        )
    )
    return (
        dashboard(
            "Ward overview",
            WARD_UID,
            "now-24h",
            "1m",
            "Every patient at a glance; the patients who need attention come first.",
        )
        .with_panel(
            stat_panel(
                "Patients reporting",
                InfluxQL(f'SELECT count("status_code") FROM ({latest_status})'),
                width=6,
            )
        )
        .with_panel(
            stat_panel(
                "Need attention (latest upload)",
                InfluxQL(
                    f'SELECT count("status_code") FROM ({latest_status}) WHERE "status_code" > 0'
                ),
                width=6,
            ).thresholds(thresholds("green", (1, "orange")))
        )
        .with_panel(
            stat_panel(
                "Critical anomalies",
                InfluxQL(
                    'SELECT count("score") FROM "anomaly" '
                    "WHERE \"severity\" = 'critical' AND $timeFilter"
                ),
                width=6,
            ).thresholds(thresholds("green", (1, "red")))
        )
        .with_panel(
            stat_panel(
                "Open alerts",
                InfluxQL(f'SELECT sum("active") FROM ({OPEN_ALERTS})'),
                width=6,
            ).thresholds(thresholds("green", (1, "red")))
        )
        .with_panel(patients)
        .build()
    )
