"""Rank mode, the funding line, and what an allocation says about itself."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from evaluator.allocation import Scenario, allocate
from evaluator.ranking import RankedProposal, Ranking
from rules.model import Call
from tests.factories import call

K = 1000


def ranked(
    id: str, score: float, requested: int, country: str = "AT", topic: str | None = None, list_name: str = "main"
) -> RankedProposal:
    """A fundable proposal with a ranking score (three equal criteria) and a request in euros."""
    third = Decimal(str(score)) / 3
    return RankedProposal(
        id=id,
        topic=topic,
        list_name=list_name,
        lead_country=country,
        requested_amount=Decimal(requested),
        scores={"excellence": third, "impact": third, "implementation": third},
        total=Decimal(str(score)),
        weighted_total=Decimal(str(score)),
        eligible=True,
        fundable=True,
    )


def ranking_of(*entries: RankedProposal) -> Ranking:
    """Entries in rank order (highest score first, then as given), positions per list."""
    ordered = sorted(entries, key=lambda e: -e.weighted_total)
    seen: dict[str, int] = {}
    placed = []
    for e in ordered:
        seen[e.list_name] = seen.get(e.list_name, 0) + 1
        placed.append(e.model_copy(update={"position": seen[e.list_name]}))
    return Ranking(call_id="TEST-CALL", entries=placed)


def funding_call(budget: int = 1_000 * K, max_grant: int | None = 500 * K, **allocation: Any) -> Call:
    return call(budget={"total": budget, "max_grant": max_grant}, allocation=allocation)


def test_funding_line_funds_in_rank_order_until_the_budget_runs_out() -> None:
    ranking = ranking_of(
        ranked("A", 14, 400 * K), ranked("B", 13, 300 * K), ranked("C", 12, 200 * K), ranked("D", 11, 200 * K)
    )
    allocation = allocate(funding_call(), ranking)
    assert [g.id for g in allocation.grants] == ["A", "B", "C"]
    assert allocation.reserve == ["D"]
    assert allocation.total_awarded == Decimal("900000.00")
    assert allocation.budget_left == Decimal("100000.00")
    assert allocation.objective == 14 * 400 * K + 13 * 300 * K + 12 * 200 * K
    assert allocation.binding == ["budget"]


def test_a_proposal_too_big_for_what_is_left_is_passed_over_for_a_smaller_one() -> None:
    ranking = ranking_of(ranked("A", 14, 500 * K), ranked("B", 13, 550 * K), ranked("C", 12, 100 * K))
    allocation = allocate(funding_call(max_grant=None), ranking)
    assert [g.id for g in allocation.grants] == ["A", "C"]
    assert allocation.reserve == ["B"]
    assert "budget" in allocation.reasons["B"]


def test_ranking_discipline_stops_the_line_at_the_first_proposal_that_does_not_fit() -> None:
    ranking = ranking_of(ranked("A", 14, 500 * K), ranked("B", 13, 550 * K), ranked("C", 12, 100 * K))
    allocation = allocate(funding_call(max_grant=None, ranking_discipline=True), ranking)
    assert [g.id for g in allocation.grants] == ["A"]
    assert allocation.reserve == ["B", "C"]
    assert "funding line" in allocation.reasons["C"]


@pytest.mark.parametrize("mode", ["rank", "optimal"])
def test_cluster_call_never_grants_more_than_500000_nor_more_than_12_grants(mode: str) -> None:
    requests = [650 * K, 480 * K, 520 * K, 300 * K, 499_999] * 4
    entries = [ranked(f"P{k:02d}", 15 - k * 0.25, r) for k, r in enumerate(requests)]
    cluster = funding_call(6_000 * K, 500 * K, max_grants=12, mode=mode)
    allocation = allocate(cluster, ranking_of(*entries))
    assert len(allocation.grants) == 12
    assert max(g.amount for g in allocation.grants) == Decimal(500 * K)
    assert allocation.total_awarded <= Decimal(6_000 * K)


def test_request_above_the_maximum_grant_is_funded_at_the_cap() -> None:
    allocation = allocate(funding_call(), ranking_of(ranked("A", 14, 650 * K)))
    assert allocation.grants[0].amount == Decimal(500 * K)
    assert allocation.grants[0].share_of_request == Decimal("0.7692")


def test_country_cap_passes_over_a_third_italian_lead() -> None:
    italy_cap = {"name": "Italy cap", "by": "lead_country", "key": "IT", "max_grants": 2}
    entries = [ranked("IT1", 15, 100 * K, "IT"), ranked("IT2", 14, 100 * K, "IT"), ranked("IT3", 13, 100 * K, "IT")]
    allocation = allocate(funding_call(constraints=[italy_cap]), ranking_of(*entries, ranked("AT1", 12, 100 * K)))
    assert [g.id for g in allocation.grants] == ["IT1", "IT2", "AT1"]
    assert allocation.reasons["IT3"] == "does not fit: Italy cap grants"
    assert "Italy cap grants" in allocation.binding


def test_a_topic_minimum_is_ring_fenced_before_the_rest_of_the_list() -> None:
    niche = {"name": "niche minimum", "by": "topic", "key": "niche", "min_amount": 150 * K}
    entries = [ranked(f"M{k}", 15 - k, 300 * K, topic="main") for k in range(4)]
    entries.append(ranked("N1", 10, 200 * K, topic="niche"))
    allocation = allocate(funding_call(constraints=[niche]), ranking_of(*entries))
    assert {g.id for g in allocation.grants} == {"N1", "M0", "M1"}
    assert allocation.prices[0].constraint == "niche minimum"
    without_minimum = (15 + 14 + 13) * 300 * K
    assert allocation.prices[0].price == without_minimum - ((15 + 14) * 300 * K + 10 * 200 * K)


def test_partial_funding_gives_the_proposal_at_the_line_what_is_left() -> None:
    ranking = ranking_of(ranked("A", 14, 500 * K), ranked("B", 13, 450 * K), ranked("C", 12, 500 * K))
    allocation = allocate(funding_call(partial_funding={"min_share": "0.8"}), ranking)
    grants = {g.id: g for g in allocation.grants}
    assert set(grants) == {"A", "B"}
    assert grants["B"].amount == Decimal(450 * K)
    short = allocate(funding_call(900 * K, partial_funding={"min_share": "0.8"}), ranking)
    assert {g.id: g.amount for g in short.grants} == {"A": 500 * K, "B": 400 * K}
    assert short.grants[1].share_of_request == Decimal("0.8889")


def test_tie_at_the_funding_line_funds_the_combination_of_most_proposals() -> None:
    tied = [ranked("BIG", 12, 400 * K), ranked("S1", 12, 250 * K), ranked("S2", 12, 200 * K)]
    ranking = ranking_of(ranked("TOP", 14, 500 * K), *tied)
    by_rank = allocate(funding_call(), ranking)
    assert [g.id for g in by_rank.grants] == ["TOP", "BIG"]
    most = allocate(funding_call(funding_line_tie="most_proposals"), ranking)
    assert [g.id for g in most.grants] == ["TOP", "S1", "S2"]
    assert "most proposals" in most.notes[0]
    assert "combination" in most.reasons["BIG"]


def test_a_tie_that_fits_entirely_is_funded_in_rank_order() -> None:
    ranking = ranking_of(ranked("A", 12, 300 * K), ranked("B", 12, 300 * K), ranked("C", 11, 300 * K))
    allocation = allocate(funding_call(funding_line_tie="most_proposals"), ranking)
    assert [g.id for g in allocation.grants] == ["A", "B", "C"]
    assert allocation.notes == []


def test_more_budget_names_the_next_proposal_and_the_extra_needed() -> None:
    """A (600k) and C (300k) are funded, B (500k) waits: 100k are left, so B needs 400k more."""
    ranking = ranking_of(ranked("A", 14, 600 * K), ranked("B", 13, 500 * K), ranked("C", 12, 300 * K))
    gain = allocate(funding_call(max_grant=None), ranking).more_budget
    assert gain is not None
    assert gain.extra == Decimal(400 * K)
    assert gain.newly_funded == ["B"]
    assert gain.objective_gain == 13 * 500 * K


def test_scenario_changes_the_budget_and_the_mode() -> None:
    ranking = ranking_of(ranked("A", 14, 600 * K), ranked("B", 13, 500 * K), ranked("C", 12, 400 * K))
    scenario = Scenario(name="more money", budget=Decimal(1_100 * K), max_grant=Decimal(600 * K), mode="optimal")
    allocation = allocate(funding_call(), ranking, scenario)
    assert allocation.scenario == "more money" and allocation.mode == "optimal"
    assert {g.id for g in allocation.grants} == {"A", "B"}


def test_scenario_can_forbid_partial_funding_and_replace_the_constraints() -> None:
    cap = {"by": "lead_country", "max_grants": 1}
    base = funding_call(partial_funding={"min_share": "0.5"}, constraints=[cap])
    settings = Scenario(partial_funding=False, replace_constraints=True).settings(base)
    assert settings.partial_funding is None and settings.constraints == []


def test_allocation_json_keeps_money_exact() -> None:
    allocation = allocate(funding_call(), ranking_of(ranked("A", 13.5, 123_456)))
    data = json.loads(allocation.model_dump_json())
    assert data["grants"][0]["amount"] == "123456.00"
    assert data["total_awarded"] == "123456.00"
    assert Decimal(data["objective"]) == Decimal("1666656")


@pytest.mark.parametrize("mode", ["rank", "optimal"])
def test_an_infeasible_call_says_why_each_proposal_waits_and_claims_no_gap(mode: str) -> None:
    niche = {"name": "niche minimum", "by": "topic", "key": "niche", "min_grants": 2}
    ranking = ranking_of(ranked("N1", 12, 300 * K, topic="niche"), ranked("M1", 14, 300 * K, topic="main"))
    allocation = allocate(funding_call(mode=mode, constraints=[niche]), ranking)
    assert allocation.status == "infeasible" and allocation.gap is None
    why = "nobody is funded: the call's limits cannot all hold (niche minimum grants)"
    assert allocation.reasons == {"M1": why, "N1": why}


def test_a_call_with_no_fundable_proposal_says_so() -> None:
    below = ranked("LOW", 8, 100 * K).model_copy(update={"fundable": False, "reasons": ["below the threshold"]})
    allocation = allocate(funding_call(), ranking_of(below))
    assert allocation.grants == [] and allocation.status == "complete"
    assert allocation.notes == ["no proposal is fundable (1 ranked, none eligible and above every threshold)"]


def test_a_minimum_of_zero_never_binds() -> None:
    nothing = {"name": "energy minimum", "by": "topic", "key": "energy", "min_grants": 0}
    ranking = ranking_of(ranked("A", 14, 500 * K), ranked("B", 13, 400 * K), ranked("C", 12, 300 * K))
    assert allocate(funding_call(constraints=[nothing]), ranking).binding == ["budget"]
