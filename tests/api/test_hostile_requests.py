"""What a careless or hostile client sends: every answer is problem+json with the right status, never a 500.

Each refused write is also checked to have left nothing behind: no row, no audit entry.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from api.auth import Role
from api.routers.common import MAX_BODY_BYTES
from api.tokens import grant
from rules.errors import GrantsError
from tests.api.conftest import CALL_ID, YAML, Actor, World, assign, call_yaml, proposals_json, sheet, three_proposals
from tests.factories import partner, proposal

PROPOSALS = f"/calls/{CALL_ID}/proposals"
BEYOND_INT64 = str(2**64)


def audit_entries(agency: Actor) -> int:
    total: int = agency.get("/audit", params={"limit": 1}).json()["total"]
    return total


def refused(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["title"] and body["detail"]
    return body


@pytest.fixture
def e1(world: World, agency: Actor, open_call: str) -> Actor:
    assign(agency, "P1", "E1")
    return world.evaluator("E1")


def test_a_score_of_ten_to_the_thirty_is_off_the_scale_not_a_crash(agency: Actor, e1: Actor) -> None:
    before = audit_entries(agency)
    for huge in ("1e30", 1e30, "123456789012345678901234567890.5"):
        problem = refused(e1.put(f"{PROPOSALS}/P1/scores", json=sheet(huge)), 422)
        assert problem["errors"][0]["path"] == "body.scores"
    assert e1.get(f"{PROPOSALS}/P1/scores").json() == []
    assert audit_entries(agency) == before


def test_ids_and_offsets_beyond_64_bits_are_not_found_or_refused(agency: Actor, finance: Actor, open_call: str) -> None:
    assert refused(finance.get(f"/calls/{CALL_ID}/allocations/{BEYOND_INT64}"), 404)
    assert refused(finance.get(f"/calls/{CALL_ID}/allocations/3000000000"), 404)
    assert refused(finance.get(f"/calls/{CALL_ID}/simulations/{BEYOND_INT64}"), 404)
    assert refused(finance.get(f"/calls/{CALL_ID}/reports/allocations/{BEYOND_INT64}/index.html"), 404)
    assert refused(agency.get(f"/calls/{CALL_ID}/versions/{BEYOND_INT64}"), 404)
    for url in ("/calls", PROPOSALS, "/audit", "/evaluators", f"/calls/{CALL_ID}/conflicts"):
        assert refused(agency.get(url, params={"offset": BEYOND_INT64}), 422)
    assert agency.get("/calls", params={"offset": 2**31}).json()["items"] == []


@pytest.mark.parametrize("amount", ["1e30", "1000000000000"])
def test_a_budget_beyond_what_the_store_can_hold_is_refused(finance: Actor, open_call: str, amount: str) -> None:
    allocation = refused(finance.post(f"/calls/{CALL_ID}/allocations", json={"scenario": {"budget": amount}}), 422)
    assert allocation["errors"][0]["path"] == "body.scenario.budget"
    sweep = {"sweep": {"low": "1000", "high": amount, "steps": 2}}
    assert refused(finance.post(f"/calls/{CALL_ID}/simulations", json=sweep), 422)
    scenarios = {"scenarios": [{"name": "big", "max_grant": amount}]}
    assert refused(finance.post(f"/calls/{CALL_ID}/simulations", json=scenarios), 422)
    assert finance.get(f"/calls/{CALL_ID}/allocations").json()["total"] == 0


def test_a_call_budget_beyond_what_the_store_can_hold_is_refused_at_its_line(agency: Actor) -> None:
    text = call_yaml().replace("total: '1000000.00'", "total: 1e30")
    problem = refused(agency.post("/calls", content=text, headers=YAML), 422)
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "total:" in row)
    assert (problem["errors"][0]["path"], problem["errors"][0]["line"]) == ("budget.total", line)
    assert agency.get("/calls").json()["total"] == 0


@pytest.mark.parametrize("amount", ["1e30", "10000000000000"])
def test_a_requested_amount_beyond_what_the_store_can_hold_is_refused(
    agency: Actor, open_call: str, amount: str
) -> None:
    before = audit_entries(agency)
    big = proposal("P9", [partner("Graz Cluster", "AT", role="lead"), partner("Ljubljana Net", "SI")])
    data = [{**proposals_json(big)[0], "requested_amount": amount}]
    problem = refused(agency.post(PROPOSALS, json=data), 422)
    assert problem["errors"][0]["path"] == "0.requested_amount"
    assert agency.get(f"{PROPOSALS}/P9").status_code == 404
    assert audit_entries(agency) == before


def test_text_with_a_nul_character_is_refused_on_every_database(agency: Actor, open_call: str) -> None:
    before = audit_entries(agency)
    profile = {"id": "E9", "name": "Nul\u0000Name", "organisation": "Institute", "country": "FR"}
    assert refused(agency.post("/evaluators", json=profile), 422)["errors"][0]["path"] == "body.name"
    nul_acronym = [{**proposals_json(three_proposals()[0])[0], "id": "P9", "acronym": "A\u0000B"}]
    assert refused(agency.post(PROPOSALS, json=nul_acronym), 422)["errors"][0]["path"] == "0.acronym"
    declaration = {"proposal_id": "P1", "evaluator_id": "E1", "kind": "personal", "detail": "\u0000"}
    assert refused(agency.post(f"/calls/{CALL_ID}/conflicts", json=declaration), 422)
    assert refused(agency.get("/calls/A%00B"), 404)
    assert refused(agency.get(f"{PROPOSALS}/P%00"), 404)
    assert refused(agency.get("/evaluators/E%00"), 404)
    assert audit_entries(agency) == before


def test_ids_longer_than_the_store_keeps_are_refused_by_name(agency: Actor, open_call: str) -> None:
    long_id = [{**proposals_json(three_proposals()[0])[0], "id": "P" * 201}]
    problem = refused(agency.post(PROPOSALS, json=long_id), 422)
    assert problem["errors"][0]["path"] == "0.id"
    assert "at most 200 characters" in problem["detail"]
    long_call = refused(agency.post("/calls", content=call_yaml(id="C" * 201), headers=YAML), 422)
    assert long_call["errors"][0]["path"] == "id"


def test_an_id_with_a_slash_is_refused_since_no_url_could_reach_it(agency: Actor, open_call: str) -> None:
    slashed = [{**proposals_json(three_proposals()[0])[0], "id": "P/9"}]
    problem = refused(agency.post(PROPOSALS, json=slashed), 422)
    assert problem["errors"][0]["path"] == "0.id"
    assert "'/'" in problem["detail"]
    assert refused(agency.post("/calls", content=call_yaml(id="CALL/2"), headers=YAML), 422)


def test_automatic_assignment_with_min_load_above_max_load_is_a_422(agency: Actor, open_call: str) -> None:
    before = audit_entries(agency)
    problem = refused(agency.post(f"/calls/{CALL_ID}/assignments/auto", json={"min_load": 10, "max_load": 2}), 422)
    assert "min_load 10 is above max_load 2" in problem["detail"]
    assert agency.get(f"/calls/{CALL_ID}/assignments").json()["total"] == 0
    assert audit_entries(agency) == before


def test_a_negative_monte_carlo_seed_is_refused(finance: Actor, open_call: str) -> None:
    odds = {"odds": {"noise": "0.5", "runs": 10, "seed": -1}}
    problem = refused(finance.post(f"/calls/{CALL_ID}/simulations", json=odds), 422)
    assert problem["errors"][0]["path"] == "body.odds.seed"


def test_a_misspelt_setting_is_refused_rather_than_silently_ignored(agency: Actor, finance: Actor, e1: Actor) -> None:
    typo = refused(finance.post(f"/calls/{CALL_ID}/allocations", json={"scenario": {"budjet": "5000"}}), 422)
    assert typo["errors"][0]["path"] == "body.scenario.budjet"
    assert refused(finance.post(f"/calls/{CALL_ID}/simulations", json={"scenarios": [{"max_grantz": "1"}]}), 422)
    assert refused(agency.put(f"/calls/{CALL_ID}/policy", json={"max_laod": 3}), 422)
    assert agency.get(f"/calls/{CALL_ID}/policy").json()["max_load"] is None
    assert refused(e1.put(f"{PROPOSALS}/P1/scores", json={**sheet(), "coments": {"impact": "thin"}}), 422)
    assert e1.get(f"{PROPOSALS}/P1/scores").json() == []


def test_the_same_proposal_twice_in_one_upload_is_refused_at_the_second(agency: Actor, open_call: str) -> None:
    p1, p2, _ = three_proposals()
    twice = yaml.safe_dump(proposals_json(p1, p2, p1.model_copy(update={"acronym": "OTHER"})), sort_keys=False)
    problem = refused(agency.post(PROPOSALS, content=twice, headers=YAML), 422)
    line = [i for i, row in enumerate(twice.splitlines(), start=1) if row.startswith("- id: P1")][1]
    assert (problem["errors"][0]["path"], problem["errors"][0]["line"]) == ("2.id", line)
    assert "proposal 'P1' is also entry 0" in problem["detail"]
    assert agency.get(f"{PROPOSALS}/P1").json()["acronym"] != "OTHER"


def test_an_allocation_needs_no_body_as_the_doc_says(finance: Actor, open_call: str) -> None:
    response = finance.post(f"/calls/{CALL_ID}/allocations")
    assert response.status_code == 201, response.text
    assert response.json()["request"]["scenario"]["name"] == "call"


@pytest.mark.parametrize("media", ["application/yaml", "application/x-www-form-urlencoded", "text/plain"])
def test_a_json_endpoint_sent_another_media_type_is_415(finance: Actor, open_call: str, media: str) -> None:
    response = finance.post(
        f"/calls/{CALL_ID}/allocations", content='{"scenario": {}}', headers={"content-type": media}
    )
    assert "application/json" in refused(response, 415)["detail"]
    assert finance.get(f"/calls/{CALL_ID}/allocations").json()["total"] == 0


def test_a_chunked_json_body_over_the_limit_is_cut_off_while_read(agency: Actor) -> None:
    chunks = (b" " * (1024 * 1024) for _ in range(MAX_BODY_BYTES // (1024 * 1024) + 1))
    response = agency.post("/evaluators", content=chunks, headers={"content-type": "application/json"})
    assert refused(response, 413)["title"] == "Body too large"


def test_yaml_aliases_that_expand_a_small_body_a_millionfold_are_refused(agency: Actor, open_call: str) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 7)]
    bomb = "\n".join(levels) + "\n"
    problem = refused(agency.post("/calls", content=bomb, headers=YAML), 422)
    assert "aliases" in problem["detail"]
    as_proposals = "- " + "\n  ".join(levels) + "\n"
    assert "aliases" in refused(agency.post(PROPOSALS, content=as_proposals, headers=YAML), 422)["detail"]


def test_an_unknown_path_or_method_is_problem_json_with_the_status_as_title(agency: Actor) -> None:
    assert refused(agency.get("/nowhere"), 404)["title"] == "Not Found"
    assert refused(agency.request("PATCH", "/calls"), 405)["title"] == "Method Not Allowed"


def test_a_token_label_longer_than_the_store_keeps_is_refused_by_name(world: World) -> None:
    with world.store.session(write=True) as session, pytest.raises(GrantsError, match="label: 201 characters"):
        grant(session, "test", Role.finance, label="x" * 201)


def test_a_5000_digit_number_in_an_upload_is_refused_at_its_line(agency: Actor, open_call: str) -> None:
    call = call_yaml().replace("id: ", "note: " + "9" * 5000 + "\nid: ", 1)
    problem = refused(agency.post("/calls", content=call, headers=YAML), 422)
    assert "a number of 5,000 digits" in problem["detail"]
    as_json = '[{"id": "P9", "requested_amount": ' + "9" * 5000 + "}]"
    response = agency.post(PROPOSALS, content=as_json, headers={"content-type": "application/json"})
    assert "a number of 5,000 digits" in refused(response, 422)["detail"]
