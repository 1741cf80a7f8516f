"""Monitoring the monitor: deploy/prometheus/ (alerting rules, their promtool unit tests, the
Prometheus and Alertmanager configs) is checked with Debian's promtool and amtool, and against
the metrics the worker, the sink and the gateway really expose.

promtool and amtool come from Debian's prometheus and prometheus-alertmanager packages
(`make prometheus`, `.ci/run`): without them these tests fail, they never skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath
from typing import Any

import aiohttp
import pytest
import yaml
from aiokafka import TopicPartition
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from wearmon.stream.config import InfluxSettings, all_variables
from wearmon.stream.gateway.metrics import GatewayMetrics
from wearmon.stream.notify.deliver import DeliveryStatus
from wearmon.stream.sinks.influx import InfluxWriter
from wearmon.stream.sinks.metrics import SinkCollector, SinkState
from wearmon.stream.worker.metrics import StateCollector, WorkerGauges
from wearmon.stream.worker.status import WorkerStatus

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "rules" / "wearmon.yml"
RULE_TESTS = PROMETHEUS_DIR / "tests" / "wearmon_test.yml"
ALERTMANAGER = PROMETHEUS_DIR / "alertmanager.yml"
SELECTOR = re.compile(r"\b(wearmon_\w+)(?:\{([^}]*)\})?")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')


def run(tool: str, *args: str) -> str:
    """Run a Debian Prometheus tool; its output, after asserting that it succeeded."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: run `make prometheus` (Debian's prometheus and "
                    "prometheus-alertmanager packages)")
    done = subprocess.run([path, *args], capture_output=True, text=True, timeout=120,
                          check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def alerting_rules() -> list[dict[str, Any]]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"]]


def compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = load(ROOT / "docker-compose.yml")["services"][name]
    return service


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Container path → (host path, mode) of a compose service's bind mounts."""
    out = {}
    for volume in service["volumes"]:
        host, container, *mode = volume.split(":")
        out[container] = (host, mode[0] if mode else "rw")
    return out


def test_the_rules_pass_promtool_check() -> None:
    rules = alerting_rules()
    assert len(rules) >= 12
    assert all("alert" in rule for rule in rules)  # alerting rules only, no recording rules
    assert f"SUCCESS: {len(rules)} rules found" in run("promtool", "check", "rules", str(RULES))


def test_the_rules_unit_tests_pass() -> None:
    assert "SUCCESS" in run("promtool", "test", "rules", str(RULE_TESTS))


def test_every_rule_fires_and_stays_silent_in_the_unit_tests() -> None:
    tests = load(RULE_TESTS)
    assert [str(RULE_TESTS.parent / f) for f in tests["rule_files"]] == [
        str(RULE_TESTS.parent / "../rules/wearmon.yml")]
    firing: dict[str, int] = defaultdict(int)
    silent: dict[str, int] = defaultdict(int)
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check.get("exp_alerts") else silent)[check["alertname"]] += 1
    names = {rule["alert"] for rule in alerting_rules()}
    # a misspelt name would pass as "silent" for ever
    assert set(firing) | set(silent) <= names, sorted((set(firing) | set(silent)) - names)
    assert not names - set(firing), f"never fires in a test: {sorted(names - set(firing))}"
    assert not names - set(silent), f"never silent in a test: {sorted(names - set(silent))}"


def test_every_rule_tells_the_care_team_what_it_means_and_what_to_do_first() -> None:
    names = [rule["alert"] for rule in alerting_rules()]
    assert len(names) == len(set(names))
    for rule in alerting_rules():
        labels, annotations = rule["labels"], rule["annotations"]
        assert labels["severity"] in {"critical", "warning"}, rule["alert"]
        assert labels["app"] == "wearmon" and labels["team"] == "ops", rule["alert"]
        assert set(annotations) == {"summary", "description"}, rule["alert"]
        assert "First: " in annotations["description"], rule["alert"]
        assert rule["alert"].startswith("Wearmon"), rule["alert"]
    named = set(re.findall(r"WEARMON_[A-Z0-9_]+", RULES.read_text(encoding="utf-8")))
    assert named and named <= set(all_variables()), sorted(named - set(all_variables()))


async def exposed_metrics() -> dict[str, set[str]]:
    """Every sample name the worker, the sink and the gateway expose, with its label names
    (counters without children yet: ``NAME_total`` and no labels known)."""
    status = WorkerStatus(directory_ready=True)
    status.assigned({0: 0}, now_s=1.0)
    status.handled(Counter(uploads=1), {0: 1}, {0: 1_000}, now_s=2.0)
    registry = CollectorRegistry()
    registry.register(StateCollector(lambda: WorkerGauges(0, 0, 0), status, lambda: True))
    async with aiohttp.ClientSession() as session:
        writer = InfluxWriter(InfluxSettings(url="http://127.0.0.1:9"), session)
        sink = SinkCollector(writer, SinkState(ends={TopicPartition("wearmon.points", 0): 3}),
                             lambda: True)
        registry.register(sink)
        text = b"".join([generate_latest(REGISTRY), generate_latest(registry),
                         GatewayMetrics(*[lambda: 0] * 4).exposition()]).decode()
    exposed: dict[str, set[str]] = defaultdict(set)
    for family in text_string_to_metric_families(text):
        if family.type == "counter":
            exposed.setdefault(f"{family.name}_total", set())
        for sample in family.samples:
            exposed[sample.name] |= set(sample.labels)
    return exposed


async def test_the_rules_use_metrics_and_labels_that_exist() -> None:
    exposed = await exposed_metrics()
    for rule in alerting_rules():
        selectors = SELECTOR.findall(rule["expr"])
        # every rule but the scrape rules (up) reads a Wearmon metric
        assert selectors or rule["expr"].startswith("up{"), rule["alert"]
        for name, matchers in selectors:
            assert name in exposed, f"{rule['alert']}: no metric {name} is exposed"
            for label, _, _ in MATCHER.findall(matchers):
                if exposed[name] and label not in {"job", "instance"}:
                    assert label in exposed[name], (rule["alert"], name, label)
    # the values the rules match on
    failing = re.findall(r'reason=~"([^"]*)"', RULES.read_text(encoding="utf-8"))
    assert {v for alternatives in failing for v in alternatives.split("|")} == {
        "credentials", "database", "unreachable", "server"}
    assert 'status="failed"' in RULES.read_text(encoding="utf-8")
    assert DeliveryStatus.FAILED.value == "failed"


def test_the_rules_name_only_scraped_jobs() -> None:
    config = load(CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    used = set(re.findall(r'job="([^"]+)"', RULES.read_text(encoding="utf-8")))
    assert used == {"wearmon-worker", "wearmon-sink", "wearmon-gateway"}
    assert used <= set(jobs)
    assert jobs["wearmon-sink"]["dns_sd_configs"] == [{"names": ["sink"], "type": "A",
                                                       "port": 6067}]


def test_prometheus_loads_the_rules_file() -> None:
    """The config's rule_files, resolved as Prometheus does (relative to the config file), find
    the rules both here and in the container; promtool checks them through the config."""
    patterns = load(CONFIG)["rule_files"]
    assert sorted(p for pattern in patterns for p in CONFIG.parent.glob(pattern)) == [RULES]
    output = run("promtool", "check", "config", str(CONFIG))
    assert "SUCCESS: 1 rule files found" in output
    assert f"SUCCESS: {len(alerting_rules())} rules found" in output
    prometheus = compose_service("prometheus")
    volumes = mounts(prometheus)
    config_in_container = PurePosixPath("/etc/prometheus/prometheus.yml")
    assert volumes[str(config_in_container)] == ("./deploy/prometheus/prometheus.yml", "ro")
    for pattern in patterns:
        folder = (config_in_container.parent / pattern).parent
        assert volumes[str(folder)] == ("./deploy/prometheus/rules", "ro")
        assert (ROOT / volumes[str(folder)][0]).resolve() == RULES.parent


def test_alertmanager_config_is_valid_and_wired() -> None:
    assert "SUCCESS" in run("amtool", "check-config", str(ALERTMANAGER))
    service = compose_service("alertmanager")
    assert service["profiles"] == compose_service("prometheus")["profiles"] == ["metrics"]
    assert mounts(service)["/etc/alertmanager/alertmanager.yml"] == (
        "./deploy/prometheus/alertmanager.yml", "ro")
    targets = [target for entry in load(CONFIG)["alerting"]["alertmanagers"]
               for static in entry["static_configs"] for target in static["targets"]]
    assert targets == ["alertmanager:9093"]
    assert any(port.endswith(":9093") for port in service["ports"])
    config = load(ALERTMANAGER)
    assert config["global"]["smtp_smarthost"] == "mailpit:1025"
    assert "mailpit" in service["depends_on"]
    names = {rule["alert"] for rule in alerting_rules()}
    inhibited = " ".join(str(rule) for rule in config["inhibit_rules"])
    for alternatives in re.findall(r'alertname=~?"([^"]+)"', inhibited):
        assert set(alternatives.split("|")) <= names, alternatives


def test_the_deploy_guide_explains_every_rule() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = guide.split("### Monitoring the monitor", 1)[1].split("\n## ", 1)[0]
    for rule in alerting_rules():
        assert f"`{rule['alert']}`" in section, rule["alert"]
