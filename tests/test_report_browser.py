"""The report as a finance officer reads it: headless Chromium at 1280 px, on reports ``grants report`` wrote.

The charts must read without tooltips (axes, tick labels, a legend), no funded bar may
stand past the budget line (which reads as overspending), the ranking table must not push
the page wider than the window nor hide the outcome column, and nothing a reader sees is
a hash.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import ARGS, CHROMIUM

ROOT = Path(__file__).resolve().parents[1]
GRANTS = Path(sys.executable).parent / "grants"
VIEWPORT = {"width": 1280, "height": 900}
CALLS = ["see_2007_2013_call4", "interreg_europe_2016_call2", "cosme_cluster_2020"]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module", params=CALLS)
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = ROOT / "calls" / request.param
    out = tmp_path_factory.mktemp(request.param)
    command = [GRANTS, "report", folder / "call.yaml", folder / "proposals.yaml", "--out", out]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return out


def _page(browser: Any, path: Path) -> Any:
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(path.as_uri())
    return page


def test_the_ranking_fits_the_window_with_its_outcome_column_in_view(browser: Any, report: Path) -> None:
    page = _page(browser, report / "index.html")
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    outcome = page.locator("table.ranking th", has_text=re.compile(r"^outcome$")).bounding_box()
    assert outcome is not None and outcome["x"] + outcome["width"] <= VIEWPORT["width"]


def test_the_charts_have_axes_tick_labels_and_a_legend(browser: Any, report: Path) -> None:
    page = _page(browser, report / "index.html")
    for chart in page.locator("svg.chart").all():
        assert (chart.locator(".x-title").text_content() or "").strip() and (
            chart.locator(".y-title").text_content() or ""
        ).strip()
        assert chart.locator(".x-tick text").count() >= 2 and chart.locator(".y-tick text").count() >= 2
        assert chart.locator(".legend text").count() >= 1
    legend = page.locator("svg.chart").first.locator(".legend").text_content() or ""
    assert "budget" in legend and "funded" in legend


def test_no_funded_bar_stands_past_the_budget_line(browser: Any, report: Path) -> None:
    page = _page(browser, report / "index.html")
    line = float(page.locator("svg.chart .budget-line").first.get_attribute("x1") or "nan")
    funded = page.locator('svg.chart rect.bar[data-status="funded"], svg.chart rect.bar[data-status="partial"]')
    assert funded.count() > 0
    for bar in funded.all():
        right = float(bar.get_attribute("x") or "nan") + float(bar.get_attribute("width") or "nan")
        assert right <= line + 0.5


def test_readers_see_no_hash_and_every_file_is_linked(browser: Any, report: Path) -> None:
    page = _page(browser, report / "index.html")
    seen = page.locator("body").inner_text()
    assert "sha256" not in seen and not re.search(r"\b[0-9a-f]{12,}\b", seen)
    linked = set(
        page.locator("a[href$='.json'], a[href$='.csv'], a[href$='.xlsx']").evaluate_all(
            "a => a.map(x => x.getAttribute('href'))"
        )
    )
    assert linked == {p.name for p in report.iterdir() if p.suffix in {".json", ".csv", ".xlsx"}}


def test_the_lead_column_holds_countries_and_the_region_has_its_own(browser: Any, report: Path) -> None:
    page = _page(browser, report / "index.html")
    headers = page.locator("table.ranking th").all_inner_texts()
    column = headers.index("lead country") + 1
    countries = page.locator(f"table.ranking tr td:nth-child({column})").all_inner_texts()
    assert countries and all(re.fullmatch(r"[A-Z]{2}", c.strip()) for c in countries)
    assert "lead region" in headers


def test_a_proposal_page_shows_its_flags(browser: Any, report: Path) -> None:
    flagged = [e for e in json.loads((report / "ranking.json").read_text(encoding="utf-8"))["entries"] if e["flags"]]
    if not flagged:
        pytest.skip("no proposal of this call is flagged")
    links = {a.get_attribute("href") for a in _page(browser, report / "index.html").locator("table.ranking a").all()}
    entry = flagged[0]
    link = next(href for href in links if href and Path(href).stem.endswith(entry["id"][-3:]))
    text = _page(browser, report / link).locator("body").inner_text()
    assert all(flag in text for flag in entry["flags"])
