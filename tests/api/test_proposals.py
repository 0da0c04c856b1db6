"""Proposals over HTTP: JSON or YAML uploads, places checked at the door, eligibility."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml

from tests.api.conftest import CALL_ID, YAML, Actor, World, assign, call_yaml, proposals_json, sheet, three_proposals
from tests.factories import partner, proposal


def test_proposals_upload_as_json_and_list_a_page_at_a_time(agency: Actor, open_call: str) -> None:
    page = agency.get(f"/calls/{CALL_ID}/proposals", params={"limit": 2}).json()
    assert ([p["id"] for p in page["items"]], page["total"]) == (["P1", "P2"], 3)
    assert page["items"][0]["requested_amount"] == "400000.00"


def test_proposals_upload_as_yaml(agency: Actor) -> None:
    agency.post("/calls", content=call_yaml(), headers=YAML)
    text = yaml.safe_dump({"proposals": proposals_json(*three_proposals())})
    response = agency.post(f"/calls/{CALL_ID}/proposals", content=text, headers=YAML)
    assert response.json()["created"] == ["P1", "P2", "P3"]


def test_an_unknown_region_is_refused_at_its_line(agency: Actor) -> None:
    agency.post("/calls", content=call_yaml(), headers=YAML)
    lazio = proposal("P9", [partner("Roma Lab", "IT", region="Latium Nova", role="lead")])
    text = yaml.safe_dump(proposals_json(lazio), sort_keys=False)
    response = agency.post(f"/calls/{CALL_ID}/proposals", content=text, headers=YAML)
    assert response.status_code == 422
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "Latium Nova" in row)
    assert response.json()["errors"][0]["line"] == line
    assert agency.get(f"/calls/{CALL_ID}/proposals").json()["total"] == 0


@pytest.mark.parametrize(("country", "code"), [("IT", "ITX9"), ("IT", "ITQQ"), ("ES", "ES99")])
def test_a_nuts_shaped_code_of_no_region_is_refused_with_the_closest_codes(
    agency: Actor, country: str, code: str
) -> None:
    agency.post("/calls", content=call_yaml(), headers=YAML)
    lead = proposal("P9", [partner("Comune di Bologna", country, region=code, role="lead")])
    text = yaml.safe_dump(proposals_json(lead), sort_keys=False)
    response = agency.post(f"/calls/{CALL_ID}/proposals", content=text, headers=YAML)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["line"] == next(i for i, row in enumerate(text.splitlines(), start=1) if code in row)
    assert error["message"].startswith(f"unknown NUTS region {code!r} in ") and "did you mean" in error["message"]


def test_a_malformed_proposal_names_its_field(agency: Actor) -> None:
    agency.post("/calls", content=call_yaml(), headers=YAML)
    no_lead = [{"id": "P1", "requested_amount": "1.005", "duration_months": 0, "partners": []}]
    response = agency.post(f"/calls/{CALL_ID}/proposals", json=no_lead)
    paths = {e["path"] for e in response.json()["errors"]}
    assert response.status_code == 422
    assert {"0.requested_amount", "0.duration_months", "0.partners"} <= paths


def test_scores_in_an_uploaded_file_are_reported_as_not_imported(agency: Actor) -> None:
    agency.post("/calls", content=call_yaml(), headers=YAML)
    scored = proposal("P1", evaluations=[{"evaluator": "X", "scores": {"impact": 4}}])
    response = agency.post(f"/calls/{CALL_ID}/proposals", json=proposals_json(scored))
    assert response.json()["not_imported"] == [
        "P1: 1 evaluations not imported; upload with ?import_evaluations=true to import them, "
        "or evaluators submit with PUT .../scores"
    ]


def test_an_unscored_proposal_can_be_corrected_and_a_scored_one_cannot(
    world: World, agency: Actor, open_call: str
) -> None:
    p1, p2, _ = three_proposals()
    assign(agency, "P1", "E1")
    world.evaluator("E1").put(f"/calls/{CALL_ID}/proposals/P1/scores", json=sheet())
    corrected = p2.model_copy(update={"requested_amount": Decimal(299_000)})
    assert agency.post(f"/calls/{CALL_ID}/proposals", json=proposals_json(corrected)).json()["updated"] == ["P2"]
    changed = p1.model_copy(update={"requested_amount": Decimal(1)})
    response = agency.post(f"/calls/{CALL_ID}/proposals", json=proposals_json(corrected, changed))
    assert response.status_code == 409
    assert "proposal 'P1' already has scores" in response.json()["detail"]
    assert agency.get(f"/calls/{CALL_ID}/proposals/P1").json()["requested_amount"] == "400000.00"


def test_the_eligibility_report_gives_each_failed_rule_and_why(agency: Actor) -> None:
    agency.post("/calls", content=call_yaml(eligibility=[{"rule": "min_countries", "count": 3}]), headers=YAML)
    two_countries = proposal("P4", [partner("Lead", "AT", role="lead"), partner("B", "SI")])
    agency.post(f"/calls/{CALL_ID}/proposals", json=proposals_json(*three_proposals(), two_countries))
    report = {r["id"]: r for r in agency.get(f"/calls/{CALL_ID}/eligibility").json()["results"]}
    assert [r["eligible"] for r in report.values()] == [True, True, True, False]
    assert report["P4"]["failures"][0]["rule"] == "min_countries"
    assert "2" in report["P4"]["failures"][0]["reason"]


def test_an_unknown_call_or_proposal_is_404(agency: Actor, open_call: str) -> None:
    assert agency.get("/calls/NOPE/proposals").status_code == 404
    assert agency.get(f"/calls/{CALL_ID}/proposals/P404").status_code == 404
    assert agency.post("/calls/NOPE/proposals", json=[]).status_code == 404
