"""docker-compose.yml, .env.example and deploy/Dockerfile, checked by reading them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from wearmon.stream.config import KafkaSettings, all_variables, variables_only
from wearmon.stream.core.patients import PatientSettings
from wearmon.stream.datasets.simulator import Simulator
from wearmon.stream.kafka import new_topic, topic_names

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"kafka", "influxdb", "grafana", "worker", "sink", "simulator", "mailpit", "gateway",
            "enrol", "prometheus", "alertmanager", "console", "fhir-export"}
INTERPOLATION = re.compile(r"\$\{(\w+)(?:[:?+-][^}]*)?\}")


@pytest.fixture(scope="module")
def compose_text() -> str:
    return (ROOT / "docker-compose.yml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(compose_text)
    return data


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def strings(data: object) -> list[str]:
    """Every string value in parsed YAML."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for value in data.values() for s in strings(value)]
    if isinstance(data, list):
        return [s for value in data for s in strings(value)]
    return []


def setting_env_names() -> set[str]:
    return set(all_variables())


def test_compose_has_every_service(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    (base,) = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert re.fullmatch(r"python:3\.11[\w.]*-slim-bookworm", base), base


def test_dockerfile_runs_as_a_non_root_user_and_installs_the_package() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r"^RUN pip install --constraint requirements\.lock \"?\.\[console\]",
                     dockerfile, flags=re.MULTILINE)  # the console service needs its extra


def test_compose_refuses_to_start_with_the_example_secrets(
    compose_text: str, env_example: dict[str, str]
) -> None:
    """Every variable compose requires (``${VAR:?…}``: an error when unset or empty) is empty
    in .env.example: a stack started from a copy of it stops until real secrets are set,
    instead of running with secrets published in this repository."""
    required = set(re.findall(r"\$\{(\w+):\?", compose_text))
    assert {"WEARMON_INFLUX_TOKEN", "WEARMON_API_TOKEN", "WEARMON_CONSOLE_SECRET_KEY",
            "INFLUXDB_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} <= required
    assert {name: env_example[name] for name in required} == dict.fromkeys(required, "")
    for name, value in env_example.items():  # nothing else looks like a secret placeholder
        assert "change-me" not in value.lower() and "changeme" not in value.lower(), name


def test_infrastructure_has_healthchecks_and_dependents_wait_for_them(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in ("kafka", "influxdb", "grafana", "mailpit", "worker", "sink", "gateway",
                 "console", "fhir-export"):
        assert services[name]["healthcheck"]["test"], name
    # the worker and the sinks are healthy only while they keep up (readiness, not liveness)
    for name in ("worker", "sink", "fhir-export"):
        assert "/ready" in str(services[name]["healthcheck"]["test"]), name
    for name, needs in {
        "worker": {"kafka"},
        "sink": {"kafka", "influxdb"},
        "grafana": {"influxdb", "mailpit"},
        "simulator": {"kafka", "gateway"},
        "gateway": {"kafka"},
        "enrol": {"kafka"},
        "console": {"kafka"},
        "fhir-export": {"kafka"},
    }.items():
        depends = services[name]["depends_on"]
        for dependency in needs:
            assert depends[dependency]["condition"] == "service_healthy", (name, dependency)


def test_every_port_is_bound_to_localhost(compose: dict[str, Any]) -> None:
    published = 0
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
            published += 1
    assert published >= 6


def test_worker_is_scalable(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"] == ["wearmon", "worker"]
    assert compose["services"]["simulator"]["command"][:3] == ["wearmon", "simulate", "--patients"]


def test_grafana_mounts_the_provisioning(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    assert grafana["image"].startswith("grafana/grafana:11.3.")
    mounts = {volume.split(":")[1] for volume in grafana["volumes"]}
    for kind in ("datasources", "dashboards", "alerting"):
        assert f"/etc/grafana/provisioning/{kind}" in mounts
        assert (ROOT / "deploy" / "grafana" / "provisioning" / kind).is_dir()
    environment = grafana["environment"]
    assert environment["GF_SMTP_HOST"] == "mailpit:1025"
    # the provisioning files read these from Grafana's environment
    for path in (ROOT / "deploy" / "grafana" / "provisioning").rglob("*.yaml"):
        for value in strings(yaml.safe_load(path.read_text(encoding="utf-8"))):
            for variable in re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", value):
                assert variable in environment, (path.name, variable)


def test_influxdb_is_initialised_with_the_wearmon_bucket_and_token(
    compose: dict[str, Any],
) -> None:
    environment = compose["services"]["influxdb"]["environment"]
    assert compose["services"]["influxdb"]["image"].startswith("influxdb:2.")
    assert environment["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert "WEARMON_INFLUX_DB" in environment["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert "WEARMON_INFLUX_TOKEN" in environment["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]


def test_kafka_runs_kraft_on_the_official_image(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_env_example_documents_every_compose_variable(
    compose_text: str, env_example: dict[str, str]
) -> None:
    used = set(INTERPOLATION.findall(compose_text))
    assert used, "compose uses no variables?"
    assert used <= set(env_example), sorted(used - set(env_example))


def test_wearmon_variables_are_settings_fields(
    compose: dict[str, Any], compose_text: str, env_example: dict[str, str]
) -> None:
    names = set(INTERPOLATION.findall(compose_text)) | set(env_example)
    for service in compose["services"].values():
        environment = service.get("environment") or {}
        names |= set(environment)
    wearmon = {name for name in names if name.startswith("WEARMON_")}
    assert {
        "WEARMON_BROKER",
        "WEARMON_INFLUX_URL",
        "WEARMON_INFLUX_DB",
        "WEARMON_INFLUX_TOKEN",
    } <= wearmon
    assert wearmon <= setting_env_names(), sorted(wearmon - setting_env_names())


def test_env_example_values_are_valid_settings(env_example: dict[str, str]) -> None:
    settings = variables_only({name: value for name, value in env_example.items()
                               if name.startswith("WEARMON_") and value})  # secrets: unset
    # the host's view of the stack, for `wearmon` commands next to it
    assert settings.kafka.broker_urls == [f"kafka://127.0.0.1:{env_example['KAFKA_HOST_PORT']}"]
    assert settings.influx.url == f"http://127.0.0.1:{env_example['INFLUXDB_HOST_PORT']}"


def test_containers_reach_the_services_by_their_compose_names(compose: dict[str, Any]) -> None:
    for name in ("worker", "gateway", "simulator", "enrol"):
        environment = compose["services"][name]["environment"]
        assert environment["WEARMON_BROKER"] == "kafka://kafka:9092", name
        assert environment["WEARMON_INFLUX_URL"] == "http://influxdb:8086", name


def command_option(command: list[str], option: str) -> str:
    return command[command.index(option) + 1]


def test_the_simulator_runs_forever_through_the_gateway(compose: dict[str, Any]) -> None:
    services = compose["services"]
    simulator = services["simulator"]
    command = simulator["command"]
    assert "--forever" in command and simulator["restart"] == "unless-stopped"
    gateway = services["gateway"]
    port = gateway["environment"]["WEARMON_GATEWAY_PORT"]
    assert command_option(command, "--via-gateway") == f"http://gateway:{port}"
    assert gateway["command"] == ["wearmon", "gateway"]
    assert gateway["environment"]["WEARMON_GATEWAY_HOST"] == "0.0.0.0"
    assert f":{port}" in gateway["ports"][0] and f"127.0.0.1:{port}/health" in str(
        gateway["healthcheck"]["test"])
    assert simulator["depends_on"]["enrol"]["condition"] == "service_completed_successfully"


def test_enrolled_demo_patients_are_simulated_and_notified_through_mailpit(
    compose: dict[str, Any],
) -> None:
    enrol = compose["services"]["enrol"]
    assert enrol["command"][:3] == ["wearmon", "patients", "set"]
    host, container = enrol["volumes"][0].split(":")[:2]
    files = [arg for arg in enrol["command"] if arg.startswith(container)]
    assert len(files) >= 3
    simulator = compose["services"]["simulator"]["command"]
    seed = int(command_option(simulator, "--seed"))
    sim = Simulator(int(command_option(simulator, "--patients").split(":-")[1].rstrip("}")),
                    0, 60, seed=seed)
    simulated = {(p.patient_id, p.device_id) for p in sim.patients}
    for path in files:
        local = ROOT / host / Path(path).relative_to(container)
        settings = PatientSettings.from_json(local.read_bytes())
        assert (settings.patient_id, settings.devices[0]) in simulated
        for recipient in (*settings.care_team, *settings.patient_recipients):
            assert recipient.url.get_secret_value().startswith("mailto://mailpit:1025?")


def test_prometheus_is_optional_and_scrapes_workers_and_gateway(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["metrics"]
    host = prometheus["volumes"][0].split(":")[0]
    config = yaml.safe_load((ROOT / host).read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["wearmon-worker"]["dns_sd_configs"][0] == {"names": ["worker"], "type": "A",
                                                           "port": 6066}
    assert jobs["wearmon-gateway"]["static_configs"][0]["targets"] == ["gateway:8080"]
    worker = compose["services"]["worker"]["environment"]
    assert worker["WEARMON_WEB_HOST"] == "0.0.0.0"  # reachable by Prometheus, no host port


def test_topics_fit_the_compose_kafka(compose: dict[str, Any]) -> None:
    """The compose cluster can hold the replicas Wearmon asks for, and the registries that must
    never expire (patients, devices, the wards' monitoring) are created compacted."""
    nodes = [s for s in compose["services"].values()
             if str(s.get("image", "")).startswith("apache/kafka:")]
    worker_env = compose["services"]["worker"]["environment"]
    factor = int(re.sub(r"\$\{[^:}]+:-(\d+)\}", r"\1", str(worker_env.get(
        "WEARMON_REPLICATION_FACTOR", KafkaSettings.model_fields["replication_factor"].default))))
    assert 1 <= factor <= len(nodes)
    kafka_env = nodes[0]["environment"]
    assert int(kafka_env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) <= len(nodes)
    settings = variables_only({"WEARMON_REPLICATION_FACTOR": str(factor)})
    topics = {name: new_topic(settings, name) for name in topic_names(settings)}
    assert {t.replication_factor for t in topics.values()} == {factor}
    compacted = {name for name, t in topics.items()
                 if t.topic_configs.get("cleanup.policy") == "compact"}
    assert compacted == {settings.topics.patients, settings.topics.devices,
                         settings.topics.monitoring}


def test_the_fhir_exporter_is_optional_and_reads_its_server_from_the_env_file(
    compose: dict[str, Any], env_example: dict[str, str],
) -> None:
    """Off unless its profile is asked for; without a FHIR server in .env it stops with one line
    (the variables default to empty, so that compose itself never needs them)."""
    exporter = compose["services"]["fhir-export"]
    assert exporter["profiles"] == ["fhir"]
    assert exporter["command"] == ["wearmon", "fhir-export"]
    environment = exporter["environment"]
    assert environment["WEARMON_FHIR_BASE_URL"] == "${WEARMON_FHIR_BASE_URL:-}"
    assert environment["WEARMON_FHIR_HOST"] == "0.0.0.0" and "ports" not in exporter
    port = variables_only({}).fhir.port
    assert f"127.0.0.1:{port}/ready" in str(exporter["healthcheck"]["test"])
    assert env_example["WEARMON_FHIR_BASE_URL"] == "" and env_example["WEARMON_FHIR_TOKEN"] == ""
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["wearmon-fhir-export"]["dns_sd_configs"][0] == {
        "names": ["fhir-export"], "type": "A", "port": port}
