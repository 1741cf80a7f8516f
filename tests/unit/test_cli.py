"""The command line as a new user meets it: version, help everywhere, examples, fast errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from wearmon.stream.cli import main
from wearmon.stream.config import all_variables
from wearmon.stream.core.patients import PatientSettings
from wearmon.stream.tools.services import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += commands(command, (*prefix, name))
    return found


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"wearmon {version('wearmon')}\n"


def test_every_command_answers_dash_h() -> None:
    names = commands(main)
    assert {("worker",), ("gateway",), ("devices", "issue"), ("patients", "set"),
            ("alerts", "snooze"), ("simulate",)} <= set(names)
    for path in [(), *names]:
        result = CliRunner().invoke(main, [*path, "-h"])
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith("Usage: "), path


def test_worker_help_lists_every_environment_variable() -> None:
    text = CliRunner().invoke(main, ["worker", "--help"], terminal_width=200).output
    for name in all_variables(("kafka", "topics", "uploads", "worker", "api", "notify",
                               "console")):
        assert re.search(rf"^  {name} +(default|unset|secret)", text, re.M), name
    # the gateway's and the sink's sections are not the worker's (it needs no InfluxDB)
    assert "WEARMON_GATEWAY_PORT" not in text and "WEARMON_INFLUX_URL" not in text
    assert re.search(r"WEARMON_API_TOKEN +secret\.", text)  # secrets: no value shown
    assert re.search(r"WEARMON_PARTITIONS +default 4\. Partitions of every", text)


def test_example_settings_files_parse_and_are_referenced_from_help() -> None:
    files = sorted(EXAMPLES.rglob("*.json"))
    assert len(files) >= 5
    for path in files:
        PatientSettings.from_json(path.read_bytes())
    text = CliRunner().invoke(main, ["patients", "set", "-h"], terminal_width=200).output
    for name in ("docs/examples/patient-minimal.json", "docs/examples/patient-full.json"):
        assert name in text and (REPO / name).is_file()


def test_snooze_help_says_how_long() -> None:
    text = CliRunner().invoke(main, ["alerts", "snooze", "-h"]).output
    assert "--minutes" in text and "until a time" not in text


def run_cli(args: list[str], cwd: Path, **env: str
            ) -> tuple[subprocess.CompletedProcess[str], float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WEARMON_")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "wearmon", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=60, env={**clean, **env})
    return done, time.monotonic() - started


@pytest.mark.parametrize("args", [["patients", "list"], ["worker"], ["simulate"],
                                  ["devices", "list"], ["gateway"]])
def test_an_unreachable_broker_from_dotenv_fails_fast_in_one_line(
        tmp_path: Path, args: list[str]) -> None:
    broker = f"kafka://127.0.0.1:{free_port()}"  # nothing listens there
    (tmp_path / ".env").write_text(f"WEARMON_BROKER={broker}\n")
    done, seconds = run_cli(args, tmp_path)
    assert done.returncode != 0
    assert seconds < 15
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr  # one line, no traceback, no retry noise
    assert broker in done.stderr and "WEARMON_BROKER" in done.stderr


def test_bad_ids_and_certificates_are_refused_before_connecting(tmp_path: Path) -> None:
    done, _ = run_cli(["devices", "issue", "bad id", "--patient", "p-0001"], tmp_path)
    assert done.returncode == 1 and "device id must match" in done.stderr
    missing = str(tmp_path / "missing.pem")
    done, _ = run_cli(["gateway"], tmp_path, WEARMON_GATEWAY_TLS_CERT=missing,
                      WEARMON_GATEWAY_TLS_KEY=missing)
    assert done.returncode != 0 and done.stderr.count("\n") == 1
    assert "WEARMON_GATEWAY_TLS_CERT" in done.stderr


def test_the_fhir_export_is_off_until_it_has_a_server(tmp_path: Path) -> None:
    broker = f"kafka://127.0.0.1:{free_port()}"  # not even asked: the export is off
    done, seconds = run_cli(["fhir-export"], tmp_path, WEARMON_BROKER=broker)
    assert done.returncode == 2 and seconds < 15 and done.stderr.count("\n") == 1
    assert "The FHIR export is off: set WEARMON_FHIR_BASE_URL" in done.stderr
    done, _ = run_cli(["fhir-export"], tmp_path, WEARMON_FHIR_BASE_URL="http://127.0.0.1:9",
                      WEARMON_FHIR_CLIENT_ID="wearmon")
    assert done.returncode == 2 and done.stderr.count("\n") == 2, done.stderr
    assert "WEARMON_FHIR_PRIVATE_KEY_FILE" in done.stderr
