"""The README stays true: every setting is documented and every local link resolves."""

from __future__ import annotations

import re
from pathlib import Path

from wearmon.stream.config import variables

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_names_every_setting() -> None:
    missing = [name for name, _ in variables() if f"`{name}`" not in README]
    assert not missing, f"README's configuration table lacks {missing}"


def test_readme_names_only_real_settings() -> None:
    known = {name for name, _ in variables()}
    named = set(re.findall(r"`(WEARMON_[A-Z0-9_]+)`", README))
    test_only = {"WEARMON_SOAK_RUNS"}
    assert named - known - test_only == set()


def test_readme_links_resolve() -> None:
    targets = re.findall(r"\]\(((?!https?://)[^)#\s]+)", README)
    assert targets
    assert [t for t in targets if not (ROOT / t).exists()] == []
