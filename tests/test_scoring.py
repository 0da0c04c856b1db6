"""Evaluators' scores: validation against the call's criteria and consolidation per criterion."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evaluator.scoring import _proposal_problems, consolidate, reported, validate_scores
from rules.errors import ScoreError
from rules.proposal import Proposal
from tests.factories import call, proposal
from tests.score_factories import scored, sheet


def problems(*proposals: Proposal, **call_settings: Any) -> list[str]:
    with pytest.raises(ScoreError) as caught:
        validate_scores(call(**call_settings), proposals)
    return [p.message for p in caught.value.problems]


def impact(*sheets: str, **call_settings: Any) -> dict[str, Any]:
    """Consolidate one proposal whose evaluators gave these impact scores (other criteria: 4)."""
    proposal = scored("P1", {f"E{i}": f"4 {score} 4" for i, score in enumerate(sheets, start=1)})
    result = consolidate(call(**call_settings), [proposal])[0]
    return result.criteria["impact"].model_dump() | {"flags": result.flags}


def test_score_off_the_step_names_proposal_evaluator_and_criterion() -> None:
    messages = problems(scored("P7", {"E1": "4 4 4", "E3": "4 3.7 4"}))
    assert messages == ["proposal P7, evaluator E3, criterion impact: 3.7 is not on the 0–5 scale in steps of 0.5"]


def test_score_above_the_scale_is_refused() -> None:
    assert problems(scored("P1", {"E1": "5.5 4 4"})) == [
        "proposal P1, evaluator E1, criterion excellence: 5.5 is not on the 0–5 scale in steps of 0.5"
    ]


def test_every_problem_of_the_score_sheets_comes_in_one_error() -> None:
    messages = problems(
        scored("P1", {"E1": "-1 4 4"}),
        scored("P2", {"E2": "4 4.25 4"}),
        scored("P3", {"E1": "4 4 4"}, consensus={"impact": Decimal("6")}),
    )
    assert len(messages) == 3
    assert messages[2] == "proposal P3, consensus, criterion impact: 6 is not on the 0–5 scale in steps of 0.5"


def test_unknown_criterion_lists_the_calls_criteria() -> None:
    extra = {"evaluator": "E1", "scores": {"excellence": 4, "impact": 4, "implementation": 4, "relevance": 3}}
    assert problems(proposal("P1", evaluations=[extra])) == [
        "proposal P1, evaluator E1: unknown criterion 'relevance'; the call's criteria are "
        "excellence, impact, implementation"
    ]


def test_a_missing_score_asks_for_null_rather_than_guessing() -> None:
    incomplete = {"evaluator": "E1", "scores": {"excellence": 4, "implementation": 4}}
    assert problems(proposal("P1", evaluations=[incomplete])) == [
        "proposal P1, evaluator E1: no score for criterion impact (write null if it does not apply)"
    ]


def test_an_evaluator_scoring_a_proposal_twice_is_refused() -> None:
    twice = proposal("P1", evaluations=[sheet("E1", "4 4 4"), sheet("E1", "3 3 3")])
    assert problems(twice) == ["proposal P1: evaluator E1 scored it twice (evaluations 1 and 2)"]


SCORES = st.sampled_from(["4", "4.0", "3.5", "-", "5", "0", "5.5", "3.7", "-1"])
SHEETS = st.lists(
    st.tuples(st.sampled_from(["E1", "E2", "E3"]), st.lists(SCORES, min_size=3, max_size=3).map(" ".join)),
    max_size=3,
)


@given(st.lists(SHEETS, min_size=1, max_size=12))
def test_sheets_found_plain_once_are_not_checked_again_yet_every_problem_is_told(drawn: list[Any]) -> None:
    """The shortcut for sheets already seen gives the same problems as checking each proposal in full."""
    proposals = [
        proposal(f"P{i}", evaluations=[sheet(who, scores) for who, scores in sheets]) for i, sheets in enumerate(drawn)
    ]
    criteria = {c.id: c for c in call().criteria}
    expected = [p for i, one in enumerate(proposals) for p in _proposal_problems(criteria, one, i)]
    if not expected:
        validate_scores(call(), proposals)
        return
    with pytest.raises(ScoreError) as caught:
        validate_scores(call(), proposals)
    assert caught.value.problems == expected


def test_errors_point_at_the_score_in_the_file() -> None:
    with pytest.raises(ScoreError) as caught:
        validate_scores(call(), [scored("P1", {"E1": "4 4 4"}), scored("P2", {"E1": "4 4 4", "E2": "4 4 9"})])
    assert caught.value.problems[0].path == "1.evaluations.1.scores.implementation"


def test_not_applicable_is_left_out_not_counted_as_zero() -> None:
    score = impact("4", "-", "5")
    assert (score["value"], score["scores"], score["not_applicable"]) == (Decimal("4.50"), 2, 1)


def test_mean_is_reported_to_two_decimals_rounding_halves_up() -> None:
    assert impact("4", "4", "4.5")["value"] == Decimal("4.17")
    assert impact("4", "4", "4", "4.5")["value"] == Decimal("4.13")  # 4.125 exactly: half up, not half even


def test_median_of_an_even_number_of_scores_is_the_midpoint() -> None:
    assert impact("3", "5", "4.5", "4", scoring={"consolidation": "median"})["value"] == Decimal("4.25")


def test_trimmed_mean_drops_the_extremes() -> None:
    assert impact("1", "4", "4.5", "5", scoring={"consolidation": "trimmed_mean"})["value"] == Decimal("4.25")


def test_trimmed_mean_keeps_the_middle_when_there_are_too_few_scores_to_trim() -> None:
    assert impact("3", "4", scoring={"consolidation": "trimmed_mean", "trim": 2})["value"] == Decimal("3.50")


def test_a_recorded_consensus_overrides_the_mean_and_settles_the_disagreement() -> None:
    proposal = scored("P1", {"E1": "4 1 4", "E2": "4 5 4"}, consensus={"impact": Decimal("3.5")})
    result = consolidate(call(scoring={"disagreement_limit": 2}), [proposal])[0]
    score = result.criteria["impact"]
    assert (score.value, score.method, score.spread, score.disagreement) == (Decimal("3.50"), "consensus", 4, False)
    assert result.flags == []


def test_disagreement_is_flagged_only_above_the_limit() -> None:
    assert not impact("3", "5", scoring={"disagreement_limit": 2})["disagreement"]
    flagged = impact("2.5", "5", scoring={"disagreement_limit": 2})
    assert flagged["disagreement"]
    assert flagged["flags"] == ["impact: scores spread 2.5 points, above the limit of 2: a consensus meeting is needed"]


def test_fewer_evaluators_than_the_call_asks_for_is_flagged() -> None:
    assert impact("4", "4", scoring={"min_evaluators": 3})["flags"] == [
        "2 evaluators, fewer than the 3 the call asks for"
    ]


def test_too_few_applicable_scores_on_one_criterion_is_flagged() -> None:
    score = impact("4", "-", "4", scoring={"min_evaluators": 3})
    assert score["too_few"]
    assert score["flags"] == ["impact: 2 applicable scores, fewer than 3"]


def test_a_criterion_nobody_could_score_has_no_value() -> None:
    assert impact("-", "-")["value"] is None


half_points = st.integers(min_value=0, max_value=10).map(lambda k: Decimal(k) / 2)


@given(st.lists(half_points, min_size=1, max_size=9), st.sampled_from(["mean", "median", "trimmed_mean"]))
def test_consolidated_score_lies_between_the_lowest_and_highest_score(scores: list[Decimal], rule: str) -> None:
    value = impact(*map(str, scores), scoring={"consolidation": rule})["value"]
    assert isinstance(value, Decimal)
    assert min(scores) <= value <= max(scores)


@given(st.lists(half_points, min_size=1, max_size=9))
def test_reported_mean_is_within_half_a_hundredth_of_the_exact_mean(scores: list[Decimal]) -> None:
    exact = sum(map(Fraction, scores), Fraction(0)) / len(scores)
    value = impact(*map(str, scores))["value"]
    assert isinstance(value, Decimal)
    assert abs(Fraction(value) - exact) <= Fraction(1, 200)
    assert value == reported(exact)
