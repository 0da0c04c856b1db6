"""The report a funding decision is filed with: complete, exact, and consistent with the allocation."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from unittest import mock
from urllib.request import url2pathname

import pytest
from jinja2 import Environment
from openpyxl import load_workbook

from api.commands.reporting import decide
from evaluator.reports import Decision, write_report
from tests.grants_cli import grants

CLUSTER = Path(__file__).resolve().parents[1] / "calls" / "cosme_cluster_2020"


@pytest.fixture(scope="module")
def decision() -> Decision:
    return decide(CLUSTER / "call.yaml", CLUSTER / "proposals.yaml")


@pytest.fixture(scope="module")
def report(decision: Decision, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(decision, tmp_path_factory.mktemp("report"))


def test_cluster_call_never_funds_more_than_twelve_grants_of_500000(decision: Decision) -> None:
    assert 0 < len(decision.allocation.grants) <= 12
    assert all(g.amount <= Decimal(500_000) for g in decision.allocation.grants)
    assert decision.allocation.total_awarded + decision.allocation.budget_left == decision.call.budget.total


def test_index_shows_every_ranked_proposal_and_the_funding_line(report: Path, decision: Decision) -> None:
    html = report.read_text(encoding="utf-8")
    assert all(entry.id in html for entry in decision.ranking.entries)
    assert "<svg" in html and "budget EUR 6,000,000" in html
    assert "Budget sweep" in html


def test_each_proposal_page_names_its_failed_rules_or_its_scores(report: Path, decision: Decision) -> None:
    ineligible = next(r for r in decision.eligibility.results if not r.eligible)
    page = (report.parent / "proposals" / f"{ineligible.id}.html").read_text(encoding="utf-8")
    assert ineligible.failures[0].rule in page
    funded = decision.allocation.grants[0].id
    page = (report.parent / "proposals" / f"{funded}.html").read_text(encoding="utf-8")
    assert "Funded: EUR" in page
    assert all(c.name in page for c in decision.call.criteria)


def test_csv_amounts_are_the_allocation_to_the_cent(report: Path, decision: Decision) -> None:
    with (report.parent / "allocation.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["id"]: Decimal(r["granted"]) for r in rows} == {g.id: g.amount for g in decision.allocation.grants}
    with (report.parent / "ranking.csv").open(encoding="utf-8-sig") as handle:
        ranking = list(csv.DictReader(handle))
    assert [r["id"] for r in ranking] == [e.id for e in decision.ranking.entries]
    assert all(re.fullmatch(r"\d+\.\d\d", r["requested_amount"]) for r in ranking)


def test_every_csv_starts_with_a_byte_order_mark_so_excel_reads_utf8(report: Path) -> None:
    for name in ("eligibility", "ranking", "allocation", "reserve"):
        assert (report.parent / f"{name}.csv").read_bytes().startswith(b"\xef\xbb\xbf"), name


def test_the_xlsx_granted_column_sums_to_the_total_awarded_to_the_cent(report: Path, decision: Decision) -> None:
    book = load_workbook(report.parent / "report.xlsx")
    sheet = book["allocation"]
    header = [c.value for c in sheet[1]]
    assert header == ["id", "acronym", "lead", "lead_country", "score", "requested", "granted", "share"]
    granted = [row[header.index("granted")] for row in sheet.iter_rows(min_row=2)]
    assert all(isinstance(c.value, (int, float)) and "EUR" in c.number_format for c in granted)
    total = sum(Decimal(repr(c.value)) for c in granted)
    assert total == decision.allocation.total_awarded
    assert Decimal(repr(book["summary"]["D2"].value)) == total
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == sheet.dimensions


def test_the_xlsx_has_flags_as_booleans_and_every_failed_rule_with_its_reason(report: Path, decision: Decision) -> None:
    book = load_workbook(report.parent / "report.xlsx")
    assert book.sheetnames == ["summary", "eligibility", "ranking", "allocation", "reserve"]
    rows = list(book["eligibility"].iter_rows(min_row=2, values_only=True))
    failures = [(r[0], r[5], r[6]) for r in rows if r[4] is False]
    expected = [(e.id, f.rule, f.reason) for e in decision.eligibility.results for f in e.failures]
    assert failures == expected and all(isinstance(r[4], bool) for r in rows)
    reserve = [r[1] for r in book["reserve"].iter_rows(min_row=2, values_only=True)]
    assert reserve == list(decision.allocation.reserve)


def test_demo_runs_the_whole_pipeline_and_says_where_the_report_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = grants(capsys, monkeypatch, "demo", "--out", str(tmp_path / "demo"))
    assert result.code == 0, result.err
    assert "12 grants" in result.out and "index.html" in result.out
    assert (tmp_path / "demo" / "index.html").is_file()


def test_demo_runs_away_from_a_checkout_and_says_optimal_only_for_optimal_mode(tmp_path: Path) -> None:
    """The demo call is package data; the cluster call runs in rank mode, where nothing is "optimal"."""
    grants_command = Path(sys.executable).parent / "grants"
    done = subprocess.run([grants_command, "demo"], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "4. allocate: funding line drawn: 12 grants" in done.stdout and "optimal" not in done.stdout
    index = (tmp_path / "demo-report" / "index.html").read_text(encoding="utf-8")
    assert "<div>outcome<b>funding line drawn</b></div>" in index and "optimal" not in index


ODD_IDS = {"ESCP4X-021": "Bé/ß 日本", "ESCP4X-050": "ESCP 50", "ESCP4X-002": "100%: A?"}


def test_every_link_of_the_index_opens_a_written_page_whatever_the_id(tmp_path: Path) -> None:
    text = (CLUSTER / "proposals.yaml").read_text(encoding="utf-8")
    for old, new in ODD_IDS.items():
        text = text.replace(f"- id: {old}\n", f"- id: {new!r}\n")
    proposals = tmp_path / "proposals.yaml"
    proposals.write_text(text, encoding="utf-8")
    index = write_report(decide(CLUSTER / "call.yaml", proposals), tmp_path / "report")
    links = re.findall(r'href="(proposals/[^"]+)"', index.read_text(encoding="utf-8"))
    assert len(links) == 60
    assert all((index.parent / url2pathname(link)).is_file() for link in links), links
    pages = {url2pathname(page.name).removesuffix(".html") for page in (index.parent / "proposals").iterdir()}
    assert set(ODD_IDS.values()) <= pages


def test_a_report_asked_into_a_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    inputs = (str(CLUSTER / name) for name in ("call.yaml", "proposals.yaml"))
    result = grants(capsys, monkeypatch, "report", *inputs, "--out", str(taken))
    assert result.code == 2
    assert result.err.splitlines() == [f"error {taken}: is a file; the report needs a folder to write into"]


def test_templates_are_compiled_once_not_once_per_proposal(decision: Decision, tmp_path: Path) -> None:
    with mock.patch.object(Environment, "_parse", autospec=True, side_effect=Environment._parse) as parse:
        write_report(decision, tmp_path)
        write_report(decision, tmp_path)
    assert parse.call_count <= 2


def test_the_report_says_in_words_what_limits_cost_and_what_keeps_a_reserve_out(
    report: Path, decision: Decision
) -> None:
    html = report.read_text(encoding="utf-8")
    effects = [p.explanation for p in getattr(decision.allocation, "prices", [])]
    assert effects and all(text.replace("“", "&#8220;") in html or text in html for text in effects)
    assert "costs" not in html.split("<h2>Ranking</h2>")[0]
    for pid in decision.allocation.reserve:
        page = next((report.parent / "proposals").glob(f"{pid}*.html")).read_text(encoding="utf-8")
        assert "kept out by" in page or "does not fit" in page or "below the funding line" in page
