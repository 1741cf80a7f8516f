"""The Grafana provisioning files: they parse, agree with each other and with the Python code."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from wearmon.stream.grafana.alert_rules import FOLDER_TITLE
from wearmon.stream.grafana.cli import grafana
from wearmon.stream.grafana.files import PROVISIONING_DIR, generated_files, stale_files
from wearmon.stream.grafana.push import PushError, build_plan, connect, push
from wearmon.stream.grafana.queries import (
    EXPRESSION_UID,
    alerting_queries,
    dashboard_queries,
    duration_ms,
    substitute_macros,
)

EXPECTED_PANELS = {
    "wearmon-ward": {
        "Patients reporting",
        "Need attention (latest upload)",
        "Critical anomalies",
        "Open alerts",
        "Patients",
    },
    "wearmon-patient": {
        "Heart rate (latest)",
        "SpO2 (latest)",
        "SpO2",
        "Resting heart rate (baseline)",
        "Status",
        "Battery",
        "Last upload",
        "Heart rate and personal baseline",
        "Steps (activity)",
        "Respiration rate",
        "Skin temperature (not core temperature)",
        "NEWS2 sub-scores (partial: heart rate, SpO2 scale 1, respiration only)",
        "Anomaly scores",
        "NEWS2 (partial) at alert level",
        "Findings",
        "Alerts and acknowledgements",
        "Data-quality status",
        "Wear and battery",
        "Sync lag and dropped samples",
    },
    "wearmon-pipeline": {
        "Uploads",
        "Samples",
        "Rejected uploads",
        "Anomalies",
        "Uploads and samples per second",
        "Consumer lag",
        "End-to-end latency",
        "Batch duration",
        "Rejected uploads by reason",
        "Rejections by reason",
        "Notification deliveries and failures",
        "Duplicates, anomalies and points written",
        "Worker activity",
        "Workers",
    },
}
# pipeline health and data flow only: clinical paging stays with Wearmon's alert lifecycle
EXPECTED_RULES = {"Pipeline stalled", "Telemetry stopped", "Notifications failing"}


def load_yaml(relative: str) -> Any:
    return yaml.safe_load((PROVISIONING_DIR / relative).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    files = sorted((PROVISIONING_DIR / "dashboards").glob("*.json"))
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in files}


@pytest.fixture(scope="module")
def rules_doc() -> dict[str, Any]:
    doc: dict[str, Any] = load_yaml("alerting/rules.yaml")
    return doc


@pytest.fixture(scope="module")
def rules(rules_doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in rules_doc["groups"] for rule in group["rules"]]


def datasource_uids() -> set[str]:
    return {ds["uid"] for ds in load_yaml("datasources/influxdb.yaml")["datasources"]}


# --- files parse and refer to each other ------------------------------------------------------


def test_every_provisioning_file_parses() -> None:
    paths = sorted(p for p in PROVISIONING_DIR.rglob("*") if p.is_file())
    assert {p.suffix for p in paths} == {".json", ".yaml"}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        assert data, path


def test_datasource_is_influxql_with_a_token_header() -> None:
    (source,) = load_yaml("datasources/influxdb.yaml")["datasources"]
    assert source["uid"] == "wearmon-influx"
    assert source["type"] == "influxdb"
    assert source["jsonData"]["version"] == "InfluxQL"
    assert source["jsonData"]["dbName"] == "$WEARMON_INFLUX_DB"
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    assert source["secureJsonData"]["httpHeaderValue1"] == "Token $WEARMON_INFLUX_TOKEN"


def test_dashboard_provider_loads_this_folder() -> None:
    (provider,) = load_yaml("dashboards/wearmon.yaml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/provisioning/dashboards"


def test_dashboards_and_alert_rules_name_the_same_folder() -> None:
    """Provisioned rule groups can name their folder only by title (``folder:``); a dashboard
    provider with a ``folderUid`` as well makes a second folder, or fails on the title, when the
    alert rules were provisioned first. Both name it by the one title."""
    (provider,) = load_yaml("dashboards/wearmon.yaml")["providers"]
    assert "folderUid" not in provider and provider["folder"] == FOLDER_TITLE
    groups = load_yaml("alerting/rules.yaml")["groups"]
    assert groups and {group["folder"] for group in groups} == {provider["folder"]}
    assert all("folderUid" not in group and "folderUID" not in group for group in groups)


def test_every_query_uses_the_provisioned_datasource(
    dashboards: dict[str, dict[str, Any]], rules_doc: dict[str, Any]
) -> None:
    uids = datasource_uids()
    found = [q for d in dashboards.values() for q in dashboard_queries(d)]
    found += alerting_queries(rules_doc)
    assert len(found) > 40
    for query in found:
        assert query.datasource_uid in uids, query
    for dashboard in dashboards.values():
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] in uids, panel["title"]


def test_dashboards_have_the_expected_panels(dashboards: dict[str, dict[str, Any]]) -> None:
    by_uid = {d["uid"]: d for d in dashboards.values()}
    assert set(by_uid) == set(EXPECTED_PANELS)
    for uid, titles in EXPECTED_PANELS.items():
        panels = by_uid[uid]["panels"]
        assert {p["title"] for p in panels} == titles
        assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]


def test_ward_table_joins_on_patient_and_sorts_alert_attention_cant_assess_ok(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    table = next(p for p in dashboards["ward-overview.json"]["panels"] if p["title"] == "Patients")
    assert all('GROUP BY "patient"' in t["query"] for t in table["targets"])
    assert all(t["resultFormat"] == "table" for t in table["targets"])
    kinds = [t["id"] for t in table["transformations"]]
    assert kinds == ["organize", "organize", "organize", "joinByField", "organize"]
    assert table["transformations"][3]["options"] == {"byField": "patient", "mode": "outer"}
    assert table["options"]["sortBy"] == [{"desc": True, "displayName": "Priority"}]
    # the hidden sort key ranks status codes (0 OK, 1 attention, 2 alert, 3 can't assess)
    priority = next(t["query"] for t in table["targets"] if t["refId"] == "PRIORITY")
    assert '(2 * last("status_code")) % 5' in priority
    rank = {code: (2 * code) % 5 for code in range(4)}
    assert sorted(rank, key=rank.__getitem__, reverse=True) == [2, 1, 3, 0]
    # open alerts per patient (latest event per alert kind), not the latest event per patient
    open_alerts = next(t["query"] for t in table["targets"] if t["refId"] == "OPEN_ALERTS")
    assert 'GROUP BY "patient", "kind"' in open_alerts


def test_patient_detail_is_driven_by_the_patient_variable(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    detail = dashboards["patient-detail.json"]
    (variable,) = detail["templating"]["list"]
    assert variable["name"] == "patient" and variable["type"] == "query"
    assert variable["query"] == 'SHOW TAG VALUES FROM "quality" WITH KEY = "patient"'
    annotations = {a["name"] for a in detail["annotations"]["list"]}
    assert annotations == {"Alerts", "Critical findings"}
    for query in dashboard_queries(detail):
        if query.kind != "variable":
            assert "\"patient\" = '$patient'" in query.query, query.title


def test_the_ward_overview_filters_every_query_by_the_ward_variable(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    ward = dashboards["ward-overview.json"]
    (variable,) = ward["templating"]["list"]
    assert (variable["name"], variable["type"], variable["multi"], variable["includeAll"],
            variable["allValue"]) == ("ward", "query", True, True, ".*")
    assert variable["query"] == 'SHOW TAG VALUES FROM "quality" WITH KEY = "ward"'
    for query in dashboard_queries(ward):
        if query.kind != "variable":
            assert query.query.count('"ward" =~ /^$ward$/') >= 1, query.title


def test_patient_panels_that_can_be_empty_say_why(dashboards: dict[str, dict[str, Any]]) -> None:
    panels = {p["title"]: p for p in dashboards["patient-detail.json"]["panels"]}
    why = {title: panels[title]["fieldConfig"]["defaults"].get("noValue", "") for title in (
        "Resting heart rate (baseline)", "SpO2 (latest)", "SpO2", "Respiration rate",
        "Skin temperature (not core temperature)", "Battery", "Anomaly scores",
        "NEWS2 (partial) at alert level", "Findings", "Alerts and acknowledgements",
        "NEWS2 sub-scores (partial: heart rate, SpO2 scale 1, respiration only)")}
    assert all(len(text) > 15 for text in why.values()), why
    assert "5 nights" in why["Resting heart rate (baseline)"]


def test_every_panel_and_annotation_query_is_bounded_in_time(
    dashboards: dict[str, dict[str, Any]], rules_doc: dict[str, Any]
) -> None:
    found = [q for d in dashboards.values() for q in dashboard_queries(d)]
    for query in found + alerting_queries(rules_doc):
        if query.kind != "variable":
            assert "$timeFilter" in query.query, query


def test_regenerating_gives_identical_files() -> None:
    assert stale_files() == []
    on_disk = {
        str(p.relative_to(PROVISIONING_DIR))
        for p in PROVISIONING_DIR.rglob("*")
        if p.is_file() and p.parent.name in ("dashboards", "alerting")
    }
    assert on_disk - set(generated_files()) == {"dashboards/wearmon.yaml"}


def test_generate_command_writes_the_same_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(grafana, ["generate", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for relative, text in generated_files().items():
        assert (tmp_path / relative).read_text(encoding="utf-8") == text
    check = CliRunner().invoke(grafana, ["generate", "--output", str(tmp_path), "--check"])
    assert check.exit_code == 0, check.output
    (tmp_path / "alerting" / "rules.yaml").write_text("apiVersion: 1\n", encoding="utf-8")
    stale = CliRunner().invoke(grafana, ["generate", "--output", str(tmp_path), "--check"])
    assert stale.exit_code == 1 and "alerting/rules.yaml" in stale.output


# --- alert rules ------------------------------------------------------------------------------


def test_alert_rules_reference_valid_queries(rules: list[dict[str, Any]]) -> None:
    assert {rule["title"] for rule in rules} == EXPECTED_RULES
    assert len({rule["uid"] for rule in rules}) == len(rules)
    uids = datasource_uids()
    for rule in rules:
        ref_ids = [item["refId"] for item in rule["data"]]
        assert len(set(ref_ids)) == len(ref_ids)
        assert rule["condition"] in ref_ids
        for item in rule["data"]:
            model = item["model"]
            assert model["refId"] == item["refId"]
            if item["datasourceUid"] == EXPRESSION_UID:
                assert model["expression"] in ref_ids and model["expression"] != item["refId"]
            else:
                assert item["datasourceUid"] in uids
                assert model["rawQuery"] is True and model["query"].startswith("SELECT")
                assert item["relativeTimeRange"]["from"] > 0
        assert rule["labels"]["app"] == "wearmon"
        assert rule["noDataState"] in {"OK", "NoData", "Alerting"}
    stalled = next(rule for rule in rules if rule["title"] == "Pipeline stalled")
    assert stalled["noDataState"] == "Alerting"  # no pipeline points at all is the failure


def test_notification_policy_routes_to_existing_contact_points() -> None:
    points = load_yaml("alerting/contact-points.yaml")["contactPoints"]
    names = {point["name"] for point in points}
    (receiver,) = points[0]["receivers"]
    assert receiver["type"] == "email" and receiver["settings"]["addresses"] == "$ALERT_EMAIL_TO"

    def receivers(route: dict[str, Any]) -> Iterator[str]:
        yield route["receiver"]
        for child in route.get("routes", []):
            yield from receivers(child)

    (policy,) = load_yaml("alerting/policies.yaml")["policies"]
    assert set(receivers(policy)) <= names
    assert ["app", "=", "wearmon"] in policy["routes"][0]["object_matchers"]


# --- query extraction and macros --------------------------------------------------------------


def test_substitute_macros() -> None:
    query = (
        'SELECT sum("x") * 1000 / $__interval_ms FROM m WHERE "patient" = \'$patient\' '
        "AND ${site} = [[site]] AND $timeFilter GROUP BY time($__interval)"
    )
    assert substitute_macros(query, {"patient": "p-1", "site": "a"}, interval="5m") == (
        'SELECT sum("x") * 1000 / 300000 FROM m WHERE "patient" = \'p-1\' '
        "AND a = a AND time > now() - 30d GROUP BY time(5m)"
    )
    assert substitute_macros("$__timeFilter", time_filter="time > 0") == "time > 0"
    with pytest.raises(KeyError, match=r"\$patient"):
        substitute_macros("WHERE p = '$patient'")


def test_duration_ms() -> None:
    assert duration_ms("10s") == 10_000
    with pytest.raises(ValueError):
        duration_ms("1 minute")


def test_queries_are_found_in_rows_annotations_variables_and_rules() -> None:
    dashboard = {
        "uid": "d",
        "panels": [
            {
                "title": "row",
                "type": "row",
                "panels": [
                    {
                        "title": "inner",
                        "datasource": {"uid": "u"},
                        "targets": [{"refId": "A", "query": "SELECT 1"}],
                    },
                ],
            },
        ],
        "annotations": {
            "list": [{"name": "n", "datasource": {"uid": "u"}, "target": {"query": "SELECT 2"}}]
        },
        "templating": {
            "list": [
                {
                    "name": "v",
                    "type": "query",
                    "query": "SHOW TAG VALUES",
                    "datasource": {"uid": "u"},
                },
                {"name": "c", "type": "custom", "query": "a,b"},
            ]
        },
    }
    found = dashboard_queries(dashboard)
    assert [(q.kind, q.title, q.query, q.datasource_uid) for q in found] == [
        ("panel", "inner", "SELECT 1", "u"),
        ("annotation", "n", "SELECT 2", "u"),
        ("variable", "v", "SHOW TAG VALUES", "u"),
    ]
    rule = {
        "uid": "r",
        "title": "R",
        "data": [
            {
                "refId": "A",
                "datasourceUid": "u",
                "relativeTimeRange": {"from": 600, "to": 0},
                "model": {"query": "SELECT 3"},
            },
            {"refId": "B", "datasourceUid": EXPRESSION_UID, "model": {"expression": "A"}},
        ],
    }
    (query,) = alerting_queries({"groups": [{"rules": [rule]}]})
    assert (query.title, query.query, query.range_s) == ("R", "SELECT 3", 600)


# --- wearmon grafana push ---------------------------------------------------------------------


def dry_run(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        grafana, ["push", "--url", "http://grafana.test", "--dry-run", *args]
    )
    assert result.exit_code == 0, result.output
    plan: dict[str, Any] = json.loads(result.output)
    return plan


def test_push_dry_run_sends_the_provisioned_dashboards_and_rules(
    dashboards: dict[str, dict[str, Any]], rules_doc: dict[str, Any]
) -> None:
    plan = dry_run()
    assert [body["dashboard"] for body in plan["dashboards"]] == [
        dashboards[name]
        for name in ("ward-overview.json", "patient-detail.json", "pipeline-health.json")
    ]
    assert all(body["folderUid"] == plan["folder"]["uid"] for body in plan["dashboards"])
    file_groups = {group["name"]: group for group in rules_doc["groups"]}
    assert [group["title"] for group in plan["rule_groups"]] == list(file_groups)
    for group in plan["rule_groups"]:
        file_group = file_groups[group["title"]]
        assert f"{group['interval']}s" == file_group["interval"]
        sent = [
            {k: v for k, v in r.items() if k not in ("folderUID", "ruleGroup", "orgID")}
            for r in group["rules"]
        ]
        assert sent == file_group["rules"]
        assert all(r["folderUID"] == plan["folder"]["uid"] for r in group["rules"])
    assert plan["contact_point"] is None and plan["notification_route"] is None


def test_push_dry_run_with_email_adds_contact_point_and_route() -> None:
    plan = dry_run("--alert-email", "ward7@hospital.example")
    point = plan["contact_point"]
    (file_point,) = load_yaml("alerting/contact-points.yaml")["contactPoints"]
    assert point["settings"]["addresses"] == "ward7@hospital.example"
    assert point["name"] == file_point["name"] and point["uid"] == file_point["receivers"][0]["uid"]
    (policy,) = load_yaml("alerting/policies.yaml")["policies"]
    assert plan["notification_route"] == policy["routes"][0]


def test_push_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEARMON_GRAFANA_TOKEN", raising=False)
    result = CliRunner().invoke(grafana, ["push", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "WEARMON_GRAFANA_TOKEN" in result.output


class FakeGrafana(BaseHTTPRequestHandler):
    """Just enough of Grafana's HTTP API to exercise push through the real grafana-client."""

    version = "11.3.1"
    status = 200
    calls: list[tuple[str, str, Any]]
    policy: dict[str, Any]

    def _reply(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.calls.append((self.command, self.path.split("?")[0], body))
        path = self.path.split("?")[0]
        if self.status != 200:
            self._reply(self.status, {"message": "invalid API key"})
        elif path == "/api/frontend/settings":
            self._reply(200, {"buildInfo": {"version": self.version}})
        elif path == "/api/folders/wearmon":
            self._reply(404, {"message": "folder not found"})
        elif path == "/api/v1/provisioning/policies" and self.command == "GET":
            self._reply(200, self.policy)
        elif path == "/api/v1/provisioning/contact-points" and self.command == "GET":
            self._reply(200, [])
        else:
            self._reply(200, {})

    do_GET = do_POST = do_PUT = _handle

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_grafana() -> Iterator[tuple[str, type[FakeGrafana]]]:
    handler = type(
        "Handler",
        (FakeGrafana,),
        {
            "calls": [],
            "policy": {
                "receiver": "ops",
                "routes": [
                    {"receiver": "old", "object_matchers": [["app", "=", "wearmon"]]},
                    {"receiver": "other-team"},
                ],
            },
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_push_installs_everything_through_the_api(
    fake_grafana: tuple[str, type[FakeGrafana]], dashboards: dict[str, dict[str, Any]]
) -> None:
    url, handler = fake_grafana
    plan = build_plan(url, "ward7@hospital.example")
    push(connect(url, "token", timeout_s=5), plan, log=lambda line: None)
    sent = {(method, path): body for method, path, body in handler.calls}
    assert sent[("POST", "/api/folders")] == {"title": "Wearmon", "uid": "wearmon"}
    posted = [body["dashboard"] for m, p, body in handler.calls if p == "/api/dashboards/db"]
    assert sorted(d["uid"] for d in posted) == sorted(d["uid"] for d in dashboards.values())
    assert ("POST", "/api/v1/provisioning/contact-points") in sent
    groups = [p for m, p, _ in handler.calls if "/rule-groups/" in p]
    assert groups == [
        "/api/v1/provisioning/folder/wearmon/rule-groups/Wearmon%20pipeline",
    ]
    tree = sent[("PUT", "/api/v1/provisioning/policies")]
    assert tree["receiver"] == "ops"
    assert tree["routes"] == [plan.notification_route, {"receiver": "other-team"}]


@pytest.mark.parametrize(
    ("status", "version", "message"),
    [
        (401, "11.3.1", "401 Unauthorized"),
        (403, "11.3.1", "403 Forbidden"),
        (200, "10.4.2", "too old"),
    ],
)
def test_push_explains_auth_and_version_problems(
    fake_grafana: tuple[str, type[FakeGrafana]], status: int, version: str, message: str
) -> None:
    url, handler = fake_grafana
    handler.status, handler.version = status, version
    with pytest.raises(PushError, match=message):
        push(connect(url, "token", timeout_s=5), build_plan(url), log=lambda line: None)
    assert not [call for call in handler.calls if call[0] != "GET"]  # nothing was changed


def test_push_explains_an_unreachable_grafana() -> None:
    with pytest.raises(PushError, match="cannot reach Grafana"):
        push(
            connect("http://127.0.0.1:9", "token", timeout_s=2),
            build_plan("x"),
            log=lambda line: None,
        )


def test_docs_list_every_panel_and_query(
    dashboards: dict[str, dict[str, Any]], rules_doc: dict[str, Any]
) -> None:
    docs = (PROVISIONING_DIR.parents[2] / "docs" / "dashboards.md").read_text(encoding="utf-8")
    for query in [q for d in dashboards.values() for q in dashboard_queries(d)]:
        assert f"**{query.title}**" in docs or f"**${query.title}**" in docs, query.title
        assert f"`{query.query}`" in docs, query.query
    for query in alerting_queries(rules_doc):
        assert f"`{query.query}`" in docs, query.query
