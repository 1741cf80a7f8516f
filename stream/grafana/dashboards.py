"""The three Wearmon dashboards, built with grafana-foundation-sdk (Grafana 11.3 schema).

Every query is InfluxQL against the measurements in docs/influx-schema.md (plus ``alert`` and
``notification``, written by the alerting work), so the same dashboards run on InfluxDB 1.x, 2.x
and 3.x. ``wearmon grafana generate`` writes them to deploy/grafana/provisioning/dashboards/;
docs/dashboards.md lists every panel and its query.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm

from wearmon.stream.grafana.patient_detail import patient_detail
from wearmon.stream.grafana.pipeline_health import pipeline_health
from wearmon.stream.grafana.ward_overview import ward_overview

DASHBOARDS = {
    "ward-overview.json": ward_overview,
    "patient-detail.json": patient_detail,
    "pipeline-health.json": pipeline_health,
}


def to_dict(dashboard: dm.Dashboard) -> dict[str, Any]:
    """Plain JSON data of a built dashboard, with stable panel ids (1, 2, ...)."""
    data: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(dashboard))
    for index, panel in enumerate(data.get("panels", []), start=1):
        panel["id"] = index
    return data


def all_dashboards() -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON data, for every Wearmon dashboard."""
    return {name: to_dict(build()) for name, build in DASHBOARDS.items()}


def render(data: dict[str, Any]) -> str:
    """The checked-in text of a JSON document: sorted keys, two-space indent, final newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
