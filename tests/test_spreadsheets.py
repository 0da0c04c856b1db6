"""Proposals and evaluations from CSV and XLSX, as a submission system exports them and as we write them."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from rules.errors import ProposalError
from rules.load import load_call, load_proposals
from rules.spreadsheet import Source, read_proposals
from tests.grants_cli import Outcome, grants

CALLS = sorted((Path(__file__).resolve().parents[1] / "calls").iterdir())
COSME = Path(__file__).resolve().parents[1] / "calls" / "cosme_cluster_2020"
Run = Any  # the pytest fixtures capsys and monkeypatch, passed on to grants()


def _json(outcome: Outcome) -> Any:
    assert outcome.code == 0, outcome.err
    return json.loads(outcome.out)


def _decision(capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch, call: Path, proposals: Path) -> Any:
    # Every explanation re-solved exactly, so the comparison does not hang on the machine's load.
    allocation = _json(grants(capsys, mp, "allocate", str(call), str(proposals), "--json", "--explain-share", "1000"))
    return (
        _json(grants(capsys, mp, "check", str(call), str(proposals), "--json")),
        _json(grants(capsys, mp, "rank", str(call), str(proposals), "--json")),
        re.sub(r'"\w+_seconds": [0-9.e-]+', "", json.dumps(allocation, sort_keys=True)),  # timings differ
    )


@pytest.mark.parametrize("folder", CALLS, ids=[c.name for c in CALLS])
def test_each_call_exported_to_xlsx_and_csv_reads_back_to_the_same_decision(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    call, proposals = folder / "call.yaml", folder / "proposals.yaml"
    expected = _decision(capsys, monkeypatch, call, proposals)
    for name in ("proposals.xlsx", "proposals.csv"):
        converted = grants(capsys, monkeypatch, "convert", str(proposals), str(tmp_path / name), "--call", str(call))
        assert converted.code == 0, converted.err
    (tmp_path / "import.yaml").write_text("proposals: proposals.csv\nevaluations: proposals_evaluations.csv\n")
    originals = load_proposals(proposals)
    for exported in ("proposals.xlsx", "import.yaml"):
        assert load_proposals(tmp_path / exported) == originals, exported
        assert _decision(capsys, monkeypatch, call, tmp_path / exported) == expected, exported


def test_the_xlsx_export_has_number_cells_for_amounts_and_reads_back_the_cents(tmp_path: Path) -> None:
    from evaluator.reports.proposal_files import write_proposals

    proposals = load_proposals(COSME / "proposals.yaml")
    write_proposals(proposals, tmp_path / "p.xlsx", load_call(COSME / "call.yaml"))
    sheet = load_workbook(tmp_path / "p.xlsx")["proposals"]
    amounts = [row[4].value for row in sheet.iter_rows(min_row=2)]
    assert all(isinstance(a, (int, float)) for a in amounts)
    assert sum(Decimal(repr(a)) for a in amounts) == sum(p.requested_amount for p in proposals)


def _book(rows: list[list[Any]], title: str = "proposals") -> Workbook:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    return book


HEADER = ["Proposal ID", "Acronym", "Requested amount (EUR)", "Start date", "End date", "Partner name", "Country"]
HEADER += ["Role", "Type"]


def _lead(pid: str, amount: Any, country: str = "FR", start: Any = dt.date(2021, 3, 1), end: Any = None) -> list[Any]:
    return [pid, pid.lower(), amount, start, end or dt.date(2023, 2, 28), f"Lead of {pid}", country, "Lead", "SME"]


def _ten_mistakes() -> Workbook:
    """Ten mistakes seen in real submissions, one of each."""
    book = _book(
        [
            HEADER,
            _lead("P1", 400000, "DE"),
            [None, None, None, None, None, "Partner of P1", "Germny", "partner", "university"],  # misspelt country
            [],  # an empty row in the middle
            _lead("P2", "350000,5", end="01/03/2023"),  # a decimal comma (read exactly); a date as text
            _lead("P3", "=C2*2"),  # a formula cell
            _lead("P1", 100000, "ES"),  # a duplicate proposal id
            ["Total", None, 850000.5],  # a trailing total row
        ]
    )
    sheet = book["proposals"]
    sheet["J1"], sheet["J3"] = "Type of organisation", "cluster"
    sheet.merge_cells("I1:J1")  # a merged header cell over a column with data
    scores = book.create_sheet("evaluations")
    for row in [
        ["proposal_id", "evaluator", "relevance", "quality", "consortium", "impact"],
        ["P1", "ev01", 3, 7, 4, 4],
    ]:
        scores.append(row)  # a score of 7 on a 0-5 scale
    book.create_sheet("partners").sheet_state = "hidden"  # a hidden sheet
    return book


EXPECTED = [
    "partners!A1: sheet 'partners' is hidden, and hidden sheets are not read: unhide it (or delete it)",
    "proposals!J1: this column has data but no header (a merged header cell?): unmerge it and name the column",
    "proposals!A4: row 4 is empty, with data below it: delete the empty row",
    "proposals!A8: row 8 is a total row ('Total'): delete it; the engine adds up the amounts itself",
    "proposals!E5: end_date: '01/03/2023' is text, not a date: write it as YYYY-MM-DD (e.g. 2021-03-01) "
    "or make it a date cell",
    "proposals!C6: requested_amount: holds a formula (=C2*2); paste its value instead (Paste Special > Values)",
    "proposals!A7: id: proposal id 'P1' is used again (first in proposals!A2): a duplicate id? "
    "keep a proposal's rows together",
    "proposals!G3: unknown country 'Germny' (did you mean Germany, Guernsey?)",
    "evaluations!D2: proposal P1, evaluator ev01, criterion quality: 7 is not on the 0–5 scale in steps of 0.5",
]


def test_a_spreadsheet_with_ten_typical_mistakes_gets_one_message_per_mistake_all_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "proposals.xlsx"
    _ten_mistakes().save(path)
    result = grants(capsys, monkeypatch, "rank", str(COSME / "call.yaml"), str(path))
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.splitlines() == [f"error {path}:{message}" for message in EXPECTED]


def test_the_decimal_comma_of_the_ten_mistakes_is_read_to_the_cent(tmp_path: Path) -> None:
    book = _book([HEADER, _lead("P2", "350000,5"), _lead("P3", "1.234.567,89"), _lead("P4", "EUR 1,250,000.10")])
    book["proposals"].append(_lead("P5", 367649.99))
    book["proposals"].append(_lead("P6", "12 000"))
    path = tmp_path / "proposals.xlsx"
    book.save(path)
    amounts = [p.requested_amount for p in load_proposals(path)]
    assert amounts == [Decimal(a) for a in ("350000.5", "1234567.89", "1250000.10", "367649.99", "12000")]


def test_a_cent_fraction_is_refused_at_its_cell(tmp_path: Path) -> None:
    path = tmp_path / "proposals.xlsx"
    _book([HEADER, _lead("P1", 1000.125)]).save(path)
    with pytest.raises(ProposalError) as failed:
        load_proposals(path)
    assert str(failed.value) == (
        f"{path}:proposals!C2: requested_amount: Decimal input should have no more than 2 decimal places"
    )


def test_start_and_end_dates_give_the_duration_in_months(tmp_path: Path) -> None:
    path = tmp_path / "proposals.xlsx"
    _book([HEADER, _lead("P1", 1000, start=dt.datetime(2021, 3, 1), end="2023-02-28")]).save(path)
    assert load_proposals(path)[0].duration_months == 24


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_headers_match_whatever_their_case_and_accents_and_an_import_file_maps_other_names(tmp_path: Path) -> None:
    _csv(
        tmp_path / "export.csv",
        "PROPOSAL ID;Acronym;Requested Amount (EUR);Durée;Partner name;Pays;Région;ROLE;Interne Nummer\n"
        "P1;ALPHA;447.000,00;24;Lead;Italy;Lazio;lead;x-1\n"
        ";;;;Partner;FR;;;x-2\n",
    )
    import_file = tmp_path / "import.yaml"
    import_file.write_text(
        "proposals: export.csv\ncolumns:\n  Pays: country\n  Durée: duration_months\n  interne nummer: ignore\n"
    )
    (proposal,) = load_proposals(import_file)
    assert proposal.requested_amount == Decimal("447000.00") and proposal.duration_months == 24
    assert [(p.name, p.country, p.region, p.role.value) for p in proposal.partners] == [
        ("Lead", "Italy", "Lazio", "lead"),
        ("Partner", "FR", None, "partner"),
    ]


def test_an_unknown_column_is_named_with_the_closest_known_one(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", "id,acronym,requestd_amount,duration_months,partner,country\nP1,A,1,2,L,FR\n")
    with pytest.raises(ProposalError) as failed:
        load_proposals(path)
    assert (
        f"{path}:C1: unknown column 'requestd_amount'; did you mean 'requested_amount'? "
        "rename it, or map it in a columns file (or to 'ignore')"
    ) in str(failed.value)


def test_an_evaluations_csv_out_of_scale_gets_the_message_yaml_scores_get(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml_file = tmp_path / "proposals.yaml"
    text = (COSME / "proposals.yaml").read_text(encoding="utf-8")
    yaml_file.write_text(
        text.replace("{relevance: 2, quality: 3, consortium: 2,", "{relevance: 2, quality: 3.3, consortium: 2,", 1)
    )
    from_yaml = grants(capsys, monkeypatch, "rank", str(COSME / "call.yaml"), str(yaml_file))
    assert grants(capsys, monkeypatch, "convert", str(yaml_file), str(tmp_path / "p.csv")).code == 0
    (tmp_path / "import.yaml").write_text("proposals: p.csv\nevaluations: p_evaluations.csv\n")
    from_csv = grants(capsys, monkeypatch, "rank", str(COSME / "call.yaml"), str(tmp_path / "import.yaml"))
    assert from_yaml.code == from_csv.code == 2
    yaml_line, csv_line = from_yaml.err.strip(), from_csv.err.strip()
    assert csv_line.startswith(f"error {tmp_path / 'p_evaluations.csv'}:D2: ")
    assert csv_line.rsplit(": ", 2)[-2:] == yaml_line.rsplit(": ", 2)[-2:]
    assert "3.3 is not on the 0–5 scale" in csv_line


def test_the_template_has_the_calls_criteria_and_an_example_that_reads_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    call = str(COSME / "call.yaml")
    assert (
        grants(capsys, monkeypatch, "template", "proposals", call, "--xlsx", "--out", str(tmp_path / "t.xlsx")).code
        == 0
    )
    assert (
        grants(capsys, monkeypatch, "template", "proposals", call, "--csv", "--out", str(tmp_path / "t.csv")).code == 0
    )
    book = load_workbook(tmp_path / "t.xlsx")
    assert [c.value for c in book["evaluations"][1]][2:6] == ["relevance", "quality", "consortium", "impact"]
    (tmp_path / "t.yaml").write_text("proposals: t.csv\nevaluations: t_evaluations.csv\n")
    assert load_proposals(tmp_path / "t.xlsx") == load_proposals(tmp_path / "t.yaml")
    assert [p.id for p in load_proposals(tmp_path / "t.xlsx")] == ["EXAMPLE-001"]


def test_bytes_and_a_file_name_are_enough_to_read_a_spreadsheet() -> None:
    """What the API and the web pages call: no file on disk."""
    data = b"\xef\xbb\xbfid,requested_amount,duration_months,partner,country,role\nP1,1000,12,Lead,FR,lead\n"
    (proposal,) = read_proposals(Source(data, "upload.csv"))
    assert proposal.requested_amount == Decimal(1000) and proposal.lead.country == "FR"
