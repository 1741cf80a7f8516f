"""The evaluation report in a real browser (Debian's Chromium driven by Playwright).

A clinician's first screen must answer "is it better than the published rules, at which alarm
rate, and what does that mean for my ward": the verdict table is visible without scrolling,
says met or missed for every figure, names a published rule, and the ward's sentence and the
operating-curve plot follow. Plots are shown at their own size (never stretched) with alt text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import sync_playwright

from tests.unit.datadir import DATA_DIR, require
from wearmon.stream.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.data]
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(DATA_DIR / "covid-daily")
    out = tmp_path_factory.mktemp("covid")
    result = CliRunner().invoke(main, [
        "evaluate", "--dataset", "covid-daily", "--data-dir", str(DATA_DIR), "--out", str(out),
        "--max-patients", "6", "--baselines", "--no-progress"])
    assert result.exit_code == 0, result.output
    return out / "report.html"


def test_the_first_screen_holds_the_verdict_and_the_curve_follows(report: Path) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(report.as_uri())
            verdict = page.locator("table#verdict")
            box = verdict.bounding_box()
            assert box is not None and box["y"] < VIEWPORT["height"] / 2  # no scrolling
            rows = verdict.locator("tr")
            assert rows.count() >= 4  # header + at least three figures
            verdicts = verdict.locator("td.met, td.missed").all_inner_texts()
            assert len(verdicts) == rows.count() - 1
            assert set(verdicts) <= {"met", "missed"}
            text = verdict.inner_text()
            assert "false alert-days per patient-month" in text and "published rule" in text
            assert "NightSignal" in text or "CuSum" in text
            ward = page.locator("#ward + p").inner_text()
            assert "patients" in ward and "alerts a week" in ward
            curve = page.locator("img#curve-plot")
            curve.scroll_into_view_if_needed()
            shown = curve.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight, "
                                   "i.clientWidth, i.clientHeight, i.alt]")
            complete, natural_w, natural_h, width, height, alt = shown
            assert complete and natural_w > 400 and natural_h > 300
            assert (width, height) == (natural_w, natural_h)  # at its own size
            assert alt.startswith("Operating curves") and "Wearmon" in alt
            for img in page.locator("section.person img").all()[:3]:
                w, nw, alt_text = img.evaluate("i => [i.clientWidth, i.naturalWidth, i.alt]")
                assert w == nw and len(alt_text) > 30
            toc = page.locator("nav a").all_inner_texts()
            assert toc[:3] == ["Verdict", "What this means for a ward", "Operating curves"]
        finally:
            browser.close()
