"""The ex aequo chain: each key, the order of keys, and the documented draw."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from evaluator.ex_aequo import Candidate, Order, chain, draw_ticket, order
from tests.ex_aequo_reference import reference_order
from tests.factories import partner, proposal

CALL = "TEST-CALL"


def tied(id: str, score: str = "12", scores: dict[str, str] | None = None, **extra: Any) -> Candidate:
    """A candidate with ranking score 12 (by default) and the partners' countries as given."""
    countries = extra.pop("countries", "AT SI HU").split()
    members = [partner(f"{id}-{c}", c, role="lead" if i == 0 else "partner") for i, c in enumerate(countries)]
    return Candidate(
        proposal=proposal(id, partners=extra.pop("partners", members), **extra),
        score=Decimal(score),
        scores={k: Decimal(v) for k, v in (scores or {}).items()},
        countries=frozenset(countries),
    )


def ranked(keys: list[str], *candidates: Candidate) -> list[str]:
    return [c.id for c in order(CALL, chain(keys), candidates).ranked]


def test_a_higher_score_is_never_reordered_by_the_chain() -> None:
    assert ranked(["lower_request"], tied("A", "11", requested=100_000), tied("B", "12", requested=400_000)) == [
        "B",
        "A",
    ]


def test_a_topic_no_higher_proposal_covers_comes_first() -> None:
    above = tied("TOP", "13", topic="batteries")
    assert ranked(["uncovered_topic"], above, tied("A", topic="batteries"), tied("B", topic="hydrogen")) == [
        "TOP",
        "B",
        "A",
    ]


def test_higher_score_on_the_named_criterion_comes_first() -> None:
    a = tied("A", scores={"excellence": "4", "impact": "4.5"})
    b = tied("B", scores={"excellence": "4.5", "impact": "4"})
    assert ranked(["criterion:excellence"], a, b) == ["B", "A"]


def test_changing_the_order_of_the_chain_changes_the_result() -> None:
    a = tied("A", scores={"excellence": "4", "impact": "4.5"})
    b = tied("B", scores={"excellence": "4.5", "impact": "4"})
    assert ranked(["criterion:excellence", "criterion:impact"], a, b) == ["B", "A"]
    assert ranked(["criterion:impact", "criterion:excellence"], a, b) == ["A", "B"]


def test_gender_balance_means_closer_to_parity_not_more_women() -> None:
    assert ranked(["gender_balance"], tied("A", gender_balance="0.8"), tied("B", gender_balance="0.4")) == ["B", "A"]
    assert ranked(
        ["gender_balance", "lower_request"],
        tied("A", gender_balance="0.6"),
        tied("B", gender_balance="0.4", requested=300_000),
    ) == ["B", "A"]


def test_unknown_gender_balance_comes_after_any_known_one() -> None:
    assert ranked(["gender_balance"], tied("A"), tied("B", gender_balance="0.9")) == ["B", "A"]


def test_countries_not_yet_represented_higher_up_come_first() -> None:
    above = tied("TOP", "13", countries="AT SI HU")
    a = tied("A", countries="AT SI HU IT")  # one new country
    b = tied("B", countries="DE FR")  # two new countries, fewer in total
    assert ranked(["new_countries"], above, a, b) == ["TOP", "B", "A"]


def test_within_a_tied_group_each_placed_proposal_counts_as_higher_ranked() -> None:
    """B brings DE, FR, NL first; C's DE and FR are then no longer new, so A (PL) goes before C."""
    b = tied("B", countries="DE FR NL")
    c = tied("C", countries="DE FR")
    a = tied("A", countries="PL")
    result = order(CALL, chain(["new_countries", "lower_request"]), [a, b, c])
    assert [x.id for x in result.ranked] == ["B", "A", "C"]
    assert result.tie_breaks["A"].detail == "A: 1 country not yet represented (PL); C: 0 countries not yet represented"


def test_larger_budget_share_to_smes_comes_first() -> None:
    def consortium(sme_budget: int) -> list[Any]:
        return [
            partner("Lead", "AT", role="lead", budget=100_000),
            partner("Small", "SI", type="sme", budget=sme_budget),
            partner("Big", "HU", type="large_enterprise", budget=100_000),
        ]

    a = tied("A", partners=consortium(50_000))
    b = tied("B", partners=consortium(200_000))
    result = order(CALL, chain(["sme_share"]), [a, b])
    assert [x.id for x in result.ranked] == ["B", "A"]
    assert result.tie_breaks["B"].detail == "B: 50.0% of the budget to SMEs; A: 20.0% of the budget to SMEs"


def test_sme_share_is_unknown_when_a_partner_gives_no_budget() -> None:
    known = tied("A", partners=[partner("Lead", "AT", role="lead", budget=100_000), partner("S", "SI", budget=1)])
    assert ranked(["sme_share"], tied("B"), known) == ["A", "B"]


def test_lower_request_comes_first() -> None:
    assert ranked(["lower_request"], tied("A", requested=450_000), tied("B", requested=300_000)) == ["B", "A"]


def test_the_higher_proposal_records_which_step_decided_against_the_next() -> None:
    a = tied("A", scores={"excellence": "4", "impact": "4.5"})
    b = tied("B", scores={"excellence": "4", "impact": "4"})
    result = order(CALL, chain(["uncovered_topic", "criterion:excellence", "criterion:impact"]), [b, a])
    tie = result.tie_breaks["A"]
    assert (tie.other, tie.step, tie.key, tie.detail) == ("B", 3, "criterion:impact", "A: impact 4.5; B: impact 4")
    assert "B" not in result.tie_breaks


def draw(*candidates: Candidate) -> Order:
    return order(CALL, chain(["lower_request"]), candidates)


def test_a_tie_the_chain_cannot_break_is_drawn_by_the_documented_hash() -> None:
    result = draw(tied("A"), tied("B"), tied("C"))
    by_ticket = sorted("ABC", key=lambda p: hashlib.sha256(f"{CALL}:{p}".encode()).hexdigest())
    assert [c.id for c in result.ranked] == by_ticket
    assert result.unresolved == [by_ticket]
    first = result.tie_breaks[by_ticket[0]]
    assert (first.step, first.key) == (0, "draw")
    assert draw_ticket(CALL, by_ticket[0])[:12] in first.detail


@given(st.permutations(["A", "B", "C", "D"]))
def test_the_draw_does_not_depend_on_the_order_proposals_arrive_in(ids: list[str]) -> None:
    assert [c.id for c in draw(*(tied(i) for i in ids)).ranked] == [c.id for c in draw(*map(tied, "ABCD")).ranked]


KEY_NAMES = ["uncovered_topic", "criterion:excellence", "gender_balance", "new_countries", "sme_share", "lower_request"]


@st.composite
def tied_lists(draw: st.DrawFn) -> tuple[list[str], list[Candidate]]:
    """A chain and a list with many ties: few scores, topics, countries and requests to choose from."""
    keys = draw(st.lists(st.sampled_from(KEY_NAMES), unique=True, max_size=4))
    candidates = []
    for k in range(draw(st.integers(1, 14))):
        countries = draw(st.lists(st.sampled_from(["AT", "SI", "HU", "IT", "DE"]), min_size=1, max_size=3, unique=True))
        extra: dict[str, Any] = {"topic": draw(st.sampled_from([None, "batteries", "hydrogen"]))}
        if draw(st.booleans()):
            extra["gender_balance"] = draw(st.sampled_from(["0.4", "0.5", "0.6", "0.8"]))
        candidates.append(
            tied(
                f"P{k}",
                draw(st.sampled_from(["11", "12"])),
                scores={"excellence": draw(st.sampled_from(["4", "4.5"]))},
                countries=" ".join(countries),
                requested=draw(st.sampled_from([300_000, 400_000])),
                **extra,
            )
        )
    return keys, candidates


@given(tied_lists())
def test_the_fast_ordering_agrees_with_the_quadratic_one_it_replaced(
    instance: tuple[list[str], list[Candidate]],
) -> None:
    keys, candidates = instance
    fast, reference = order(CALL, chain(keys), candidates), reference_order(CALL, chain(keys), candidates)
    assert [c.id for c in fast.ranked] == [c.id for c in reference.ranked]
    assert fast.tie_breaks == reference.tie_breaks
    assert fast.unresolved == reference.unresolved


@given(tied_lists())
def test_ordering_without_the_words_gives_the_same_order_and_draws(instance: tuple[list[str], list[Candidate]]) -> None:
    keys, candidates = instance
    explained, bare = order(CALL, chain(keys), candidates), order(CALL, chain(keys), candidates, explain=False)
    assert [c.id for c in bare.ranked] == [c.id for c in explained.ranked]
    assert bare.unresolved == explained.unresolved
    assert bare.tie_breaks == {}
