"""One answer: the API, given a proposals file and asked to import its evaluations, ranks and allocates
as the command line does on the same file, proposal by proposal and to the cent."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from evaluator.reports.proposal_files import write_proposals
from rules.load import load_call, load_proposals
from tests.api.conftest import YAML, Actor, evaluator_profile
from tests.grants_cli import grants

CALLS = sorted((Path(__file__).resolve().parents[2] / "calls").iterdir())
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    outcome = grants(capsys, monkeypatch, *args, "--json")
    assert outcome.code == 0, outcome.err
    return json.loads(outcome.out)


def _ranked(ranking: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        e["id"]: (e["position"], e["list_name"], Decimal(e["weighted_total"]), e["fundable"], e["scores"])
        for e in ranking["entries"]
    }


def _granted(allocation: dict[str, Any]) -> tuple[dict[str, Decimal], Decimal, list[str]]:
    grants_by_id = {g["id"]: Decimal(g["amount"]) for g in allocation["grants"]}
    return grants_by_id, Decimal(allocation["total_awarded"]), allocation["reserve"]


def _upload(agency: Actor, folder: Path, call_id: str, as_xlsx: bool, tmp_path: Path) -> Any:
    proposals = folder / "proposals.yaml"
    if as_xlsx:
        write_proposals(load_proposals(proposals), tmp_path / "proposals.xlsx", load_call(folder / "call.yaml"))
        body, media = (tmp_path / "proposals.xlsx").read_bytes(), XLSX
    else:
        body, media = proposals.read_bytes(), "application/yaml"
    headers = {"content-type": media, "content-disposition": 'attachment; filename="proposals.xlsx"'}
    return agency.post(f"/calls/{call_id}/proposals?import_evaluations=true", content=body, headers=headers)


@pytest.mark.parametrize("as_xlsx", [False, True], ids=["yaml", "xlsx"])
@pytest.mark.parametrize("folder", CALLS, ids=[c.name for c in CALLS])
def test_the_api_ranks_and_allocates_an_imported_file_as_the_command_line_does(
    folder: Path,
    as_xlsx: bool,
    agency: Actor,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    call = load_call(folder / "call.yaml")
    proposals = load_proposals(folder / "proposals.yaml")
    assert agency.post("/calls", content=(folder / "call.yaml").read_bytes(), headers=YAML).status_code == 201
    for evaluator in sorted({e.evaluator for p in proposals for e in p.evaluations}):
        assert agency.post("/evaluators", json=evaluator_profile(evaluator)).status_code == 201
    uploaded = _upload(agency, folder, call.id, as_xlsx, tmp_path)
    assert uploaded.status_code == 200, uploaded.json()
    assert uploaded.json()["not_imported"] == []
    assert len(uploaded.json()["imported"]) == sum(1 for p in proposals if p.evaluations or p.consensus)

    ranking = agency.get(f"/calls/{call.id}/ranking").json()
    run = agency.post(f"/calls/{call.id}/allocations")
    assert run.status_code == 201, run.json()
    files = (str(folder / "call.yaml"), str(folder / "proposals.yaml"))
    assert _ranked(ranking) == _ranked(_cli(capsys, monkeypatch, "rank", *files))
    assert _granted(run.json()["allocation"]) == _granted(_cli(capsys, monkeypatch, "allocate", *files))


def test_imported_scores_are_shown_as_imported_and_audited_for_the_agency(agency: Actor) -> None:
    folder = next(c for c in CALLS if c.name == "cosme_cluster_2020")
    proposals = load_proposals(folder / "proposals.yaml")
    agency.post("/calls", content=(folder / "call.yaml").read_bytes(), headers=YAML)
    evaluators = sorted({e.evaluator for p in proposals for e in p.evaluations})
    upload = agency.post(
        "/calls/COS-CLUSTER-2020-3-03/proposals?import_evaluations=true",
        content=(folder / "proposals.yaml").read_bytes(),
        headers=YAML,
    )
    assert upload.status_code == 422
    assert [e["message"] for e in upload.json()["errors"]][0] == (
        f"evaluator {evaluators[0]!r} is not registered; register the file's evaluators (POST /evaluators) first"
    )
    for evaluator in evaluators:
        agency.post("/evaluators", json=evaluator_profile(evaluator))
    first = agency.post(
        "/calls/COS-CLUSTER-2020-3-03/proposals?import_evaluations=true",
        content=(folder / "proposals.yaml").read_bytes(),
        headers=YAML,
    )
    assert first.status_code == 200
    sheets = agency.get(f"/calls/COS-CLUSTER-2020-3-03/proposals/{proposals[0].id}/scores").json()
    assert {s["evaluator_id"] for s in sheets} == {e.evaluator for e in proposals[0].evaluations}
    assert all(s["imported_by"] and s["imported_by"].startswith("agency") for s in sheets)
    entries = agency.get("/audit", params={"limit": 500}).json()["items"]
    imports = [e for e in entries if e["action"] == "scores.import"]
    assert len(imports) == sum(len(p.evaluations) for p in proposals)
    assert all(e["actor"] == e["after"]["imported_by"] and e["actor"].startswith("agency") for e in imports)
    run = agency.post("/calls/COS-CLUSTER-2020-3-03/allocations").json()["id"]
    page = agency.get(f"/calls/COS-CLUSTER-2020-3-03/reports/allocations/{run}/proposals/{proposals[0].id}.html")
    assert page.status_code == 200 and f"{proposals[0].evaluations[0].evaluator} (imported)" in page.text
    again = agency.post(
        "/calls/COS-CLUSTER-2020-3-03/proposals?import_evaluations=true",
        content=(folder / "proposals.yaml").read_bytes(),
        headers=YAML,
    )
    assert again.json()["imported"] == [] and len(again.json()["unchanged"]) == len(proposals)


def test_a_spreadsheet_upload_names_the_cell_of_each_problem(agency: Actor) -> None:
    folder = next(c for c in CALLS if c.name == "cosme_cluster_2020")
    agency.post("/calls", content=(folder / "call.yaml").read_bytes(), headers=YAML)
    body = "id,requested_amount,duration_months,partner,country,role\nP1,1000,12,Lead,Germny,lead\n"
    headers = {"content-type": "text/csv", "content-disposition": 'attachment; filename="export.csv"'}
    response = agency.post("/calls/COS-CLUSTER-2020-3-03/proposals", content=body.encode(), headers=headers)
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["file"], error["cell"]) == ("export.csv", "E2")
    assert error["message"].startswith("unknown country 'Germny'")


def test_scores_to_import_from_a_workbook_are_checked_at_their_cells(agency: Actor, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    folder = next(c for c in CALLS if c.name == "cosme_cluster_2020")
    agency.post("/calls", content=(folder / "call.yaml").read_bytes(), headers=YAML)
    write_proposals(load_proposals(folder / "proposals.yaml"), tmp_path / "p.xlsx", load_call(folder / "call.yaml"))
    book = load_workbook(tmp_path / "p.xlsx")
    book["evaluations"]["D2"] = 7
    book.save(tmp_path / "p.xlsx")
    headers = {"content-type": XLSX, "content-disposition": 'attachment; filename="panel.xlsx"'}
    url = "/calls/COS-CLUSTER-2020-3-03/proposals?import_evaluations=true"
    response = agency.post(url, content=(tmp_path / "p.xlsx").read_bytes(), headers=headers)
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["file"], error["cell"]) == ("panel.xlsx", "evaluations!D2")
    assert error["message"].endswith("criterion quality: 7 is not on the 0–5 scale in steps of 0.5")
    without = agency.post(url.split("?")[0], content=(tmp_path / "p.xlsx").read_bytes(), headers=headers)
    assert without.status_code == 200 and len(without.json()["not_imported"]) == 60
