"""Conflicts of interest stay true after assignment, match organisations as people write them, and do not leak."""

from __future__ import annotations

from typing import Any

import pytest

from api.conflict_matching import identifier_key, organisation_keys
from tests.api.conftest import CALL_ID, Actor, World, assign, evaluator_profile, proposals_json, sheet, three_proposals
from tests.factories import partner

CONFLICTS = f"/calls/{CALL_ID}/conflicts"


def register(agency: Actor, evaluator_id: str, organisation: str, country: str = "FR", **extra: Any) -> None:
    body = {**evaluator_profile(evaluator_id, organisation, country), **extra}
    assert agency.post("/evaluators", json=body).status_code == 201


def assignments(agency: Actor) -> dict[tuple[str, str], str | None]:
    items = agency.get(f"/calls/{CALL_ID}/assignments", params={"limit": 500}).json()["items"]
    return {(a["proposal_id"], a["evaluator_id"]): a["suspended"] for a in items}


def ranked_score(agency: Actor, proposal_id: str) -> str:
    entries = agency.get(f"/calls/{CALL_ID}/ranking").json()["entries"]
    score: str = next(e for e in entries if e["id"] == proposal_id)["scores"]["excellence"]
    return score


@pytest.mark.parametrize(
    ("written", "other"),
    [
        ("Univеrsity of Graz", "University of Graz"),  # Cyrillic е
        ("Sevılla Energy Agency", "Sevilla Energy Agency"),  # dotless ı
        ("Ecoinnova S.L.", "ECOINNOVA"),
        ("Siemens AG", "Siemens"),
        ("Kraków Tech Sp. z o.o.", "Krakow Tech"),
        ("Agencia Regional de la Energía (AREC)", "AREC"),
        ("Ｇｒａｚ Ｌｔｄ.", "graz"),  # fullwidth
    ],
)
def test_organisation_names_meet_across_scripts_legal_forms_and_acronyms(written: str, other: str) -> None:
    assert organisation_keys(written) & organisation_keys(other)


def test_different_organisations_stay_apart() -> None:
    assert not organisation_keys("University of Graz") & organisation_keys("University of Gratz Hospital")
    assert not organisation_keys("EU Agency (EU)") & organisation_keys("EU")  # two letters are no acronym to match
    assert identifier_key("ES B-123.456") == identifier_key("esb123456") != identifier_key("ESB123457")


def test_an_evaluator_is_refused_on_a_consortium_holding_their_organisation_in_another_spelling(
    agency: Actor, open_call: str
) -> None:
    register(agency, "E5", "Grаz Cluster GmbH")  # Cyrillic а and a legal form: the lead of P1 is "Graz Cluster"
    response = agency.post(f"/calls/{CALL_ID}/assignments", json={"proposal_id": "P1", "evaluator_id": "E5"})
    assert response.status_code == 409, response.json()
    assert "same_organisation" in response.json()["detail"]


def test_an_organisation_identifier_matches_whatever_the_names(agency: Actor, open_call: str) -> None:
    listed = proposals_json(*three_proposals())
    listed[1]["partners"][1]["organisation_id"] = "AT U12345678"
    assert agency.post(f"/calls/{CALL_ID}/proposals", json=listed).status_code == 200
    register(agency, "E5", "Wiener Hub Holding", "FR", organisation_id="ATU12345678")
    response = agency.post(f"/calls/{CALL_ID}/assignments", json={"proposal_id": "P2", "evaluator_id": "E5"})
    assert response.status_code == 409


def test_an_evaluator_sees_no_conflict_on_a_proposal_not_theirs(world: World, agency: Actor, open_call: str) -> None:
    register(agency, "E5", "Graz Cluster")
    assign(agency, "P2", "E5")
    items = world.evaluator("E5").get(CONFLICTS).json()["items"]
    assert items == []  # P1's lead is their organisation, but P1 does not exist for them
    assert [c["proposal_id"] for c in agency.get(CONFLICTS).json()["items"]] == ["P1"]


def test_a_proposal_reuploaded_with_the_evaluators_organisation_suspends_the_assignment(
    world: World, agency: Actor, open_call: str
) -> None:
    assign(agency, "P2", "E1")
    changed = three_proposals()[1].model_copy(update={"partners": [*three_proposals()[1].partners]})
    changed.partners.append(partner("Universıty E1", "FR"))  # E1's organisation, with a dotless ı
    result = agency.post(f"/calls/{CALL_ID}/proposals", json=proposals_json(changed)).json()
    assert [(s["proposal_id"], s["evaluator_id"]) for s in result["suspended"]] == [("P2", "E1")]
    assert "same_organisation" in (assignments(agency)[("P2", "E1")] or "")
    e1 = world.evaluator("E1")
    assert e1.put(f"/calls/{CALL_ID}/proposals/P2/scores", json=sheet()).status_code == 404
    assert [c["proposal_id"] for c in e1.get(CONFLICTS).json()["items"]] == ["P2"]
    actions = [e["action"] for e in agency.get("/audit", params={"limit": 500}).json()["items"]]
    assert "assignment.suspend" in actions


def test_switching_on_same_country_conflicts_stops_a_sheet_counting(
    world: World, agency: Actor, open_call: str
) -> None:
    register(agency, "E5", "Somewhere Else", "AT")  # P1 has an Austrian partner
    for evaluator, score in (("E1", 3), ("E5", 5)):
        assign(agency, "P1", evaluator)
        assert world.evaluator(evaluator).put(f"/calls/{CALL_ID}/proposals/P1/scores", json=sheet(score)).status_code
    assert ranked_score(agency, "P1") == "4.00"
    policy = {**agency.get(f"/calls/{CALL_ID}/policy").json(), "same_country_conflict": True}
    assert agency.put(f"/calls/{CALL_ID}/policy", json=policy).status_code == 200
    assert "same_country" in (assignments(agency)[("P1", "E5")] or "")
    assert ranked_score(agency, "P1") == "3.00"
    assert agency.put(f"/calls/{CALL_ID}/policy", json={**policy, "same_country_conflict": False}).status_code == 200
    assert assignments(agency)[("P1", "E5")] is None
    assert ranked_score(agency, "P1") == "4.00"


def test_a_corrected_evaluator_profile_is_checked_again(world: World, agency: Actor, open_call: str) -> None:
    assign(agency, "P3", "E1")
    profile = {**evaluator_profile("E1", country="FR"), "organisation": "Debrecen Cluster Kft."}
    result = agency.put("/evaluators/E1", json=profile).json()
    assert [(s["proposal_id"], s["reason"] is not None) for s in result["suspended"]] == [("P3", True)]
    assert world.evaluator("E1").get(f"/calls/{CALL_ID}/proposals/P3").status_code == 404
    assert agency.get("/audit/verify").json()["ok"]
