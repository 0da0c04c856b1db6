"""Scenarios, budget sweeps and Monte Carlo funding odds."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluator import simulation
from evaluator.allocation import Scenario
from evaluator.ranking import RankedProposal
from evaluator.simulation import (
    SimulationError,
    budget_range,
    budget_sweep,
    compare,
    funding_odds,
    load_scenarios,
)
from rules.proposal import Evaluation
from tests.factories import proposal
from tests.test_allocation import K, funding_call, ranked, ranking_of


def below_threshold(id: str, score: float, requested: int) -> RankedProposal:
    return ranked(id, score, requested).model_copy(update={"fundable": False, "reasons": ["below the threshold"]})


@st.composite
def rank_mode_calls(draw: st.DrawFn) -> tuple[Any, Any]:
    n = draw(st.integers(1, 12))
    entries = [
        ranked(
            f"P{k:02d}",
            draw(st.integers(20, 30)) / 2,
            draw(st.integers(5, 50)) * 10 * K,
            draw(st.sampled_from(["AT", "IT"])),
            topic := draw(st.sampled_from(["a", "b"])),
            topic,
        )
        for k in range(n)
    ]
    total = sum(int(e.requested_amount) for e in entries)
    constraints: list[dict[str, Any]] = []
    if draw(st.booleans()):
        constraints.append({"by": "lead_country", "key": "IT", "max_share": draw(st.sampled_from(["0.2", "0.5"]))})
    if draw(st.booleans()):
        constraints.append({"by": "topic", "key": "b", "min_amount": draw(st.integers(0, 30)) * 10 * K})
    allocation: dict[str, Any] = {
        "constraints": constraints,
        "max_grants": draw(st.one_of(st.none(), st.integers(1, n))),
        "ranking_discipline": draw(st.booleans()),
    }
    if draw(st.booleans()):
        allocation["partial_funding"] = {"min_share": "0.7"}
    return funding_call(total * draw(st.integers(2, 9)) // 10, None, **allocation), ranking_of(*entries)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=rank_mode_calls())
def test_monte_carlo_at_noise_zero_is_the_funding_line(instance: tuple[Any, Any]) -> None:
    call, ranking = instance
    odds = funding_odds(call, ranking, noise=Decimal(0), runs=3)
    for row in odds.odds:
        assert row.probability == (Decimal(1) if row.funded_now else Decimal(0)), row


def odds_call_and_ranking() -> tuple[Any, Any]:
    entries = [ranked(f"P{k}", 14 - k * 0.25, 200 * K) for k in range(8)]
    return funding_call(1_000 * K), ranking_of(*entries, below_threshold("LOW", 9.5, 100 * K))


def test_monte_carlo_is_reproducible_with_its_seed() -> None:
    call, ranking = odds_call_and_ranking()
    first = funding_odds(call, ranking, noise=Decimal("0.5"), runs=300, seed=11)
    again = funding_odds(call, ranking, noise=Decimal("0.5"), runs=300, seed=11)
    other = funding_odds(call, ranking, noise=Decimal("0.5"), runs=300, seed=12)
    assert first == again
    assert first.odds != other.odds


def test_chunks_walked_side_by_side_give_the_odds_of_one_walker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sixty chunks of five draws, two walking at once, count what one walker alone counts."""
    call, ranking = odds_call_and_ranking()
    monkeypatch.setattr(simulation, "CHUNK_CELLS", 90)
    together = funding_odds(call, ranking, noise=Decimal("0.5"), runs=300, seed=11, full=True)
    monkeypatch.setattr(simulation, "WALKERS", 1)
    monkeypatch.setattr(simulation, "CHUNK_CELLS", 45)
    alone = funding_odds(call, ranking, noise=Decimal("0.5"), runs=300, seed=11, full=True)
    assert together == alone
    assert any(Decimal(0) < o.probability < Decimal(1) for o in alone.odds)


def test_noise_blurs_the_line_but_not_the_clear_cases() -> None:
    call, ranking = odds_call_and_ranking()
    odds = {o.id: o.probability for o in funding_odds(call, ranking, noise=Decimal("0.2"), runs=400, seed=1).odds}
    assert odds["P0"] > Decimal("0.99")
    assert Decimal("0.05") < odds["P4"] < Decimal("0.95")
    assert odds["P4"] > odds["P6"]
    assert odds["LOW"] == 0


def test_noise_can_lift_a_proposal_over_the_overall_threshold() -> None:
    ranking = ranking_of(ranked("GOOD", 12, 100 * K), below_threshold("LOW", 9.75, 100 * K))
    odds = {o.id: o for o in funding_odds(funding_call(), ranking, noise=Decimal("0.3"), runs=400, seed=2).odds}
    assert not odds["LOW"].funded_now
    assert Decimal("0.1") < odds["LOW"].probability < Decimal("0.5")


@pytest.mark.parametrize(
    ("noise", "seed", "message"),
    [
        ("0.5", -1, "the seed must be zero or more, got -1"),
        ("1e300", 0, "a noise of 1E+300 is wider than the widest scale (5)"),
    ],
)
def test_odds_refuse_a_negative_seed_and_noise_wider_than_the_scale(noise: str, seed: int, message: str) -> None:
    call, ranking = odds_call_and_ranking()
    with pytest.raises(SimulationError, match=re.escape(message)):
        funding_odds(call, ranking, noise=Decimal(noise), runs=10, seed=seed)


def test_resampling_evaluators_needs_their_scores() -> None:
    call, ranking = odds_call_and_ranking()
    with pytest.raises(SimulationError, match="evaluator scores"):
        funding_odds(call, ranking, resample=True, runs=10)
    sheets = [
        proposal(e.id, evaluations=[Evaluation(evaluator=f"E{j}", scores=_spread(e, j)) for j in range(3)])
        for e in ranking.entries
    ]
    odds = funding_odds(call, ranking, sheets, resample=True, runs=200, seed=3)
    assert odds.method == "resample"
    assert odds == funding_odds(call, ranking, sheets, resample=True, runs=200, seed=3)
    assert odds.uncertain > 0


def _spread(entry: RankedProposal, evaluator: int) -> dict[str, Decimal | None]:
    return {c: s + Decimal(evaluator - 1) / 2 for c, s in entry.scores.items()}


def test_budget_sweep_funds_one_more_proposal_per_step() -> None:
    ranking = ranking_of(*(ranked(f"P{k}", 14 - k, 100 * K) for k in range(3)))
    points = budget_sweep(funding_call(), ranking, budget_range(Decimal(100 * K), Decimal(300 * K), 3))
    assert [p.grants for p in points] == [1, 2, 3]
    assert [p.last_funded for p in points] == ["P0", "P1", "P2"]
    assert [p.total_score for p in points] == [14, 27, 39]


@pytest.mark.parametrize(
    ("low", "high", "steps", "message"),
    [(5, 1, 3, "goes down"), (-1, 5, 3, "positive"), (1, 5, 1, "two steps"), (1, 5, 100_000_000, "at most 1,000")],
)
def test_budget_range_rejects_what_cannot_be_swept(low: int, high: int, steps: int, message: str) -> None:
    with pytest.raises(SimulationError, match=message):
        budget_range(Decimal(low), Decimal(high), steps)


def test_scenarios_side_by_side_show_what_changes() -> None:
    ranking = ranking_of(*(ranked(f"P{k}", 14 - k, 300 * K, ["AT", "IT"][k % 2]) for k in range(4)))
    cap = {"name": "one per country", "by": "lead_country", "max_grants": 1}
    rows = compare(funding_call(), ranking, [Scenario(name="call"), Scenario(name="capped", constraints=[cap])])
    assert [r.scenario for r in rows] == ["call", "capped"]
    assert rows[0].grants == 3 and rows[1].grants == 2
    assert rows[1].not_here == ["P2"]
    assert rows[1].binding == ["one per country (AT) grants", "one per country (IT) grants"]


def test_scenario_file_errors_point_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text("scenarios:\n  - name: more\n    budget: 2000000\n  - name: bad\n    budget: -5\n")
    with pytest.raises(SimulationError) as caught:
        load_scenarios(path)
    problem = caught.value.problems[0]
    assert problem.line == 5 and problem.path == "scenarios.1.budget"
    path.write_text("- name: more\n  budget: 2000000\n")
    assert load_scenarios(path)[0].budget == Decimal(2_000_000)


def test_a_misspelt_scenario_field_is_an_error_not_the_call_s_budget(tmp_path: Path) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text("- name: call\n- name: more\n  budjet: 2000000\n")
    with pytest.raises(SimulationError) as caught:
        load_scenarios(path)
    assert [str(p) for p in caught.value.problems] == [f"{path}:3: 1.budjet: unknown field 'budjet'"]


def test_a_scenario_range_in_the_wrong_order_is_one_problem_not_one_per_union_branch(tmp_path: Path) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text("- name: call\n- name: deeper cuts\n  partial_funding: {min_share: 0.9, max_share: 0.5}\n")
    with pytest.raises(SimulationError) as caught:
        load_scenarios(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:3: 1.partial_funding: min_share 0.9 is above max_share 0.5"
    ]
