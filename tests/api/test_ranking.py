"""The ranking over HTTP reads the scores that count: assigned, conflict-free, or the consensus."""

from __future__ import annotations

import pytest

from tests.api.conftest import CALL_ID, Actor, World, assign, scored_alike, sheet

SCORES = {"P1": (4, 4, 4), "P2": (5, 4.5, 4), "P3": (2.5, 3, 3)}


@pytest.fixture
def scored(world: World, agency: Actor, open_call: str) -> None:
    scored_alike(world, agency, SCORES)


def test_finance_reads_the_ranking_in_score_order_with_reasons(finance: Actor, scored: None) -> None:
    ranking = finance.get(f"/calls/{CALL_ID}/ranking").json()
    assert [(e["id"], e["position"]) for e in ranking["entries"]] == [("P2", 1), ("P1", 2), ("P3", None)]
    p3 = ranking["entries"][2]
    assert not p3["fundable"] and p3["reasons"]
    assert ranking["entries"][0]["scores"]["excellence"] == "5.00"


def test_a_conflicted_evaluators_scores_stop_counting(world: World, agency: Actor, scored: None) -> None:
    assign(agency, "P3", "E3")
    world.evaluator("E3").put(f"/calls/{CALL_ID}/proposals/P3/scores", json=sheet(5, 5, 5))
    boosted = agency.get(f"/calls/{CALL_ID}/ranking").json()["entries"]
    assert next(e for e in boosted if e["id"] == "P3")["scores"]["excellence"] == "3.33"
    agency.post(f"/calls/{CALL_ID}/conflicts", json={"proposal_id": "P3", "evaluator_id": "E3", "kind": "professional"})
    ranking = agency.get(f"/calls/{CALL_ID}/ranking").json()["entries"]
    assert next(e for e in ranking if e["id"] == "P3")["scores"]["excellence"] == "2.50"


def test_a_consensus_overrides_the_evaluators_scores(agency: Actor, scored: None) -> None:
    agency.put(f"/calls/{CALL_ID}/proposals/P1/consensus", json=sheet(5, 5, 5))
    ranking = agency.get(f"/calls/{CALL_ID}/ranking").json()
    assert [e["id"] for e in ranking["entries"]][:2] == ["P1", "P2"]


def test_a_ranking_of_an_unknown_call_is_404(agency: Actor) -> None:
    assert agency.get("/calls/NOPE/ranking").status_code == 404


def test_finance_reads_the_ranking_with_credible_intervals_and_the_grey_zone(finance: Actor, scored: None) -> None:
    ranking = finance.get(f"/calls/{CALL_ID}/ranking", params={"bayes": "true", "rankogram": "P1"}).json()
    bayes = ranking["bayesian"]
    assert [e["id"] for e in bayes["entries"]] == ["P2", "P1"]
    assert bayes["lines"] == [{"list_name": "main", "funded": 2, "ranked": 2}]
    assert {e["zone"] for e in bayes["entries"]} == {"in"}
    assert len(bayes["rankograms"]["P1"]) == 2
    assert finance.get(f"/calls/{CALL_ID}/ranking").json()["bayesian"] is None


def test_a_rankogram_of_a_proposal_below_the_thresholds_is_refused(agency: Actor, scored: None) -> None:
    response = agency.get(f"/calls/{CALL_ID}/ranking", params={"bayes": "true", "rankogram": "P3"})
    assert response.status_code == 422
    assert "P3: not a fundable proposal" in response.text


def test_evaluators_may_not_read_the_bayesian_ranking(world: World, scored: None) -> None:
    response = world.evaluator("E1").get(f"/calls/{CALL_ID}/ranking", params={"bayes": "true"})
    assert response.status_code == 403
