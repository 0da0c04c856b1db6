"""Explanations in the call's money and in plain words: what each limit costs, what keeps a reserve out."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from evaluator.allocation import allocate
from evaluator.explanations import Currency
from rules.money import from_cents
from tests.test_allocation import K, funding_call, ranked, ranking_of


def test_a_reserve_in_optimal_mode_says_what_keeps_it_out_and_how_much_more_budget_would_fund_it() -> None:
    """A (600k) and B (300k) fill 900k of the 1M budget; C (400k, a weak score) lacks 300k."""
    ranking = ranking_of(ranked("A", 14, 600 * K), ranked("B", 13, 300 * K), ranked("C", 8, 400 * K))
    allocation = allocate(funding_call(max_grant=None, mode="optimal"), ranking)
    (reason,) = allocation.reserve_reasons
    assert (reason.id, reason.kept_out_by, reason.needs, reason.extra_budget) == (
        "C",
        ["budget"],
        Decimal(400 * K),
        Decimal(300 * K),
    )
    assert reason.would_leave == ["B"]
    assert allocation.reasons["C"] == (
        "kept out by the budget (EUR 100,000.00 left; it needs EUR 400,000.00); "
        "it would fit with EUR 300,000.00 more budget or B leaving "
        "(the lowest-scoring funded proposals it competes with)"
    )
    assert "optimal portfolio" not in allocation.reasons["C"]


def test_a_full_grant_count_is_named_and_lifting_it_says_who_would_be_funded_for_how_much() -> None:
    ranking = ranking_of(ranked("A", 14, 300 * K), ranked("B", 13, 300 * K), ranked("C", 12, 300 * K))
    allocation = allocate(funding_call(max_grant=None, mode="optimal", max_grants=2), ranking)
    assert allocation.reserve_reasons[0].kept_out_by == ["max_grants"]
    assert "the grant count (all 2 grants given)" in allocation.reasons["C"]
    assert "max_grants" in allocation.binding
    (price,) = allocation.prices
    assert (price.constraint, price.exact, price.funds_instead, price.extra_awarded) == (
        "max_grants",
        True,
        ["C"],
        Decimal(300 * K),
    )
    assert price.price == 12 * 300 * K
    assert price.explanation == "without the 2-grant limit, C would also be funded, for EUR 300,000.00 more in grants"


def test_a_limit_the_relaxation_does_not_price_is_not_re_solved_and_says_so() -> None:
    loose = {"name": "Italy cap", "by": "lead_country", "key": "IT", "max_share": "0.9"}
    ranking = ranking_of(ranked("A", 14, 300 * K, "IT"), ranked("B", 13, 300 * K), ranked("C", 12, 500 * K))
    allocation = allocate(funding_call(max_grant=None, mode="optimal", constraints=[loose]), ranking)
    (price,) = allocation.prices
    assert (price.constraint, price.binds) == ("Italy cap", False)
    assert price.explanation.startswith("the Italy cap limit does not hold the allocation back")


def test_the_objective_has_its_unit_and_rank_mode_is_not_called_optimal() -> None:
    ranking = ranking_of(ranked("A", 14, 600 * K), ranked("B", 13, 500 * K))
    optimal = allocate(funding_call(mode="optimal"), ranking)
    assert optimal.objective_unit == "score × EUR granted"
    assert allocate(funding_call(), ranking).status == "complete"


@given(st.integers(-(10**15), 10**15))
def test_amounts_in_words_are_the_decimal_amount_to_the_cent(cents: int) -> None:
    assert Currency("EUR")(cents) == f"EUR {from_cents(cents):,.2f}"
