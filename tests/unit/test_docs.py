"""The docs stay true: every setting is documented (docs/configuration.md) and every local link of
the README resolves."""

from __future__ import annotations

import re
from pathlib import Path

from wearmon.stream.config import all_variables, markdown

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
TEST_ONLY = {"WEARMON_SOAK_RUNS"}


def test_the_configuration_doc_names_every_setting() -> None:
    missing = [name for name in all_variables() if f"`{name}`" not in CONFIGURATION]
    assert not missing, f"docs/configuration.md lacks {missing}"


def test_the_configuration_doc_is_generated_from_the_settings() -> None:
    assert markdown() == CONFIGURATION, "run: wearmon settings --markdown > docs/configuration.md"


def test_the_docs_name_only_real_settings() -> None:
    known = set(all_variables())
    for text in (README, CONFIGURATION):
        named = set(re.findall(r"`(WEARMON_[A-Z0-9_]+)`", text))
        assert named - known - TEST_ONLY == set()


def test_readme_links_resolve() -> None:
    targets = re.findall(r"\]\(((?!https?://)[^)#\s]+)", README)
    assert targets
    assert [t for t in targets if not (ROOT / t).exists()] == []
