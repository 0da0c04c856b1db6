"""The web application in a real browser, on the COSME call, as each of its users works with it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.web.conftest import Server, sign_in
from tests.web.seeding import CALL_ID

BROKEN = Path(__file__).resolve().parents[1] / "broken_calls" / "amount_with_three_decimals.yaml"
GOOD = Path(__file__).resolve().parents[2] / "calls" / "see_2007_2013_call4" / "call.yaml"


def scoring_page(page: Page, server: Server, proposal_id: str) -> None:
    page.goto(f"{server.url}/evaluate/{CALL_ID}/{proposal_id}")


def fill_sheet(page: Page, **values: str) -> None:
    for criterion, value in values.items():
        page.locator(f"#score-{criterion}").fill(value)


def test_an_off_scale_score_is_shown_beside_its_field_and_only_a_submitted_sheet_counts(
    context: BrowserContext, server: Server
) -> None:
    page = sign_in(context, server, server.tokens.evaluators["ev01"])
    expect(page.get_by_role("heading", name="My assignments")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="ESCP4X-003")
    expect(row).to_contain_text("not started")
    row.get_by_role("link", name="ESCP4X-003").click()
    before = server.consolidated("ESCP4X-003")

    fill_sheet(page, relevance="7", quality="3.5", consortium="3", impact="4")
    page.locator("#comment-quality").fill("clear work plan")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#error-relevance")).to_contain_text("7 is not on the 0–5 scale in steps of 0.5")
    expect(page.locator("#score-relevance")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#score-quality")).to_have_value("3.5")
    expect(page.locator("#comment-quality")).to_have_value("clear work plan")

    page.locator("#score-relevance").fill("4.5")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("draft is saved")
    expect(page.locator("#sheet-state")).to_contain_text("draft")
    expect(page.locator("#score-relevance")).to_have_value("4.5")
    assert server.consolidated("ESCP4X-003") == before, "a draft must not count"

    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("status")).to_contain_text("submitted")
    expect(page.locator("#sheet-state")).to_contain_text("submitted")
    assert server.consolidated("ESCP4X-003") != before, "a submitted sheet counts"
    page.goto(server.url + "/evaluate")
    expect(page.get_by_role("row").filter(has_text="ESCP4X-003")).to_contain_text("submitted")


def test_the_second_of_two_editors_is_refused_and_shown_both_versions(browser: Browser, server: Server) -> None:
    token = server.tokens.evaluators["ev07"]
    first, second = (browser.new_context() for _ in range(2))
    try:
        one, other = sign_in(first, server, token), sign_in(second, server, token)
        for page in (one, other):
            scoring_page(page, server, "ESCP4X-001")
        fill_sheet(one, relevance="3")
        one.get_by_role("button", name="Submit").click()
        expect(one.get_by_role("status")).to_contain_text("submitted")

        fill_sheet(other, relevance="1")
        other.get_by_role("button", name="Submit").click()
        warning = other.get_by_role("alert").filter(has_text="Someone else changed this sheet")
        expect(warning).to_be_visible()
        compared = warning.get_by_role("row").filter(has_text="Relevance")
        expect(compared).to_contain_text("3")
        expect(compared).to_contain_text("1")
        expect(other.locator("#score-relevance")).to_have_value("1")
        with server.api(token) as api:
            stored = api.get(f"/calls/{CALL_ID}/proposals/ESCP4X-001/scores").json()[0]
        assert stored["scores"]["relevance"] == "3.00"
    finally:
        first.close()
        second.close()


def test_an_unassigned_proposal_is_a_403_page_whether_or_not_it_exists(context: BrowserContext, server: Server) -> None:
    page = sign_in(context, server, server.tokens.evaluators["ev01"])
    for proposal_id in ("ESCP4X-002", "NO-SUCH-PROPOSAL"):
        response = page.goto(f"{server.url}/evaluate/{CALL_ID}/{proposal_id}")
        assert response is not None and response.status == 403
        expect(page.get_by_role("heading", name="Not for you")).to_be_visible()
        expect(page.get_by_role("alert")).to_have_text("this proposal is not assigned to you")


def test_a_form_without_its_csrf_token_is_refused(context: BrowserContext, server: Server) -> None:
    page = sign_in(context, server, server.tokens.evaluators["ev04"])
    scoring_page(page, server, "ESCP4X-002")
    page.locator("#sheet input[name=csrf]").evaluate("input => input.remove()")
    fill_sheet(page, relevance="5")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", name="Not for you")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("CSRF")
    with server.api(server.tokens.evaluators["ev04"]) as api:
        stored = api.get(f"/calls/{CALL_ID}/proposals/ESCP4X-002/scores").json()[0]
    assert stored["scores"]["relevance"] != "5.00"


def test_a_signed_out_sessions_cookie_no_longer_signs_anyone_in(
    browser: Browser, context: BrowserContext, server: Server
) -> None:
    page = sign_in(context, server, server.tokens.finance)
    copied = context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    thief = browser.new_context()
    try:
        thief.add_cookies(copied)  # type: ignore[arg-type]
        stolen = thief.new_page()
        stolen.goto(f"{server.url}/finance")
        expect(stolen.get_by_label("API token")).to_be_visible()
        report = stolen.request.get(f"{server.url}/calls/{CALL_ID}/ranking")
        assert report.status == 401
    finally:
        thief.close()


def test_an_agency_sees_the_line_of_a_broken_call_then_uploads_a_good_one(
    context: BrowserContext, server: Server, tmp_path: Path
) -> None:
    cli = subprocess.run(
        [str(Path(sys.executable).with_name("grants")), "validate", str(BROKEN)], capture_output=True, text=True
    )
    printed = cli.stderr.strip().removeprefix("error ").replace(str(BROKEN), BROKEN.name)
    page = sign_in(context, server, server.tokens.agency)
    expect(page.get_by_role("heading", name="Calls")).to_be_visible()
    page.get_by_label("Call file (YAML)").set_input_files(BROKEN)
    page.get_by_role("button", name="Upload the call").click()
    expect(page.locator("#problems")).to_contain_text(printed)
    assert re.search(rf"{BROKEN.name}:\d+: ", page.locator("#problems").inner_text())

    page.get_by_label("Call file (YAML)").set_input_files(GOOD)
    page.get_by_role("button", name="Upload the call").click()
    expect(page.get_by_role("status")).to_contain_text("Version 1 of the call is stored")
    page.goto(server.url + "/agency")
    expect(page.get_by_role("row").filter(has_text="SEE")).to_have_count(1)


def run_allocation(page: Page, server: Server, budget: str = "") -> str:
    page.goto(f"{server.url}/finance/calls/{CALL_ID}/allocations")
    page.get_by_label(re.compile(r"^Budget")).fill(budget)
    page.get_by_role("button", name="Run the allocation").click()
    expect(page.get_by_role("heading", name=re.compile("Allocation run"))).to_be_visible()
    return page.url.rsplit("/", 1)[1]


def test_a_finance_officer_allocates_changes_the_budget_and_compares_the_runs(
    context: BrowserContext, server: Server
) -> None:
    page = sign_in(context, server, server.tokens.finance)
    first = run_allocation(page, server)
    expect(page.locator("#awarded")).to_contain_text("12 grants")
    expect(page.get_by_role("table", name=re.compile("Portfolio")).locator("tbody tr")).to_have_count(12)
    reserve = page.get_by_role("table", name=re.compile("Reserve list")).locator("tbody tr")
    assert reserve.count() > 0
    expect(reserve.first).to_contain_text("does not fit: max_grants")
    expect(page.locator("svg.chart")).to_have_count(1)

    second = run_allocation(page, server, budget="4,000,000")
    expect(page.locator("#awarded")).not_to_contain_text("12 grants")
    page.get_by_label("Compare run").select_option(first)
    page.get_by_label("with run").select_option(second)
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", name=f"Run {first} and run {second}")).to_be_visible()
    only_first = page.locator("#only-first").inner_text()
    assert re.search(r"ESCP4X-\d+", only_first), only_first
    expect(page.locator("#only-second")).to_contain_text("none")
    download = page.request.get(f"{server.url}/calls/{CALL_ID}/reports/allocations/{first}/allocation.csv")
    assert download.status == 200 and len(download.text().strip().splitlines()) == 1 + 12  # a header, 12 grants


def test_a_finance_officer_sweeps_the_budget_and_sees_the_funding_odds(context: BrowserContext, server: Server) -> None:
    page = sign_in(context, server, server.tokens.finance)
    page.goto(f"{server.url}/finance/calls/{CALL_ID}/simulations")
    page.get_by_label(re.compile(r"^From")).fill("3,000,000")
    page.get_by_label(re.compile(r"^To")).fill("8,000,000")
    page.get_by_label("Steps").fill("6")
    page.get_by_label(re.compile("^Draws")).fill("200")
    page.get_by_role("button", name="Simulate").click()
    expect(page.get_by_role("table", name="Budget sweep").locator("tbody tr")).to_have_count(6)
    expect(page.get_by_role("table", name="Funding odds").locator("tbody tr").first).to_contain_text("%")
    expect(page.locator("svg.chart")).to_have_count(2)
    expect(page.get_by_role("table", name="Budget sweep")).to_contain_text("EUR 3,000,000.00")


MAIN_PAGES = {
    "evaluator": ("ev03", ["/evaluate", f"/evaluate/{CALL_ID}/ESCP4X-006"]),
    "agency": ("agency", ["/agency", f"/agency/calls/{CALL_ID}", f"/agency/calls/{CALL_ID}/assignments"]),
    "finance": ("finance", [f"/finance/calls/{CALL_ID}", f"/finance/calls/{CALL_ID}/allocations"]),
}
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('table, .table-wrap, form, svg, pre, p, h1, dl')]
    .filter(e => e.getBoundingClientRect().right > width + 1 && !e.closest('.table-wrap'));
  const loose = [...document.querySelectorAll('table')].filter(t => !t.closest('.table-wrap'));
  return {scroll: document.documentElement.scrollWidth, width,
          wide: wide.map(e => e.tagName + '.' + e.className), loose: loose.length};
}"""


def test_each_roles_main_pages_fit_a_desktop_and_a_phone(browser: Browser, server: Server, tmp_path: Path) -> None:
    token_of = {"agency": server.tokens.agency, "finance": server.tokens.finance}
    for role, (who, paths) in MAIN_PAGES.items():
        for width in (1280, 390):
            context = browser.new_context(viewport={"width": width, "height": 900})
            try:
                page = sign_in(context, server, token_of.get(who) or server.tokens.evaluators[who])
                for n, path in enumerate(paths):
                    response = page.goto(server.url + path)
                    assert response is not None and response.ok, f"{path}: {response and response.status}"
                    page.screenshot(path=tmp_path / f"{role}-{n}-{width}.png", full_page=True)
                    fit = page.evaluate(OVERFLOW)
                    assert fit["scroll"] <= fit["width"], f"{path} at {width} px scrolls sideways: {fit}"
                    assert fit["wide"] == [] and fit["loose"] == 0, f"{path} at {width} px: {fit}"
            finally:
                context.close()
    assert len(list(tmp_path.glob("*.png"))) == 2 * sum(len(paths) for _, paths in MAIN_PAGES.values())
