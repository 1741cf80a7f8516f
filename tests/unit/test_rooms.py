"""The rooms of ``stream/``: the offline ones never reach into the tool shed, and stay small.

``stream/datasets/`` (readers, uploads, simulator) and ``stream/evaluation/`` (``wearmon
evaluate``) are used by the tools (demo, replay, bench), never the other way round; checked on
the import statements themselves (``ast``), those inside functions and ``TYPE_CHECKING`` blocks
included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STREAM = Path(__file__).resolve().parents[2] / "stream"
TOOLS = "wearmon.stream.tools"
OFFLINE_ROOMS = ("datasets", "evaluation")
MAX_MODULES = 12
#: the rooms checked for size so far (a room is a folder with an ``__init__.py``)
SMALL_ROOMS = ("datasets", "evaluation", "evaluation/runs", "tools", "tools/bench")


def package_of(path: Path) -> str:
    """The dotted package a source file under ``stream/`` belongs to (``__init__``: itself)."""
    folder = path.parent.relative_to(STREAM).parts
    return ".".join(("wearmon", "stream", *folder))


def imported_modules(source: str, package: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` statement in ``source`` names, at any
    depth; relative imports are resolved against ``package``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def tool_imports(path: Path) -> list[str]:
    names = imported_modules(path.read_text(), package_of(path))
    return sorted(n for n in names if n == TOOLS or n.startswith(f"{TOOLS}."))


def test_imports_inside_functions_and_relative_ones_are_found() -> None:
    source = ("from . import results\n"
              "from ..cli import main\n"
              "def f():\n    from wearmon.stream.tools.demo import run\n"
              "if True:\n    import wearmon.stream.tools.services as services\n")
    names = imported_modules(source, "wearmon.stream.evaluation.runs")
    assert {"wearmon.stream.evaluation.runs.results", "wearmon.stream.evaluation.cli.main",
            "wearmon.stream.tools.demo", "wearmon.stream.tools.services"} <= names


@pytest.mark.parametrize("room", OFFLINE_ROOMS)
def test_offline_rooms_do_not_import_the_tools(room: str) -> None:
    files = sorted((STREAM / room).rglob("*.py"))
    assert len(files) > 5
    offenders = {str(p.relative_to(STREAM)): tool_imports(p) for p in files}
    assert {name: found for name, found in offenders.items() if found} == {}


@pytest.mark.parametrize("room", SMALL_ROOMS)
def test_a_room_holds_at_most_twelve_modules(room: str) -> None:
    modules = sorted(p.name for p in (STREAM / room).glob("*.py"))
    assert "__init__.py" in modules
    assert len(modules) <= MAX_MODULES, modules
