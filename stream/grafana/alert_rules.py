"""Grafana-managed alert rules (InfluxQL), the e-mail contact point and the notification policy.

The rules keep to pipeline health and data flow; clinical paging stays with Wearmon's own alert
lifecycle (persistence, acknowledgement, escalation, patient messages), so a care team is never
paged twice for one event. Three rules:

* **Pipeline stalled** - no ``pipeline`` point (no worker wrote a batch) for 5 minutes.
* **Telemetry stopped** - uploads in the last 6 hours but none from any patient for
  ``SILENT_MINUTES`` minutes (gateways or Kafka down).
* **Notifications failing** - a notification failed after every retry in the last 15 minutes.

The same objects feed the provisioning files (``provisioning_files``) and
``wearmon grafana push`` (``api_rule_groups`` and friends), so both deployment paths install
identical rules.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from grafana_foundation_sdk.builders import alerting, expr
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as am
from grafana_foundation_sdk.models import dashboard as dm

from wearmon.stream.grafana.influxql import DATASOURCE_UID, InfluxQL
from wearmon.stream.grafana.queries import EXPRESSION_UID

FOLDER_UID = "wearmon"
FOLDER_TITLE = "Wearmon"
ORG_ID = 1
CONTACT_POINT_NAME = "Wearmon operations (e-mail)"
CONTACT_POINT_UID = "wearmon-email"
APP_LABEL = ("app", "wearmon")  # every rule carries it; the notification route matches on it
SILENT_MINUTES = 30
PIPELINE_GROUP = "Wearmon pipeline"
EMAIL_PLACEHOLDER = "$ALERT_EMAIL_TO"  # expanded by Grafana from its environment

Comparison = Literal["gt", "lt"]


def _expression_ref() -> dm.DataSourceRef:
    return dm.DataSourceRef(type_val=EXPRESSION_UID, uid=EXPRESSION_UID)


def _rule(
    uid: str, title: str, query: str, range_s: int, comparison: Comparison, threshold: float
) -> alerting.Rule:
    """A rule: A = InfluxQL over the last ``range_s`` seconds, B = last value, C = threshold."""
    source = (
        alerting.Query("A")
        .datasource_uid(DATASOURCE_UID)
        .relative_time_range(am.RelativeTimeRange(from_val=range_s, to=0))
        .model(InfluxQL(query).ref_id("A").for_alerting())
    )
    reduce = (
        alerting.Query("B")
        .datasource_uid(EXPRESSION_UID)
        .model(
            expr.TypeReduce()
            .ref_id("B")
            .expression("A")
            .reducer("last")
            .datasource(_expression_ref())
            .settings(expr.ExprTypeReduceSettings().mode("dropNN"))
        )
    )
    condition = (
        alerting.Query("C")
        .datasource_uid(EXPRESSION_UID)
        .model(
            expr.TypeThreshold()
            .ref_id("C")
            .expression("B")
            .datasource(_expression_ref())
            .conditions(
                [
                    expr.ExprTypeThresholdConditions().evaluator(
                        expr.ExprTypeThresholdConditionsEvaluator()
                        .type(comparison)
                        .params([threshold])
                    )
                ]
            )
        )
    )
    return (
        alerting.Rule(title)
        .uid(uid)
        .folder_uid(FOLDER_UID)
        .org_id(ORG_ID)
        .queries([source, reduce, condition])
        .condition("C")
        .exec_err_state("Error")
        .is_paused(False)
    )


def _ops_rule(uid: str, title: str, query: str, range_s: int, comparison: Comparison,
              threshold: float, *, for_s: str, no_data: Literal["Alerting", "NoData", "OK"],
              summary: str, description: str
              ) -> alerting.Rule:
    """A critical rule for whoever runs Wearmon (``team=ops``) in the pipeline group."""
    return (
        _rule(uid, title, query, range_s, comparison, threshold)
        .for_val(for_s)
        .no_data_state(no_data)
        .rule_group(PIPELINE_GROUP)
        .labels({APP_LABEL[0]: APP_LABEL[1], "team": "ops", "severity": "critical"})
        .annotations({"summary": summary, "description": description})
    )


def pipeline_rules() -> alerting.RuleGroup:
    """Pipeline health and data flow only. Clinical paging (findings, device offline, with
    acknowledgement and escalation) stays with Wearmon's alert lifecycle, so staff are never
    paged twice for one event."""
    stalled = _ops_rule(
        "wearmon-pipeline-stalled", "Pipeline stalled",
        'SELECT count("uploads") FROM "pipeline" WHERE $timeFilter',
        range_s=300, comparison="lt", threshold=1, for_s="1m", no_data="Alerting",
        summary="Wearmon wrote no pipeline batch for 5 minutes",
        description="No worker reported a processed batch. Patients' data is not being "
        "analysed: check the workers, Kafka and InfluxDB.",
    )
    silent = _ops_rule(
        "wearmon-telemetry-silent", "Telemetry stopped",
        f'SELECT moving_average(count("samples"), {SILENT_MINUTES}) FROM "quality" '
        "WHERE $timeFilter GROUP BY time(1m) fill(0)",
        range_s=6 * 3600, comparison="lt", threshold=0.001, for_s="0s", no_data="OK",
        summary=f"No telemetry from any patient for {SILENT_MINUTES} minutes",
        description="Uploads reached InfluxDB in the last 6 hours but none in the last "
        f"{SILENT_MINUTES} minutes, from any patient: check the gateways and Kafka. (One "
        "patient's silent device is Wearmon's own device-offline alert.)",
    )
    failing = _ops_rule(
        "wearmon-notifications-failing", "Notifications failing",
        "SELECT count(\"alert_id\") FROM \"notification\" "
        "WHERE \"status\" = 'failed' AND $timeFilter",
        range_s=900, comparison="gt", threshold=0, for_s="0s", no_data="OK",
        summary="Wearmon could not deliver notifications",
        description="{{ $values.B }} message(s) failed after every retry in the last 15 "
        "minutes: care teams or patients may not have been told. Check the e-mail, SMS and "
        "push services (Pipeline health dashboard, deliveries by status).",
    )
    return (
        alerting.RuleGroup(PIPELINE_GROUP)
        .folder_uid(FOLDER_UID)
        .interval(60)
        .rules([stalled, silent, failing])
    )


def contact_point(addresses: str = EMAIL_PLACEHOLDER) -> alerting.ContactPoint:
    """E-mail to whoever runs Wearmon; ``addresses`` is ';'-separated."""
    return (
        alerting.ContactPoint()
        .uid(CONTACT_POINT_UID)
        .name(CONTACT_POINT_NAME)
        .type("email")
        .settings({"addresses": addresses, "singleEmail": False})
        .disable_resolve_message(False)
    )


def wearmon_route() -> alerting.NotificationPolicy:
    """Wearmon's branch of the policy tree: grouped by rule, critical ones faster."""
    matcher = [APP_LABEL[0], "=", APP_LABEL[1]]
    return (
        alerting.NotificationPolicy()
        .receiver(CONTACT_POINT_NAME)
        .object_matchers([matcher])
        .group_by(["grafana_folder", "alertname"])
        .group_wait("30s")
        .group_interval("5m")
        .repeat_interval("4h")
        .routes(
            [
                alerting.NotificationPolicy()
                .receiver(CONTACT_POINT_NAME)
                .object_matchers([["severity", "=", "critical"]])
                .group_wait("10s")
                .group_interval("1m")
                .repeat_interval("30m"),
            ]
        )
    )


def notification_policy() -> alerting.NotificationPolicy:
    """The whole tree for a Grafana that only Wearmon uses (the compose stack)."""
    return (
        alerting.NotificationPolicy()
        .receiver(CONTACT_POINT_NAME)
        .group_by(["grafana_folder", "alertname"])
        .routes([wearmon_route()])
    )


def _json(obj: object) -> Any:
    return json.loads(JSONEncoder(sort_keys=True).encode(obj))


# --- HTTP API payloads (wearmon grafana push) -------------------------------------------------


def api_rule_groups() -> list[dict[str, Any]]:
    """Rule groups as PUT /api/v1/provisioning/folder/{uid}/rule-groups/{group} expects them."""
    return [_json(pipeline_rules().build())]


def api_contact_point(addresses: str) -> dict[str, Any]:
    data: dict[str, Any] = _json(contact_point(addresses).build())
    return data


def api_route() -> dict[str, Any]:
    data: dict[str, Any] = _json(wearmon_route().build())
    return data


# --- File provisioning (docker compose) ------------------------------------------------------

API_ONLY_RULE_KEYS = ("folderUID", "ruleGroup", "orgID")


def file_rule(api_rule: dict[str, Any]) -> dict[str, Any]:
    """An alert rule in the file-provisioning format (the API format minus placement keys)."""
    return {k: v for k, v in api_rule.items() if k not in API_ONLY_RULE_KEYS}


def provisioning_files() -> dict[str, dict[str, Any]]:
    """File name -> content of the alerting provisioning files."""
    groups = [
        {
            "orgId": ORG_ID,
            "name": group["title"],
            "folder": FOLDER_TITLE,
            "interval": f"{group['interval']}s",
            "rules": [file_rule(rule) for rule in group["rules"]],
        }
        for group in api_rule_groups()
    ]
    point = api_contact_point(EMAIL_PLACEHOLDER)
    receiver = {k: v for k, v in point.items() if k != "name"}
    policy = _json(notification_policy().build())
    return {
        "rules.yaml": {"apiVersion": 1, "groups": groups},
        "contact-points.yaml": {
            "apiVersion": 1,
            "contactPoints": [{"orgId": ORG_ID, "name": point["name"], "receivers": [receiver]}],
        },
        "policies.yaml": {"apiVersion": 1, "policies": [{"orgId": ORG_ID, **policy}]},
    }
