"""Loading proposals: every mistake is reported at its file, line and field."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rules.columns import ParsedColumns
from rules.errors import ProposalError
from rules.load import call_from_text, load_for_rules, load_proposals, proposals_from_text
from rules.proposal import Proposal
from tests.factories import partner, proposal
from tests.grants_cli import grants

GOOD = """\
proposals:
  - id: P1
    requested_amount: 400000
    duration_months: 24
    partners:
      - {name: Lead, country: NO, role: lead}
      - {name: B, country: IT, region: Veneto}
"""


def problems(text: str, fmt: str = "yaml") -> list[str]:
    with pytest.raises(ProposalError) as failed:
        proposals_from_text(text, "proposals.yaml", fmt)
    return [str(p) for p in failed.value.problems]


def test_norway_stays_a_country_not_a_yaml_boolean() -> None:
    assert proposals_from_text(GOOD)[0].lead.country == "NO"


def test_misspelt_partner_field_is_reported_on_its_line() -> None:
    text = GOOD.replace("region: Veneto", "regoin: Veneto")
    assert problems(text) == ["proposals.yaml:7: proposals.0.partners.1.regoin: unknown field 'regoin'"]


@pytest.mark.parametrize(
    ("written", "read"), [("001", "the number 1"), ("2021-03-04", "the date 2021-03-04"), ("true", "the boolean True")]
)
def test_an_id_yaml_reads_as_something_else_is_told_to_be_quoted(written: str, read: str) -> None:
    assert problems(GOOD.replace("id: P1", f"id: {written}")) == [
        f"proposals.yaml:2: proposals.0.id: Input should be text, not {read}: put it in quotes"
    ]


def test_a_proposal_needs_exactly_one_lead() -> None:
    text = GOOD.replace("role: lead", "role: partner")
    assert problems(text) == [
        "proposals.yaml:2: proposals.0: a proposal needs exactly one partner with role 'lead', found 0"
    ]


def test_amount_with_three_decimals_is_refused() -> None:
    text = GOOD.replace("400000", "400000.005")
    assert problems(text) == [
        "proposals.yaml:3: proposals.0.requested_amount: Decimal input should have no more than 2 decimal places"
    ]


def test_a_request_of_a_trillion_or_more_is_a_typo_refused_at_its_line() -> None:
    text = GOOD.replace("400000", "1e40")
    assert problems(text) == ["proposals.yaml:3: proposals.0.requested_amount: Input should be less than 1000000000000"]


def test_a_project_lasting_more_than_a_century_is_refused_at_its_line() -> None:
    text = GOOD.replace("duration_months: 24", "duration_months: 100000000000")
    assert problems(text) == [
        "proposals.yaml:4: proposals.0.duration_months: Input should be less than or equal to 1200"
    ]


def test_largest_amount_read_as_a_yaml_float_keeps_every_cent() -> None:
    assert proposals_from_text(GOOD.replace("400000", "999999999999.99"))[0].requested_amount == Decimal(
        "999999999999.99"
    )


def test_json_proposals_load_and_money_stays_a_string() -> None:
    p = proposal(requested="400000.50", partners=[partner("Lead", "AT", budget="200000.25"), partner("B", "SI")])
    text = json.dumps([p.model_dump(mode="json")])
    assert '"400000.50"' in text
    assert proposals_from_text(text, "p.json", "json") == [p]


def test_malformed_json_names_the_line() -> None:
    assert problems('[\n{"id": "P1",,}\n]', "json") == [
        "proposals.yaml:2: malformed JSON: Expecting property name enclosed in double quotes"
    ]


def test_a_key_written_twice_in_a_score_sheet_is_refused_at_its_line() -> None:
    text = GOOD + "    evaluations:\n      - {evaluator: E1, scores: {excellence: 4, impact: 3, impact: 5}}\n"
    assert problems(text) == ["proposals.yaml:9: key 'impact' is written twice (first on line 9)"]


def test_a_merged_key_may_be_overridden() -> None:
    text = "base: &lead {name: Lead, country: NO, role: lead}\n" + GOOD.replace(
        "{name: Lead, country: NO, role: lead}", "{<<: *lead, country: SE}"
    )
    assert proposals_from_text(text)[0].lead.country == "SE"


def json_of(*proposals: Proposal) -> str:
    return json.dumps([p.model_dump(mode="json") for p in proposals], indent=1)


def test_a_key_written_twice_in_json_is_refused_at_its_line() -> None:
    text = json_of(proposal("P1"), proposal("P2")).replace('"id": "P2"', '"id": "P2", "id": "P3"')
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if '"id": "P2"' in row)
    assert problems(text, "json") == [f"proposals.yaml:{line}: key 'id' is written twice (first on line {line})"]


def test_json_proposals_under_a_proposals_key_are_located_like_yaml_ones() -> None:
    listed = json.loads(json_of(proposal("P1"), proposal("P2")))
    listed[1]["requested_amount"] = "1.005"
    text = json.dumps({"proposals": listed}, indent=1)
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if '"1.005"' in row)
    assert problems(text, "json") == [
        f"proposals.yaml:{line}: proposals.1.requested_amount: Decimal input should have no more than 2 decimal places"
    ]


@pytest.mark.parametrize(("text", "fmt"), [('{"calls": []}', "json"), ("7", "json"), ("calls: []", "yaml")])
def test_a_file_that_is_not_a_list_of_proposals_says_so(text: str, fmt: str) -> None:
    assert problems(text, fmt) == [
        "proposals.yaml:1: a proposal file must be a list of proposals, or a mapping with a 'proposals' list"
    ]


@pytest.mark.parametrize(
    ("text", "message"), [("", "the file is empty"), ("proposals: []\n", "the file holds no proposals")]
)
def test_a_proposals_file_with_nothing_to_check_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "proposals.yaml"
    path.write_text(text)
    with pytest.raises(ProposalError) as failed:
        load_proposals(path)
    assert str(failed.value) == f"{path}:1: {message}"


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_utf8_byte_order_mark_is_read_as_nothing(fmt: str) -> None:
    text = "\ufeff" + (GOOD if fmt == "yaml" else json_of(proposal("P1")))
    assert proposals_from_text(text, "proposals", fmt)[0].id == "P1"


def test_a_latin1_file_is_refused_at_the_line_of_its_first_accent(tmp_path: Path) -> None:
    path = tmp_path / "proposals.yaml"
    path.write_bytes(GOOD.replace("name: B", "name: Università").encode("latin-1"))
    with pytest.raises(ProposalError) as failed:
        load_proposals(path)
    assert str(failed.value) == f"{path}:7: the file is not UTF-8 text (byte 0xe0); save it as UTF-8"


@pytest.mark.parametrize("suffix", [".xls", ".ods", ".tsv"])
def test_a_spreadsheet_we_do_not_read_is_told_to_be_saved_as_xlsx_or_csv(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"proposals{suffix}"
    path.write_bytes(b"id,requested_amount\nP1,400000\n")
    with pytest.raises(ProposalError) as failed:
        load_proposals(path)
    message = f"proposals are read from XLSX, CSV, YAML or JSON, not {suffix}: save the file as .xlsx or .csv"
    assert str(failed.value) == f"{path}: {message}"


def test_a_folder_given_for_a_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ProposalError) as failed:
        load_proposals(tmp_path)
    assert str(failed.value) == f"{tmp_path}: is a folder, not a file"


def test_unknown_region_in_a_proposal_file_stops_check_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proposals = tmp_path / "proposals.yaml"
    proposals.write_text(GOOD.replace("region: Veneto", "region: Lazzio"), encoding="utf-8")
    result = grants(capsys, monkeypatch, "check", "calls/see_2007_2013_call4/call.yaml", str(proposals))
    assert result.code == 2
    assert (
        f"{proposals}:7: proposals.0.partners.1.region: unknown region 'Lazzio' in Italy (IT); did you mean ITI4 Lazio"
        in result.err
    )


def test_a_repeated_proposal_id_stops_check_at_both_places(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proposals = tmp_path / "proposals.yaml"
    second = GOOD.split("\n", 1)[1].replace("NO, role", "SE, role")
    proposals.write_text(GOOD + second, encoding="utf-8")
    result = grants(capsys, monkeypatch, "check", "calls/cosme_cluster_2020/call.yaml", str(proposals))
    assert result.code == 2
    assert result.err.splitlines() == [
        f"error {proposals}:2: proposals.0.id: proposal id 'P1' is used 2 times (entries 0 and 1)",
        f"error {proposals}:8: proposals.1.id: proposal id 'P1' is used 2 times (entries 0 and 1)",
    ]


def test_problems_found_after_loading_use_the_loader_s_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proposals = tmp_path / "proposals.yaml"
    listed = GOOD.removeprefix("proposals:\n").replace("\n  ", "\n").removeprefix("  ")
    proposals.write_text(listed.replace("400000", "400000.001").replace("region: Veneto", "region: Lazzio"))
    loaded = grants(capsys, monkeypatch, "check", "calls/see_2007_2013_call4/call.yaml", str(proposals))
    assert f"{proposals}:2: 0.requested_amount: Decimal input" in loaded.err
    proposals.write_text(listed.replace("region: Veneto", "region: Lazzio"))
    checked = grants(capsys, monkeypatch, "check", "calls/see_2007_2013_call4/call.yaml", str(proposals))
    assert f"{proposals}:6: 0.partners.1.region: unknown region 'Lazzio'" in checked.err


def test_an_unknown_region_in_a_json_file_is_located_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proposals = tmp_path / "proposals.json"
    proposals.write_text(json_of(proposal("P1"), proposal("P2", [partner("Lead", "IT", "Lazzio", role="lead")])))
    line = next(n for n, row in enumerate(proposals.read_text().splitlines(), start=1) if "Lazzio" in row)
    result = grants(capsys, monkeypatch, "check", "calls/see_2007_2013_call4/call.yaml", str(proposals))
    assert f"{proposals}:{line}: 1.partners.0.region: unknown region 'Lazzio'" in result.err


def test_call_text_errors_name_the_source() -> None:
    with pytest.raises(Exception, match="a call file must be a YAML mapping"):
        call_from_text("- just\n- a list\n", "call.yaml")
    with pytest.raises(Exception, match="call.yaml:1: the file is empty"):
        call_from_text("# only a comment\n", "call.yaml")


def test_proposal_model_is_what_the_factories_build() -> None:
    assert isinstance(proposal(), Proposal)


def ids(proposals: Any) -> list[str]:
    return list(proposals.ids) if isinstance(proposals, ParsedColumns) else [p.id for p in proposals]


def json_file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "proposals.json"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("loader", [load_proposals, load_for_rules])
def test_a_json_file_read_from_its_bytes_reads_as_its_text(tmp_path: Path, loader: Any) -> None:
    """A byte order mark is skipped; a lone surrogate (jiter refuses it, the standard library reads it) is
    refused by pydantic at its line, as when the file was decoded first."""
    marked = json_file(tmp_path, b"\xef\xbb\xbf" + json_of(proposal("P1")).encode())
    assert ids(loader(marked)) == ["P1"]
    text = json_of(proposal("P1", partners=[partner("Uni\\ud800", "NO", role="lead")]))
    surrogate = json_file(tmp_path, text.replace("Uni\\\\ud800", "Uni\\ud800").encode())
    with pytest.raises(ProposalError) as failed:
        loader(surrogate)
    assert str(failed.value).startswith(f"{surrogate}: Invalid JSON: unexpected end of hex escape at line ")


@pytest.mark.parametrize("loader", [load_proposals, load_for_rules])
def test_a_json_file_that_is_not_utf8_is_refused_at_its_line(tmp_path: Path, loader: Any) -> None:
    text = json_of(proposal("P1", partners=[partner("Università", "NO", role="lead")])).replace("\\u00e0", "à")
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if "Universit" in row)
    path = json_file(tmp_path, text.encode("latin-1"))
    with pytest.raises(ProposalError) as failed:
        loader(path)
    assert str(failed.value) == f"{path}:{line}: the file is not UTF-8 text (byte 0xe0); save it as UTF-8"


def test_an_import_file_named_json_is_still_an_import_file(tmp_path: Path) -> None:
    (tmp_path / "sheet.csv").write_text("id,requested_amount,duration_months,partner_1_name,partner_1_country\n")
    path = json_file(tmp_path, b"proposals: sheet.csv\n")
    with pytest.raises(ProposalError) as failed:
        load_for_rules(path)
    assert "sheet.csv" in str(failed.value), "the file it names is read, not this one as JSON"


def test_a_wrong_json_file_is_explained_at_its_line_by_grants_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    head, tail = json_of(proposal("P1"), proposal("P2")).rsplit('"duration_months": 24', 1)
    text = head + '"duration_months": "x"' + tail
    path = json_file(tmp_path, text.encode())
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if '"x"' in row)
    done = grants(capsys, monkeypatch, "check", "calls/see_2007_2013_call4/call.yaml", str(path), "--json")
    assert done.code != 0 and done.out == ""
    assert f"{path}:{line}: " in done.err and "duration_months" in done.err
