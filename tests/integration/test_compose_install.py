"""The image's install, built for real: the files ``deploy/Dockerfile`` copies, installed into a
clean venv with the very ``pip install`` command of its ``RUN`` line (the same lock and extras),
then ``-h`` of every ``wearmon`` command docker-compose.yml starts (and of the one-off commands
its comments tell the reader to run). No Docker engine runs here; this is the part of the image
that decides whether its services can start (a console without its extra restarts forever).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
IGNORED = shutil.ignore_patterns("__pycache__", "*.egg-info", ".mypy_cache", ".ruff_cache")


def dockerfile_install() -> tuple[list[str], list[str]]:
    """What the Dockerfile copies into /src, and the arguments of its ``pip install``."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    copied = [word for line in re.findall(r"^COPY\s+(.+)$", text, flags=re.MULTILINE)
              for word in line.split()[:-1]]
    (run,) = re.findall(r"^RUN pip install (.+)$", text, flags=re.MULTILINE)
    return copied, shlex.split(run.split("&&")[0])


def compose_commands() -> list[list[str]]:
    """The ``wearmon`` subcommands compose starts and the one-offs its comments show."""
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    compose: dict[str, Any] = yaml.safe_load(text)
    commands = [service["command"] for service in compose["services"].values()
                if service.get("command", [""])[0] == "wearmon"]
    commands += [shlex.split(found) for found in re.findall(
        r"docker compose (?:run --rm|exec) \w+ (wearmon [\w -]+)", text)]
    image_default = re.findall(r'^CMD \["(\w+)", "(\w+)"\]', DOCKERFILE.read_text(),
                               flags=re.MULTILINE)
    commands += [list(pair) for pair in image_default]
    subcommands = {tuple(subcommand(c)) for c in commands}
    return [list(c) for c in sorted(subcommands)]


def subcommand(command: list[str]) -> list[str]:
    """``wearmon patients set --file …`` → ``wearmon patients set`` (options, paths, values
    and placeholders end it; a command is at most three words deep)."""
    words = []
    for word in command:
        if word.startswith("-") or "/" in word or "$" in word or word[:1].isupper():
            break
        words.append(word)
    return words[:3]


def test_the_image_install_runs_every_command_compose_starts(tmp_path: Path) -> None:
    copied, pip_args = dockerfile_install()
    assert "requirements.lock" in copied and "--constraint" in pip_args
    src = tmp_path / "src"
    src.mkdir()
    for name in copied:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=IGNORED)
        else:
            shutil.copy2(source, src / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WEARMON_", "PIP_REQUIRE", "VIRTUAL_ENV", "PYTHON"))}
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet",
                                "--disable-pip-version-check", *pip_args], cwd=src, env=env,
                               capture_output=True, text=True, timeout=1800)
    assert installed.returncode == 0, installed.stderr[-3000:]

    commands = compose_commands()
    assert ["wearmon", "console"] in commands and ["wearmon", "worker"] in commands
    assert ["wearmon", "console", "add-user"] in commands
    for command in commands:
        done = subprocess.run([str(venv / "bin" / command[0]), *command[1:], "-h"], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "Usage:" in done.stdout, (command, done.stdout,
                                                                  done.stderr[-2000:])
        assert "optional extra" not in done.stdout + done.stderr, command
