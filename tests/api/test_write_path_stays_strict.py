"""The score write reads what it can keep (the parsed call) once, and checks the rest on every request.

Each test writes a sheet, so whatever the server keeps between requests is warm, then
changes a permission through the HTTP API and sends the next write: it must be refused.
"""

from __future__ import annotations

from tests.api.conftest import CALL_ID, Actor, World, assign, call_yaml, move, sheet

SCORES = f"/calls/{CALL_ID}/proposals/P1/scores"


def _written_once(world: World, agency: Actor) -> tuple[Actor, str]:
    assign(agency, "P1", "E1")
    e1 = world.evaluator("E1")
    first = e1.put(SCORES, json=sheet(4, 4, 4))
    assert first.status_code == 201
    return e1, first.headers["etag"]


def test_a_revoked_token_is_refused_on_its_next_write(world: World, agency: Actor, open_call: str) -> None:
    granted = agency.post("/tokens", json={"role": "evaluator", "evaluator_id": "E1"}).json()
    assign(agency, "P1", "E1")
    e1 = Actor(world.client, granted["token"])
    assert e1.put(SCORES, json=sheet(4, 4, 4)).status_code == 201
    assert agency.delete(f"/tokens/{granted['id']}").status_code == 204
    refused = e1.put(SCORES, json=sheet(3, 3, 3), headers={"If-Match": "*"})
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]


def test_a_withdrawn_assignment_refuses_the_next_write(world: World, agency: Actor, open_call: str) -> None:
    e1, tag = _written_once(world, agency)
    withdrawn = agency.delete(f"/calls/{CALL_ID}/assignments/P1/E1", params={"reason": "replaced"})
    assert withdrawn.status_code in (200, 204)
    assert e1.put(SCORES, json=sheet(3, 3, 3), headers={"If-Match": tag}).status_code == 404


def test_a_declared_conflict_refuses_the_next_write(world: World, agency: Actor, open_call: str) -> None:
    e1, tag = _written_once(world, agency)
    conflict = {"proposal_id": "P1", "kind": "personal", "detail": "my cousin"}
    assert e1.post(f"/calls/{CALL_ID}/conflicts", json=conflict).status_code == 201
    assert e1.put(SCORES, json=sheet(3, 3, 3), headers={"If-Match": tag}).status_code == 404


def test_a_closed_evaluation_refuses_the_next_write(world: World, agency: Actor, open_call: str) -> None:
    e1, tag = _written_once(world, agency)
    move(agency, "close_evaluation")
    assert e1.put(SCORES, json=sheet(3, 3, 3), headers={"If-Match": tag}).status_code == 409


def test_a_new_call_version_is_what_the_next_write_is_checked_against(
    world: World, agency: Actor, open_call: str
) -> None:
    e1, tag = _written_once(world, agency)
    criteria = [
        {"id": "excellence", "name": "Excellence", "threshold": 3},
        {"id": "impact", "name": "Impact", "threshold": 3},
        {"id": "implementation", "name": "Implementation", "threshold": 3, "scale": [0, 10]},
    ]
    upload = agency.post("/calls", content=call_yaml(criteria=criteria), headers={"content-type": "application/yaml"})
    assert upload.status_code == 201, upload.text
    accepted = e1.put(SCORES, json=sheet(4, 4, 8), headers={"If-Match": tag})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["call_version"] == 2
