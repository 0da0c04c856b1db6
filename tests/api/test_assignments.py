"""Assignments: conflicts refused with their reason, declared conflicts, the automatic plan."""

from __future__ import annotations

from tests.api.conftest import CALL_ID, Actor, World, assign, evaluator_profile, sheet


def test_an_evaluator_from_a_partner_organisation_is_refused_with_the_reason(agency: Actor, open_call: str) -> None:
    agency.post("/evaluators", json=evaluator_profile("E9", organisation="Graz  cluster", country="AT"))
    response = agency.post(f"/calls/{CALL_ID}/assignments", json={"proposal_id": "P1", "evaluator_id": "E9"})
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "E9 may not evaluate P1: same_organisation: evaluator works for Graz  cluster, partner Graz Cluster of P1"
    )


def test_same_country_is_a_conflict_only_when_the_policy_says_so(agency: Actor, open_call: str) -> None:
    agency.post("/evaluators", json=evaluator_profile("E9", country="Austria"))
    pair = {"proposal_id": "P2", "evaluator_id": "E9"}
    assert agency.post(f"/calls/{CALL_ID}/assignments", json=pair).status_code == 201
    agency.delete(f"/calls/{CALL_ID}/assignments/P2/E9")
    agency.put(f"/calls/{CALL_ID}/policy", json={"same_country_conflict": True})
    refused = agency.post(f"/calls/{CALL_ID}/assignments", json=pair)
    assert refused.status_code == 409
    assert "same_country: evaluator is from AT, like partner Vienna Hub" in refused.json()["detail"]


def test_assigning_twice_is_idempotent_and_withdrawing_an_absent_assignment_is_404(
    agency: Actor, open_call: str
) -> None:
    pair = {"proposal_id": "P1", "evaluator_id": "E1"}
    assert agency.post(f"/calls/{CALL_ID}/assignments", json=pair).status_code == 201
    assert agency.post(f"/calls/{CALL_ID}/assignments", json=pair).status_code == 200
    assert agency.get(f"/calls/{CALL_ID}/assignments").json()["total"] == 1
    assert agency.delete(f"/calls/{CALL_ID}/assignments/P1/E1").status_code == 204
    assert agency.delete(f"/calls/{CALL_ID}/assignments/P1/E1").status_code == 404


def test_a_declared_conflict_withdraws_the_assignment_and_hides_the_proposal(
    world: World, agency: Actor, open_call: str
) -> None:
    assign(agency, "P1", "E1")
    e1 = world.evaluator("E1")
    declared = e1.post(
        f"/calls/{CALL_ID}/conflicts", json={"proposal_id": "P1", "kind": "personal", "detail": "my cousin"}
    )
    assert declared.status_code == 201
    assert declared.json()["declared_by"].startswith("evaluator:E1")
    assert e1.get(f"/calls/{CALL_ID}/proposals/P1").status_code == 404
    assert agency.get(f"/calls/{CALL_ID}/assignments").json()["total"] == 0
    again = agency.post(f"/calls/{CALL_ID}/assignments", json={"proposal_id": "P1", "evaluator_id": "E1"})
    assert again.status_code == 409
    assert "personal: my cousin" in again.json()["detail"]


def test_an_evaluator_declares_only_their_own_conflicts(world: World, open_call: str) -> None:
    response = world.evaluator("E1").post(
        f"/calls/{CALL_ID}/conflicts", json={"proposal_id": "P1", "evaluator_id": "E2", "kind": "professional"}
    )
    assert response.status_code == 403


def test_conflicts_list_declared_and_detected_ones_and_an_evaluator_sees_theirs(
    world: World, agency: Actor, open_call: str
) -> None:
    agency.post("/evaluators", json=evaluator_profile("E9", organisation="Pecs Hub", country="HU"))
    agency.post(f"/calls/{CALL_ID}/conflicts", json={"proposal_id": "P2", "evaluator_id": "E1", "kind": "professional"})
    records = agency.get(f"/calls/{CALL_ID}/conflicts").json()["items"]
    assert [(r["proposal_id"], r["evaluator_id"], r["kind"], r["detected"]) for r in records] == [
        ("P2", "E1", "professional", False),
        ("P1", "E9", "same_organisation", True),
    ]
    mine = world.evaluator("E1").get(f"/calls/{CALL_ID}/conflicts").json()["items"]
    assert [r["evaluator_id"] for r in mine] == ["E1"]


def test_automatic_assignment_gives_k_evaluators_within_load_and_never_a_conflict(
    agency: Actor, open_call: str
) -> None:
    agency.post("/evaluators", json=evaluator_profile("E5", organisation="Maribor Cluster", country="SI"))
    agency.post(f"/calls/{CALL_ID}/conflicts", json={"proposal_id": "P3", "evaluator_id": "E1", "kind": "personal"})
    plan = agency.post(f"/calls/{CALL_ID}/assignments/auto", json={"evaluators_per_proposal": 3, "max_load": 2}).json()
    pairs = {tuple(p) for p in plan["assigned"]}
    assert len(pairs) == 9 and plan["unfilled"] == []
    assert ("P2", "E5") not in pairs and ("P3", "E1") not in pairs
    assert max(plan["loads"].values()) <= 2
    listed = agency.get(f"/calls/{CALL_ID}/assignments").json()
    assert listed["total"] == 9
    assert {i["method"] for i in listed["items"]} == {"automatic"}


def test_slots_that_cannot_be_filled_are_reported_with_the_reason(agency: Actor, open_call: str) -> None:
    plan = agency.post(f"/calls/{CALL_ID}/assignments/auto", json={"evaluators_per_proposal": 2, "max_load": 1}).json()
    assert len(plan["assigned"]) == 4
    assert sum(u["missing"] for u in plan["unfilled"]) == 2
    assert all("max_load of 1" in u["reason"] for u in plan["unfilled"])


def test_required_expertise_leaves_a_topic_without_experts_unfilled(agency: Actor, open_call: str) -> None:
    agency.post("/evaluators", json=evaluator_profile("H1", topics=["Health"]))
    plan = agency.post(
        f"/calls/{CALL_ID}/assignments/auto",
        json={"evaluators": ["H1"], "evaluators_per_proposal": 1, "expertise": "required"},
    ).json()
    assert {tuple(p) for p in plan["assigned"]} == {("P1", "H1"), ("P3", "H1")}
    assert plan["unfilled"] == [
        {
            "proposal_id": "P2",
            "missing": 1,
            "reason": "only 0 more evaluators are free of conflicts and match its topic",
        }
    ]


def test_automatic_assignment_tops_up_existing_assignments(world: World, agency: Actor, open_call: str) -> None:
    assign(agency, "P1", "E1")
    world.evaluator("E1").put(f"/calls/{CALL_ID}/proposals/P1/scores", json=sheet())
    plan = agency.post(f"/calls/{CALL_ID}/assignments/auto", json={"evaluators_per_proposal": 2}).json()
    assert sum(1 for p, _ in plan["assigned"] if p == "P1") == 1
    assert agency.get(f"/calls/{CALL_ID}/assignments").json()["total"] == 6


def test_registering_the_same_evaluator_or_conflict_again_is_200_not_201(agency: Actor, open_call: str) -> None:
    assert agency.post("/evaluators", json=evaluator_profile("E1", country="FR")).status_code == 200
    assert agency.post("/evaluators", json=evaluator_profile("E1", country="France")).status_code == 200
    declaration = {"proposal_id": "P1", "evaluator_id": "E2", "kind": "personal"}
    assert agency.post(f"/calls/{CALL_ID}/conflicts", json=declaration).status_code == 201
    assert agency.post(f"/calls/{CALL_ID}/conflicts", json=declaration).status_code == 200
    assert agency.get("/audit", params={"limit": 500}).json()["items"][-1]["action"] == "conflict.declare"


def test_an_evaluator_cannot_learn_of_a_proposal_by_declaring_a_conflict_on_it(
    world: World, agency: Actor, open_call: str
) -> None:
    e1 = world.evaluator("E1")
    unassigned = e1.post(f"/calls/{CALL_ID}/conflicts", json={"proposal_id": "P2", "kind": "personal"})
    assert unassigned.status_code == 404
    assert unassigned.json()["detail"] == e1.post(
        f"/calls/{CALL_ID}/conflicts", json={"proposal_id": "P404", "kind": "personal"}
    ).json()["detail"].replace("P404", "P2")
    assert agency.get(f"/calls/{CALL_ID}/conflicts").json()["total"] == 0
    assign(agency, "P1", "E1")
    assert e1.post(f"/calls/{CALL_ID}/conflicts", json={"proposal_id": "P1", "kind": "personal"}).status_code == 201
    assert e1.post(f"/calls/{CALL_ID}/conflicts", json={"proposal_id": "P1", "kind": "personal"}).status_code == 200
