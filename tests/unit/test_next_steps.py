"""The wards' suggested next steps: defaults from the NEWS2 response, overrides per ward."""

from __future__ import annotations

from pathlib import Path

import pytest

from wearmon.stream.config import ConfigError, variables_only
from wearmon.stream.notify.next_steps import (
    DEFAULTS,
    FALLBACK,
    NextSteps,
    NextStepsError,
    load_next_steps,
    next_steps_of,
)


def test_the_most_specific_line_wins() -> None:
    steps = NextSteps.from_doc({
        "Ward A": {"desaturation:critical": "A critical", "desaturation": "A any"},
        "*": {"desaturation": "every ward", "bradycardia:warning": "every ward, warning"}})
    assert steps.suggest("Ward A", "desaturation", "critical") == "A critical"
    assert steps.suggest("Ward A", "desaturation", "warning") == "A any"
    assert steps.suggest("Ward B", "desaturation", "critical") == "every ward"
    assert steps.suggest("Ward B", "bradycardia", "warning") == "every ward, warning"
    assert steps.suggest("Ward B", "bradycardia", "critical") == DEFAULTS["bradycardia:critical"]
    assert steps.suggest("Ward B", "something_new", "info") == FALLBACK


def test_critical_defaults_follow_the_news2_red_score_response() -> None:
    for kind in ("tachycardia_at_rest", "bradycardia", "desaturation"):
        assert "inform the doctor urgently" in DEFAULTS[f"{kind}:critical"]
        assert "inform the doctor urgently" not in NextSteps().suggest("", kind, "warning")
    assert "Emergency response" in DEFAULTS["news2_partial:critical"]


@pytest.mark.parametrize(("doc", "problem"), [
    ([], "JSON object of wards"),
    ({"Ward A": "x"}, "Ward A: must be an object"),
    ({"Ward A": {"desaturation": ""}}, "Ward A.desaturation: must be a non-empty string"),
    ({"Ward A": {"desaturation": "two\nlines"}}, "one line"),
    ({"Ward A": {"desaturation": "x" * 300}}, "one line of at most 240"),
])
def test_bad_files_are_refused_saying_where(doc: object, problem: str) -> None:
    with pytest.raises(NextStepsError, match=problem):
        NextSteps.from_doc(doc)


def test_the_setting_names_the_variable_when_the_file_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "steps.json"
    path.write_text('{"Ward A": {"desaturation": "Call bleep 1234."}}', encoding="utf-8")
    settings = variables_only({"WEARMON_NOTIFY_NEXT_STEPS_FILE": str(path)})
    assert next_steps_of(settings.notify).suggest("Ward A", "desaturation", "warning") \
        == "Call bleep 1234."
    assert load_next_steps("") == NextSteps()
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"WEARMON_NOTIFY_NEXT_STEPS_FILE: .*steps\.json"):
        next_steps_of(settings.notify)
