"""The assignment integer program on its own: fill, balance, respect conflicts and expertise."""

from __future__ import annotations

from api.assignment import AssignmentPolicy, AssignmentProblem, EvaluatorProfile, assign


def evaluators(count: int, topics: list[str] | None = None) -> list[EvaluatorProfile]:
    return [
        EvaluatorProfile(id=f"E{i}", name=f"E{i}", organisation=f"Institute {i}", country="FR", topics=topics or [])
        for i in range(1, count + 1)
    ]


def problem(proposals: int, panel: list[EvaluatorProfile], **policy: object) -> AssignmentProblem:
    return AssignmentProblem(
        proposals={f"P{i}": None for i in range(1, proposals + 1)},
        evaluators=panel,
        policy=AssignmentPolicy.model_validate(policy),
    )


def test_eight_proposals_two_evaluators_each_spread_evenly_over_four() -> None:
    plan = assign(problem(8, evaluators(4), evaluators_per_proposal=2))
    assert len(plan.assigned) == 16 and plan.unfilled == []
    assert set(plan.loads.values()) == {4}
    assert all(len({e for p, e in plan.assigned if p == proposal}) == 2 for proposal in {p for p, _ in plan.assigned})


def test_a_forbidden_pair_is_never_chosen_even_when_it_leaves_a_slot_empty() -> None:
    pb = problem(1, evaluators(2), evaluators_per_proposal=2)
    pb.forbidden = {("P1", "E2")}
    plan = assign(pb)
    assert plan.assigned == [("P1", "E1")]
    assert plan.unfilled[0].reason == "only 1 more evaluators are free of conflicts"


def test_preferred_expertise_picks_the_expert_and_counts_mismatches() -> None:
    panel = [*evaluators(1), EvaluatorProfile(id="X", name="X", organisation="Lab", country="DE", topics=["Space"])]
    pb = AssignmentProblem(
        proposals={"P1": "space", "P2": "space"},
        evaluators=[p.model_copy(update={"topics": ["farming"]}) if p.id == "E1" else p for p in panel],
        policy=AssignmentPolicy(evaluators_per_proposal=1, max_load=1),
    )
    plan = assign(pb)
    assert sorted(plan.assigned) in ([("P1", "E1"), ("P2", "X")], [("P1", "X"), ("P2", "E1")])
    assert plan.expertise_mismatches == 1


def test_an_evaluator_who_cannot_reach_the_minimum_load_is_reported() -> None:
    plan = assign(problem(2, evaluators(3), evaluators_per_proposal=1, min_load=1))
    assert len(plan.assigned) == 2
    assert len(plan.below_min_load) == 1
