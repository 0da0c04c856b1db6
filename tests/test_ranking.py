"""Ranking: thresholds on unweighted scores, weights that only rank, lists, places, first stage, ``grants rank``."""

from __future__ import annotations

import json
import random
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from api.cli import main
from evaluator.ranking import Ranking, propose_first_stage_threshold, rank
from rules.check import EligibilityReport, Failure, ProposalEligibility
from rules.errors import ProposalError, ScoreError
from rules.model import Call
from rules.proposal import Proposal
from tests.factories import call, partner
from tests.score_factories import scored

IMPACT_COUNTS_HALF_AGAIN = [
    {"id": "excellence", "name": "Excellence", "threshold": 3},
    {"id": "impact", "name": "Impact", "threshold": 3, "weight": 1.5},
    {"id": "implementation", "name": "Implementation", "threshold": 3},
]


def innovation_action(**extra: Any) -> Call:
    """Horizon Europe's Innovation Action: impact weighs 1.5 for ranking only."""
    return call(criteria=IMPACT_COUNTS_HALF_AGAIN, **extra)


def by_id(ranking: Ranking) -> dict[str, Any]:
    return {e.id: e for e in ranking.entries}


def test_weights_rank_but_thresholds_read_unweighted_scores() -> None:
    ranking = rank(
        innovation_action(),
        [
            scored("EXCELLENT", {"E1": "5 3.5 5"}),  # total 13.5, weighted 15.25
            scored("IMPACTFUL", {"E1": "3.5 5 3.5"}),  # total 12, weighted 14.5
            scored("WEAK_IMPACT", {"E1": "5 2.5 5"}),  # weighted 13.75, but impact 2.5 < 3
        ],
    )
    entries = by_id(ranking)
    assert [e.id for e in ranking.fundable()] == ["EXCELLENT", "IMPACTFUL"]
    assert entries["EXCELLENT"].weighted_total == Decimal("15.250")
    assert entries["WEAK_IMPACT"].reasons == ["impact 2.50 is below its threshold 3"]


def test_a_weight_can_put_a_lower_total_higher() -> None:
    ranking = rank(innovation_action(), [scored("A", {"E1": "5 3.5 5"}), scored("B", {"E1": "4 5 4"})])
    assert [(e.id, e.total, e.position) for e in ranking.fundable()] == [
        ("B", Decimal("13.00"), 1),
        ("A", Decimal("13.50"), 2),
    ]


def test_the_overall_threshold_reads_the_unweighted_total() -> None:
    """3.5 + 3 + 3 = 9.5 misses 10, although impact's weight lifts the ranking score to 11."""
    entry = rank(innovation_action(), [scored("P1", {"E1": "3.5 3 3"})]).entries[0]
    assert (entry.weighted_total, entry.fundable) == (Decimal("11.000"), False)
    assert entry.reasons == ["total 9.50 is below the overall threshold 10"]


def test_an_ineligible_proposal_gives_its_failed_rules_as_reasons() -> None:
    two_partners = [partner("Lead", "AT", role="lead"), partner("B", "SI")]
    proposals = [scored("P1", {"E1": "5 5 5"}, partners=two_partners)]
    entry = rank(call([{"id": "three_partners", "rule": "min_partners", "count": 3}]), proposals).entries[0]
    assert not entry.eligible and not entry.fundable and entry.position is None
    assert entry.reasons == ["ineligible: three_partners: has 2 partners, at least 3 required"]


def test_a_proposal_nobody_scored_is_not_fundable() -> None:
    assert rank(call(), [scored("P1")]).entries[0].reasons == ["not evaluated: no applicable score and no consensus"]


def test_a_criterion_every_evaluator_found_not_applicable_needs_a_consensus() -> None:
    entry = rank(call(), [scored("P1", {"E1": "4 - 4", "E2": "4 - 4"})]).entries[0]
    assert entry.reasons == ["no applicable score on impact: a consensus score is needed"]


def test_a_report_given_by_the_caller_is_used_as_is() -> None:
    report = EligibilityReport(
        call_id="TEST-CALL",
        results=[ProposalEligibility(id="P1", eligible=False, failures=[Failure(rule="late", reason="after 17:00")])],
    )
    entry = rank(call(), [scored("P1", {"E1": "5 5 5"})], report).entries[0]
    assert entry.reasons == ["ineligible: late: after 17:00"]


def test_a_report_without_a_proposal_is_refused() -> None:
    report = EligibilityReport(call_id="TEST-CALL", results=[])
    with pytest.raises(ProposalError, match="no result for proposal P1"):
        rank(call(), [scored("P1", {"E1": "5 5 5"})], report)


def test_two_proposals_with_the_same_id_are_refused() -> None:
    with pytest.raises(ProposalError, match="proposal id 'P1' is used 2 times"):
        rank(call(), [scored("P1", {"E1": "5 5 5"}), scored("P1", {"E1": "4 4 4"})])


def test_bad_scores_stop_the_ranking() -> None:
    with pytest.raises(ScoreError, match="3.7 is not on the 0–5 scale"):
        rank(call(), [scored("P1", {"E1": "5 3.7 5"})])


def test_per_topic_calls_rank_each_topic_in_its_own_list() -> None:
    proposals = [
        scored("B1", {"E1": "4 4 4"}, topic="batteries"),
        scored("H1", {"E1": "3 3 4"}, topic="hydrogen"),
        scored("B2", {"E1": "5 5 5"}, topic="batteries"),
    ]
    ranking = rank(call(ranking={"lists": "per_topic"}), proposals)
    assert [(e.list_name, e.position, e.id) for e in ranking.entries] == [
        ("batteries", 1, "B2"),
        ("batteries", 2, "B1"),
        ("hydrogen", 1, "H1"),
    ]


def test_places_are_resolved_to_canonical_codes() -> None:
    members = [
        partner("Lead", "Italy", region="Emilia Romagna", role="lead"),
        partner("B", "SI"),
        partner("C", "EL"),
    ]
    entry = rank(call(), [scored("P1", {"E1": "4 4 4"}, partners=members, requested="350000.50")]).entries[0]
    assert (entry.lead_country, entry.lead_region, entry.countries) == ("IT", "ITH5", ["GR", "IT", "SI"])
    assert entry.requested_amount == Decimal("350000.50")


def test_disagreements_travel_with_the_ranked_proposal() -> None:
    entry = rank(call(scoring={"disagreement_limit": 2}), [scored("P1", {"E1": "5 5 5", "E2": "5 2.5 5"})]).entries[0]
    assert entry.flags == ["impact: scores spread 2.5 points, above the limit of 2: a consensus meeting is needed"]


def test_ties_are_broken_with_the_calls_chain() -> None:
    chain = call(tie_break=["criterion:impact", "lower_request"])
    proposals = [scored("A", {"E1": "4.5 4 4"}), scored("B", {"E1": "4 4.5 4"})]
    first, second = rank(chain, proposals).fundable()
    assert (first.id, second.id) == ("B", "A")
    assert first.ex_aequo is not None and first.ex_aequo.key == "criterion:impact"


def test_unresolved_ties_are_listed_and_drawn_the_same_way_every_time() -> None:
    proposals = [scored(p, {"E1": "4 4 4"}) for p in "ABC"]
    first, second = rank(call(), proposals), rank(call(), proposals[::-1])
    assert first.unresolved_ties == second.unresolved_ties
    assert [e.id for e in first.entries] == [e.id for e in second.entries] == first.unresolved_ties[0]


totals = st.lists(st.integers(min_value=6, max_value=10).map(lambda k: k / 2), min_size=3, max_size=3)


@settings(max_examples=30, deadline=None)
@given(st.lists(totals, min_size=2, max_size=8), st.randoms(use_true_random=False))
def test_the_order_proposals_arrive_in_changes_nothing(sheets: list[list[float]], shuffle: random.Random) -> None:
    proposals = [scored(f"P{i}", {"E1": " ".join(map(str, s))}, topic=f"T{i % 2}") for i, s in enumerate(sheets)]
    shuffled = list(proposals)
    shuffle.shuffle(shuffled)
    assert rank(call(), proposals).model_dump() == rank(call(), shuffled).model_dump()


# --- first stage of a two-stage call ----------------------------------------------------------------------------


def first_stage(*requests: tuple[str, int]) -> list[Proposal]:
    """Proposals by total score; every one requests its amount in EUR thousands."""
    return [
        scored(f"P{i}", {"E1": scores}, requested=thousands * 1000)
        for i, (scores, thousands) in enumerate(requests, start=1)
    ]


def test_first_stage_threshold_is_the_one_closest_to_three_times_the_budget() -> None:
    """Budget 1,000,000: thresholds 15, 13.5, 12 and 10.5 let 1.0x, 2.2x, 2.9x and 3.6x through."""
    proposals = first_stage(("5 5 5", 1000), ("4.5 4.5 4.5", 1200), ("4 4 4", 700), ("3.5 3.5 3.5", 700))
    two_stage = call(overall_threshold=None, ranking={"two_stage": True})
    proposal = rank(two_stage, proposals).first_stage
    assert proposal is not None
    assert [(o.threshold, o.proposals, o.oversubscription) for o in proposal.options] == [
        (Decimal("15.00"), 1, Decimal("1.00")),
        (Decimal("13.50"), 2, Decimal("2.20")),
        (Decimal("12.00"), 3, Decimal("2.90")),
        (Decimal("10.50"), 4, Decimal("3.60")),
    ]
    assert proposal.threshold == Decimal("12.00")
    assert proposal.explanation.startswith("an overall threshold of 12 lets 3 proposals through")


def test_first_stage_threshold_never_goes_under_the_minimum_oversubscription() -> None:
    """2.4x is closer to 3 than 3.7x, but under the 2.5x minimum."""
    proposals = first_stage(("5 5 5", 2400), ("4 4 4", 1300))
    ranking = rank(call(overall_threshold=None), proposals)
    assert propose_first_stage_threshold(call(), ranking).threshold == Decimal("12.00")


def test_first_stage_without_enough_demand_proposes_no_threshold() -> None:
    ranking = rank(call(overall_threshold=None), first_stage(("5 5 5", 500), ("4 4 4", 500), ("2 2 2", 5000)))
    proposal = propose_first_stage_threshold(call(), ranking)
    assert proposal.threshold is None
    assert "request EUR 1,000,000.00, less than 2.5x the budget" in proposal.explanation


# --- grants rank ------------------------------------------------------------------------------------------------


def grants(monkeypatch: pytest.MonkeyPatch, *args: str) -> int | str | None:
    """Run the command as a user would; its exit code."""
    monkeypatch.setattr(sys, "argv", ["grants", *args])
    with pytest.raises(SystemExit) as exit_code:
        main()
    return exit_code.value.code


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    spec = call().model_dump(mode="json", exclude_none=True)
    proposals = [scored("P1", {"E1": "4 4 4"}), scored("P2", {"E1": "5 5 5", "E2": "4 4 4.5"})]
    (tmp_path / "call.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    rows = [p.model_dump(mode="json", exclude_none=True) for p in proposals]
    (tmp_path / "proposals.yaml").write_text(yaml.safe_dump(rows, sort_keys=False), encoding="utf-8")
    return str(tmp_path / "call.yaml"), str(tmp_path / "proposals.yaml")


def test_grants_rank_prints_the_ranked_list(
    files: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert grants(monkeypatch, "rank", *files) == 0
    out = capsys.readouterr().out
    assert "Ranking — TEST-CALL" in out
    assert out.index("P2") < out.index("P1")
    assert "2 of 2 proposals are fundable" in out


def test_grants_rank_json_is_the_ranking(
    files: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert grants(monkeypatch, "rank", *files, "--json", "--calibrate") == 0
    ranking = Ranking.model_validate(json.loads(capsys.readouterr().out))
    assert [e.id for e in ranking.entries] == ["P2", "P1"]
    assert ranking.calibration is not None


def test_grants_rank_points_at_the_bad_score_in_the_file(
    files: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    call_path, proposals_path = files
    text = Path(proposals_path).read_text(encoding="utf-8")
    Path(proposals_path).write_text(text.replace("implementation: '4.5'", "implementation: '4.7'"), encoding="utf-8")
    assert grants(monkeypatch, "rank", call_path, proposals_path) == 2
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "implementation: '4.5'" in row)
    assert f"{proposals_path}:{line}: 1.evaluations.1.scores.implementation: proposal P2, evaluator E2" in (
        capsys.readouterr().err
    )
