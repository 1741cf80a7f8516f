"""The docstring examples of every module under ``wearmon`` run as tests (as River's do)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import wearmon.models
import wearmon.stream

MODULES = sorted(
    info.name
    for package in (wearmon.stream, wearmon.models)
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
    if not info.name.endswith("__main__")
)


def test_modules_are_found() -> None:
    assert "wearmon.models.suite" in MODULES and "wearmon.stream.core.pipeline" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
