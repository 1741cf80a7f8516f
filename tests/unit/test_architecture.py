"""The house rules a newcomer relies on, checked on the source (imports inside functions and
``TYPE_CHECKING`` blocks included): rooms import each other in one direction only (no circle),
the console does not reach into the worker, the offline rooms (datasets, evaluation) not into the
tool shed, no room holds more than 12 modules, no function is longer than 80 lines, and the pure
rooms stay free of Kafka, Faust and HTTP."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TREES = {"wearmon.stream": REPO / "stream", "wearmon.models": REPO / "models"}
MAX_MODULES_PER_ROOM = 12
MAX_FUNCTION_LINES = 80


def modules() -> Iterator[tuple[str, Path]]:
    for package, root in TREES.items():
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join((package, *parts)), path


def imported(module: str, tree: ast.Module, is_package: bool) -> set[str]:
    """Every ``wearmon.*`` module this one imports (at any depth, ``TYPE_CHECKING`` included)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return {n for n in names if n.startswith("wearmon.")}


def graph() -> dict[str, set[str]]:
    found = dict(modules())
    edges: dict[str, set[str]] = {}
    for module, path in found.items():
        targets = imported(module, ast.parse(path.read_text()), path.name == "__init__.py")
        edges[module] = {t for t in targets if t in found and t != module}
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle, if there is any (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target):], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_no_import_circle() -> None:
    assert cycle(graph()) is None


def test_the_console_does_not_import_the_worker() -> None:
    edges = graph()
    offending = {(module, target) for module, targets in edges.items()
                 if module.startswith("wearmon.stream.console")
                 for target in targets if target.startswith("wearmon.stream.worker")}
    assert offending == set()


def test_the_offline_rooms_do_not_import_the_tools() -> None:
    """Datasets and the evaluation are used by the tool shed (demo, replay, bench), never the
    other way round."""
    edges = graph()
    offline = [m for m in edges if m.startswith(("wearmon.stream.datasets",
                                                  "wearmon.stream.evaluation"))]
    assert len(offline) > 10
    assert {(m, t) for m in offline for t in edges[m]
            if t.startswith("wearmon.stream.tools")} == set()


def test_pure_rooms_do_not_do_io() -> None:
    """``models/``, ``core/`` and ``alerts/`` never import Kafka, Faust, HTTP or InfluxDB."""
    io = ("faust", "aiokafka", "aiohttp", "influxdb_client", "mode")  # (Apprise parses addresses)
    offending = []
    for module, path in modules():
        if module.startswith(("wearmon.models", "wearmon.stream.core", "wearmon.stream.alerts")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offending += [(module, n) for n in names if n.split(".")[0] in io]
    assert offending == []


def test_no_room_holds_more_than_twelve_modules() -> None:
    crowded = {}
    for root in TREES.values():
        for folder in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
            count = len(list(folder.glob("*.py")))
            if count > MAX_MODULES_PER_ROOM:
                crowded[str(folder.relative_to(REPO))] = count
    assert crowded == {}


def test_no_function_is_longer_than_80_lines() -> None:
    long = []
    for module, path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert long == []


def test_the_checks_see_the_whole_tree() -> None:
    edges = graph()
    assert "wearmon.stream.worker.app" in edges and "wearmon.models.suite" in edges
    assert "wearmon.stream.worker.telemetry.process" in edges["wearmon.stream.worker.telemetry"
                                                               ".agent"] | {
        "wearmon.stream.worker.telemetry.process"}
    assert cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
