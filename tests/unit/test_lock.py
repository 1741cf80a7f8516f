"""requirements.lock pins every dependency of pyproject.toml, and the installs use it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"


def locked_versions(text: str) -> dict[str, Version]:
    """``name==version`` lines of a lock file (comments and markers ignored)."""
    pins: dict[str, Version] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"not an exact pin in the lock: {line!r}"
        pins[canonicalize_name(name)] = Version(version.strip())
    return pins


def declared_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        declared += [Requirement(r) for r in extra]
    return [r for r in declared if canonicalize_name(r.name) != canonicalize_name(project["name"])]


def test_every_dependency_is_pinned_at_a_version_that_satisfies_pyproject() -> None:
    pins = locked_versions(LOCK.read_text(encoding="utf-8"))
    requirements = declared_requirements()
    assert len(requirements) > 20
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, pyproject.toml wants "
            f"{requirement.specifier}: run `make lock`")


def test_locked_versions_parse_markers_and_comments() -> None:
    text = "# header\naiohttp==3.14.5\n    # via x\nnumpy==2.4.6 ; python_version < '3.12'\n"
    assert locked_versions(text) == {"aiohttp": Version("3.14.5"), "numpy": Version("2.4.6")}


def test_installs_use_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"pip install .*-r \$\(LOCK\)", makefile)
    assert re.search(r"pip install .*--no-deps -e \.", makefile)
    assert re.search(r"^lock:", makefile, flags=re.MULTILINE)
    assert "uv pip compile pyproject.toml --extra dev" in makefile
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"pip install --constraint requirements\.lock \"?\.", dockerfile)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def test_the_licence_is_an_spdx_string() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"
