"""Phases and sheet states: who writes when, what counts, what is frozen before deciding."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import CALL_ID, YAML, Actor, World, assign, call_yaml, move, sheet

SCORES = f"/calls/{CALL_ID}/proposals/P1/scores"


@pytest.fixture
def e1(world: World, agency: Actor, open_call: str) -> Actor:
    assign(agency, "P1", "E1")
    return world.evaluator("E1")


def ranked_ids(actor: Actor) -> list[str]:
    return [e["id"] for e in actor.get(f"/calls/{CALL_ID}/ranking").json()["entries"] if e["fundable"]]


def audit_actions(agency: Actor) -> list[dict[str, Any]]:
    return list(agency.get("/audit", params={"limit": 500}).json()["items"])


def test_a_new_call_is_a_draft_and_its_evaluators_wait_for_the_opening(world: World, agency: Actor) -> None:
    assert agency.post("/calls", content=call_yaml(), headers=YAML).status_code == 201
    phase = agency.get(f"/calls/{CALL_ID}/phase").json()
    assert (phase["phase"], phase["transitions"]) == ("draft", ["open_evaluation"])
    closed = move(agency, "open_evaluation")
    assert closed["phase"] == "evaluation_open"


def test_an_evaluator_cannot_write_after_the_close(agency: Actor, e1: Actor) -> None:
    assert e1.put(SCORES, json=sheet(4)).status_code == 201
    move(agency, "close_evaluation")
    late = e1.put(SCORES, json=sheet(5), headers={"If-Match": '"1"'})
    assert late.status_code == 409
    assert "evaluation_closed" in late.json()["detail"]


def test_a_draft_is_kept_but_only_a_submitted_sheet_counts(agency: Actor, e1: Actor) -> None:
    draft = e1.put(SCORES, json={"scores": {"excellence": 5}, "state": "draft"})
    assert (draft.status_code, draft.json()["state"]) == (201, "draft")
    assert ranked_ids(agency) == []
    submitted = e1.put(SCORES, json={**sheet(5, 5, 5), "state": "submitted"}, headers={"If-Match": '"1"'})
    assert submitted.json()["state"] == "submitted"
    assert ranked_ids(agency) == ["P1"]


def test_a_submitted_sheet_must_be_complete_a_draft_need_not(e1: Actor) -> None:
    assert e1.put(SCORES, json={"scores": {"excellence": 4}}).status_code == 422
    assert e1.put(SCORES, json={"scores": {"excellence": 4.2}, "state": "draft"}).status_code == 422


def test_the_agency_reopens_one_sheet_with_a_reason_and_only_that_one_is_writable(
    world: World, agency: Actor, e1: Actor
) -> None:
    assign(agency, "P2", "E1")
    e1.put(SCORES, json=sheet(4))
    e1.put(f"/calls/{CALL_ID}/proposals/P2/scores", json=sheet(4))
    move(agency, "close_evaluation")
    reopen = f"{SCORES}/E1/reopen"
    assert agency.post(reopen, json={"reason": " "}).status_code == 422
    reopened = agency.post(reopen, json={"reason": "impact score contradicts the comment"})
    assert (reopened.status_code, reopened.json()["state"], reopened.json()["version"]) == (200, "draft", 2)
    assert (
        e1.put(f"/calls/{CALL_ID}/proposals/P2/scores", json=sheet(5), headers={"If-Match": '"1"'}).status_code == 409
    )
    fixed = e1.put(SCORES, json=sheet(4, 2, 4), headers={"If-Match": '"2"'})
    assert (fixed.status_code, fixed.json()["state"]) == (200, "submitted")
    assert e1.put(SCORES, json=sheet(4, 3, 4), headers={"If-Match": '"3"'}).status_code == 409
    entry = next(e for e in audit_actions(agency) if e["action"] == "scores.reopen")
    assert entry["after"]["reopened_reason"] == "impact score contradicts the comment"
    assert entry["actor"].startswith("agency@main")


def test_withdrawing_an_evaluator_who_has_a_sheet_needs_a_reason_and_shows_in_the_progress(
    world: World, agency: Actor, e1: Actor
) -> None:
    assign(agency, "P1", "E2")
    e1.put(SCORES, json=sheet(4))
    withdraw = f"/calls/{CALL_ID}/assignments/P1/E1"
    silent = agency.delete(withdraw)
    assert (silent.status_code, silent.json()["errors"][0]["path"]) == (422, "reason")
    assert agency.delete(withdraw, params={"reason": "works for a partner, found late"}).status_code == 204
    entry = audit_actions(agency)[-1]
    assert (entry["action"], entry["after"]["reason"]) == (
        "assignment.withdraw_scored",
        "works for a partner, found late",
    )
    p1 = agency.get(f"/calls/{CALL_ID}/progress").json()["proposals"][0]
    assert (p1["proposal_id"], p1["assigned"], p1["missing"], p1["submitted"]) == ("P1", ["E2"], ["E2"], [])
    assert p1["withdrawn"][0]["reason"] == "works for a partner, found late"
    assert p1["not_counted"] == {"E1": "no longer assigned"}
    assert any("E1 was withdrawn with a submitted sheet" in flag for flag in p1["flags"])


def test_an_assignment_without_a_sheet_is_withdrawn_without_a_reason(agency: Actor, e1: Actor) -> None:
    assert agency.delete(f"/calls/{CALL_ID}/assignments/P1/E1").status_code == 204


def test_the_progress_counts_submitted_sheets_and_drafts(world: World, agency: Actor, e1: Actor) -> None:
    assign(agency, "P1", "E2")
    e1.put(SCORES, json=sheet(4))
    world.evaluator("E2").put(SCORES, json={"scores": {}, "state": "draft"})
    progress = agency.get(f"/calls/{CALL_ID}/progress").json()
    assert (progress["phase"], progress["sheets_submitted"], progress["sheets_expected"]) == ("evaluation_open", 1, 2)
    p1 = progress["proposals"][0]
    assert (p1["submitted"], p1["drafts"]) == (["E1"], ["E2"])


def test_ranking_freezes_a_closed_evaluation_and_the_deciding_allocation_reads_the_frozen_ranking(
    world: World, agency: Actor, finance: Actor, e1: Actor
) -> None:
    e1.put(SCORES, json=sheet(5))
    refused = agency.post(f"/calls/{CALL_ID}/phase", json={"transition": "rank"})
    assert refused.status_code == 409
    early = agency.post(f"/calls/{CALL_ID}/allocations", json={"decision": True})
    assert early.status_code == 409
    move(agency, "close_evaluation")
    ranked = move(agency, "rank")
    assert (ranked["phase"], ranked["transitions"]) == ("ranked", ["allocate"])
    assert ranked_ids(agency) == ["P1"]
    assert agency.post(f"/calls/{CALL_ID}/phase", json={"transition": "allocate"}).status_code == 409
    assert finance.post(f"/calls/{CALL_ID}/allocations", json={"decision": True}).status_code == 403
    assert finance.post(f"/calls/{CALL_ID}/allocations", json={}).status_code == 201
    decided = agency.post(f"/calls/{CALL_ID}/allocations", json={"decision": True})
    assert (decided.status_code, decided.json()["decision"]) == (201, True)
    assert agency.get(f"/calls/{CALL_ID}/phase").json()["phase"] == "allocated"
    assert agency.post(f"/calls/{CALL_ID}/allocations", json={"decision": True}).status_code == 409
    assert move(agency, "decide")["phase"] == "decided"
    phases = [e["after"]["transition"] for e in audit_actions(agency) if e["action"] == "call.phase"]
    assert phases == ["open_evaluation", "close_evaluation", "rank", "allocate", "decide"]


def test_reopening_the_evaluation_needs_a_reason(agency: Actor, e1: Actor) -> None:
    move(agency, "close_evaluation")
    bare = agency.post(f"/calls/{CALL_ID}/phase", json={"transition": "reopen_evaluation"})
    assert bare.status_code == 422
    assert move(agency, "reopen_evaluation", "two evaluators were late")["phase"] == "evaluation_open"


def test_after_the_close_proposals_assignments_and_call_versions_are_frozen(agency: Actor, e1: Actor) -> None:
    move(agency, "close_evaluation")
    assert (
        agency.post(f"/calls/{CALL_ID}/assignments", json={"proposal_id": "P2", "evaluator_id": "E2"}).status_code
        == 409
    )
    assert agency.delete(f"/calls/{CALL_ID}/assignments/P1/E1").status_code == 409
    assert agency.post("/calls", content=call_yaml(title="Changed"), headers=YAML).status_code == 409
    assert agency.post(f"/calls/{CALL_ID}/proposals", json=[]).status_code in (409, 422)


def test_an_unknown_transition_is_named_with_the_known_ones(agency: Actor, open_call: str) -> None:
    wrong = agency.post(f"/calls/{CALL_ID}/phase", json={"transition": "close"})
    assert (wrong.status_code, wrong.json()["errors"][0]["path"]) == (422, "transition")
    assert "close_evaluation" in wrong.json()["detail"]
