"""Every dashboard and alert-rule query runs on the real InfluxDB after a real pipeline run.

The ``pipeline_run`` fixture (tests/integration/conftest.py) has run simulator -> Kafka -> worker
-> InfluxDB with enrolled patients: alerts opened, messages delivered to a real HTTP receiver,
one alert acknowledged through the API. Each InfluxQL query is taken from the provisioning files,
Grafana's macros are substituted as Grafana would (``$timeFilter`` = the run's own time range,
``$__interval``, ``$__interval_ms``, ``$patient`` = a patient with alerts), and the query is sent
to InfluxDB's ``/query`` endpoint: it must not fail, and every panel, annotation and rule query
that should show data — all alert and notification panels included — must return values inside
the run's time range (a point stored at a wrong time, e.g. in 1970, shows up as no data).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import pytest
import yaml

from wearmon.stream.grafana.files import PROVISIONING_DIR
from wearmon.stream.grafana.queries import (
    FoundQuery,
    alerting_queries,
    dashboard_queries,
    substitute_macros,
)

pytestmark = pytest.mark.integration

INTERVAL = "1m"

# (dashboard uid, panel or variable title) -> refIds of the queries that must return values
MUST_HAVE_DATA: dict[tuple[str, str], set[str]] = {
    ("wearmon-ward", "Patients reporting"): {"A"},
    ("wearmon-ward", "Need attention (latest upload)"): {"A"},
    ("wearmon-ward", "Critical anomalies"): {"A"},
    ("wearmon-ward", "Open alerts"): {"A"},
    ("wearmon-ward", "Patients"): {"STATUS", "VITALS", "DEVICE", "ANOMALIES", "OPEN_ALERTS",
                                   "OPENED", "ACKNOWLEDGED", "PRIORITY"},
    ("wearmon-patient", "patient"): {"patient"},
    ("wearmon-patient", "Heart rate (latest)"): {"A"},
    ("wearmon-patient", "Status"): {"A"},
    ("wearmon-patient", "Last upload"): {"A"},
    ("wearmon-patient", "Heart rate and personal baseline"): {"A"},
    ("wearmon-patient", "Steps (activity)"): {"A"},
    ("wearmon-patient", "Data-quality status"): {"A"},
    ("wearmon-patient", "Wear and battery"): {"A"},
    ("wearmon-patient", "Findings"): {"A"},
    ("wearmon-patient", "Anomaly scores"): {"A"},
    ("wearmon-patient", "Alerts and acknowledgements"): {"A"},
    ("wearmon-patient", "Alerts"): {"Anno"},  # annotations
    ("wearmon-patient", "Critical findings"): {"Anno"},
    ("wearmon-pipeline", "Uploads"): {"A"},
    ("wearmon-pipeline", "Samples"): {"A"},
    ("wearmon-pipeline", "Uploads and samples per second"): {"A"},
    ("wearmon-pipeline", "End-to-end latency"): {"A"},
    ("wearmon-pipeline", "Batch duration"): {"A"},
    ("wearmon-pipeline", "Worker activity"): {"A"},
    ("wearmon-pipeline", "Workers"): {"A"},
    ("wearmon-pipeline", "Anomalies"): {"A"},
    ("wearmon-pipeline", "Rejected uploads"): {"A"},
    ("wearmon-pipeline", "Rejected uploads by reason"): {"A"},
    ("wearmon-pipeline", "Rejections by reason"): {"A"},
    ("wearmon-pipeline", "Notification deliveries and failures"): {"A"},
    ("wearmon-pipeline-stalled", "Pipeline stalled"): {"A"},
    ("wearmon-telemetry-silent", "Telemetry stopped"): {"A"},
}


def provisioned_queries() -> list[FoundQuery]:
    found = []
    for path in sorted((PROVISIONING_DIR / "dashboards").glob("*.json")):
        found += dashboard_queries(json.loads(path.read_text(encoding="utf-8")))
    rules = yaml.safe_load((PROVISIONING_DIR / "alerting" / "rules.yaml").read_text("utf-8"))
    return found + alerting_queries(rules)


QUERIES = provisioned_queries()


def run_influxql(base_url: str, database: str, query: str) -> dict[str, Any]:
    url = f"{base_url.rstrip('/')}/query?" + urllib.parse.urlencode({"db": database, "q": query})
    with urllib.request.urlopen(url, timeout=60) as response:
        body: dict[str, Any] = json.load(response)
    return body


def values_in(result: dict[str, Any], ignore_zero: bool = False) -> int:
    """Non-null values (time excluded) in one statement's result; zeros too unless told."""
    return sum(
        1
        for series in result.get("series", [])
        for row in series.get("values", [])
        for value in row[1:]
        if value is not None and not (ignore_zero and value == 0)
    )


def test_the_provisioning_has_queries_to_check() -> None:
    kinds = {query.kind for query in QUERIES}
    assert kinds == {"panel", "annotation", "variable", "alert rule"}
    present = {(query.where, query.title, query.ref_id) for query in QUERIES}
    required = {(uid, title, ref) for (uid, title), refs in MUST_HAVE_DATA.items() for ref in refs}
    assert required <= present, required - present


@pytest.fixture(scope="module")
def patient_with_alerts(pipeline_run: Any) -> str:
    """A simulated patient whose injected events opened alerts (the patient dashboard's pick)."""
    body = run_influxql(pipeline_run.influx_url, pipeline_run.influx_db,
                        'SHOW TAG VALUES FROM "alert" WITH KEY = "patient"')
    with_alerts = {v[1] for s in body["results"][0].get("series", []) for v in s["values"]}
    candidates = sorted(with_alerts & set(pipeline_run.patients))
    assert candidates, "the run opened no alert for a simulated patient"
    return candidates[0]


def test_the_run_had_alerts_deliveries_and_an_acknowledgement(pipeline_run: Any) -> None:
    assert any(d["status"] == "sent" for d in pipeline_run.deliveries), pipeline_run.deliveries
    assert pipeline_run.acknowledged


@pytest.mark.parametrize("found", QUERIES, ids=[f"{q.where}:{q.title}:{q.ref_id}" for q in QUERIES])
def test_query_runs_on_influxdb(pipeline_run: Any, patient_with_alerts: str,
                                found: FoundQuery) -> None:
    assert pipeline_run.patients, "the pipeline run wrote no patient data"
    run_range = f"time >= {pipeline_run.start_ms}ms AND time <= {pipeline_run.end_ms}ms"
    # an alert rule's window ("the last N seconds") is evaluated as of the end of the run: the
    # rest of the suite may run for longer than the window after it
    time_filter = run_range
    if found.range_s:
        time_filter = (f"time > {pipeline_run.end_ms - found.range_s * 1000}ms "
                       f"AND time <= {pipeline_run.end_ms}ms")
    query = substitute_macros(
        found.query,
        {"patient": patient_with_alerts, "ward": ".*"},  # the ward selector's "All"
        time_filter=time_filter,
        interval=INTERVAL,
    )
    body = run_influxql(pipeline_run.influx_url, pipeline_run.influx_db, query)
    assert "error" not in body, (query, body["error"])
    (result,) = body["results"]
    assert "error" not in result, (query, result["error"])

    if found.ref_id in MUST_HAVE_DATA.get((found.where, found.title), set()):
        # fill(0) makes zeros out of nothing: such a panel needs a non-zero value
        count = values_in(result, ignore_zero="fill(0)" in query)
        assert count > 0, f"{found.title} ({found.ref_id}) shows no data: {query}"


WARD_QUERIES = [q for q in QUERIES if q.where == "wearmon-ward"
                and q.ref_id in MUST_HAVE_DATA.get((q.where, q.title), set())]


def test_the_ward_selector_lists_the_enrolled_ward(pipeline_run: Any) -> None:
    body = run_influxql(pipeline_run.influx_url, pipeline_run.influx_db,
                        'SHOW TAG VALUES FROM "quality" WITH KEY = "ward"')
    (result,) = body["results"]
    assert [row[1] for s in result["series"] for row in s["values"]] == ["Ward 1"], result


@pytest.mark.parametrize("found", WARD_QUERIES, ids=[f"{q.title}:{q.ref_id}" for q in WARD_QUERIES])
def test_a_ward_overview_panel_shows_its_ward_and_not_another(pipeline_run: Any,
                                                             found: FoundQuery) -> None:
    """Every ward panel has rows for the enrolled patients' ward, none for another ward."""
    run_range = f"time >= {pipeline_run.start_ms}ms AND time <= {pipeline_run.end_ms}ms"
    counts = {}
    for ward in ("Ward 1", "Ward 9"):
        query = substitute_macros(found.query, {"ward": ward}, time_filter=run_range,
                                  interval=INTERVAL)
        (result,) = run_influxql(pipeline_run.influx_url, pipeline_run.influx_db, query)["results"]
        assert "error" not in result, (query, result["error"])
        counts[ward] = values_in(result, ignore_zero=True)
    assert counts["Ward 1"] > 0 and counts["Ward 9"] == 0, (found.title, counts)
