"""Calibration of lenient and severe evaluators on panels where the truth is known."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluator.calibration import Calibration, calibrate
from evaluator.ranking import rank
from evaluator.scoring import consolidate
from rules.model import Call
from rules.proposal import Proposal
from tests.factories import call
from tests.score_factories import CRITERIA, scored


def panel(
    offsets: list[float], n_proposals: int = 40, noise: float = 0.0, seed: int = 0, per_proposal: int = 3
) -> list[Proposal]:
    """Proposals scored by a ring of evaluators (so all are connected), truth known.

    Evaluator ``E<i>`` gives quality + offsets[i] (+ noise), rounded to the half-point
    grid and kept on the 0–5 scale, as a real evaluator's score would be.
    """
    rng = np.random.default_rng(seed)
    proposals = []
    for p in range(n_proposals):
        quality = rng.integers(4, 7, size=len(CRITERIA)) / 2  # 2, 2.5 or 3
        chosen = {p % len(offsets), (p + 1) % len(offsets)} | set(rng.choice(len(offsets), per_proposal - 2))
        sheets = {}
        for e in sorted(chosen):
            raw = quality + offsets[e] + rng.normal(0, noise, size=len(CRITERIA))
            sheets[f"E{e}"] = " ".join(str(x) for x in np.clip(np.round(raw * 2) / 2, 0, 5))
        proposals.append(scored(f"P{p}", sheets))
    return proposals


def fitted(calibration: Calibration) -> dict[str, Decimal | None]:
    return {o.evaluator: o.offset for o in calibration.offsets}


def test_known_offsets_are_recovered_exactly_without_noise() -> None:
    truth = [-1.0, -0.5, 0.0, 0.5, 1.0, 0.0]  # sums to zero: the identification the fit uses
    calibration = calibrate(call(), panel(truth))
    assert fitted(calibration) == {f"E{e}": Decimal(str(t)).quantize(Decimal("0.01")) for e, t in enumerate(truth)}
    assert calibration.residual_sd == Decimal("0.00")
    assert calibration.connected


def test_known_offsets_are_recovered_within_four_standard_errors_under_noise() -> None:
    """Noise 0.4 points, plus rounding to half points (uniform ±0.25, sd 0.14): sd about 0.43.

    Each of 10 evaluators gives about 3 x 60 x 3 / 10 = 54 scores; with three
    evaluators per cell, a third of each score's noise goes into the proposal's
    quality, so an offset's standard error is about 0.43 / sqrt(54 x 2/3) = 0.07.
    A tolerance of 0.3 is four standard errors: a real failure, not bad luck.
    """
    truth = [-0.8, -0.6, -0.3, -0.1, 0.0, 0.0, 0.1, 0.4, 0.5, 0.8]
    calibration = calibrate(call(), panel(truth, n_proposals=60, noise=0.4, seed=7))
    errors = [abs(float(fitted(calibration)[f"E{e}"] or 0) - t) for e, t in enumerate(truth)]
    assert max(errors) < 0.3
    assert calibration.residual_sd is not None and Decimal("0.3") < calibration.residual_sd < Decimal("0.6")


def test_a_severe_evaluator_given_the_best_proposals_is_still_found_severe() -> None:
    """Comparing each evaluator's mean with the overall mean would call E1 lenient here."""
    strong = [scored(f"S{i}", {"E1": "4 4 4", "E3": "5 5 5"}) for i in range(4)]
    weak = [scored(f"W{i}", {"E2": "2 2 2", "E3": "1 1 1"}) for i in range(4)]
    offsets = fitted(calibrate(call(), strong + weak))
    assert offsets == {"E1": Decimal("-1.00"), "E2": Decimal("1.00"), "E3": Decimal("0.00")}


def test_offsets_are_in_points_of_the_widest_scale() -> None:
    mixed = call(
        criteria=[
            {"id": "excellence", "name": "Excellence", "scale": [0, 5], "step": 0.5},
            {"id": "impact", "name": "Impact", "scale": [0, 10], "step": 1},
        ],
        overall_threshold=None,
    )
    both = ("excellence", "impact")
    proposals = [scored(f"P{i}", {"E1": f"3 {6 + i}", "E2": f"4 {8 + i}"}, criteria=both) for i in range(3)]
    calibration = calibrate(mixed, proposals)
    assert calibration.scale_width == 10
    assert fitted(calibration) == {"E1": Decimal("-1.00"), "E2": Decimal("1.00")}


def test_panels_that_share_no_proposal_are_reported_as_separate_groups() -> None:
    north = [scored(f"N{i}", {"E1": "4 4 4", "E2": "3 3 3"}) for i in range(3)]
    south = [scored(f"S{i}", {"E3": "2 2 2", "E4": "3 3 3"}) for i in range(3)]
    calibration = calibrate(call(), north + south)
    assert calibration.groups == [["E1", "E2"], ["E3", "E4"]]
    assert not calibration.connected
    assert fitted(calibration) == {
        "E1": Decimal("0.50"),
        "E2": Decimal("-0.50"),
        "E3": Decimal("-0.50"),
        "E4": Decimal("0.50"),
    }


def test_an_evaluator_sharing_no_proposal_keeps_their_scores() -> None:
    proposals = [scored("P1", {"E1": "4 4 4", "E2": "3 3 3"}), scored("P2", {"E9": "5 5 5"})]
    calibration = calibrate(call(), proposals)
    assert fitted(calibration)["E9"] is None
    assert consolidate(call(), proposals, calibration)[1].values()["impact"] == Decimal("5.00")


def test_an_evaluator_who_found_nothing_applicable_is_left_out() -> None:
    proposals = [scored(f"P{i}", {"E1": "4 4 4", "E2": "3 3 3", "E3": "- - -"}) for i in range(2)]
    calibration = calibrate(call(), proposals)
    assert calibration.groups == [["E1", "E2"]]
    assert calibration.connected


def test_calibrated_scores_beyond_the_scale_are_clipped_and_flagged() -> None:
    proposals = [scored(f"P{i}", {"E1": "3 3 3", "E2": "4 4 4"}) for i in range(3)] + [scored("TOP", {"E1": "5 5 5"})]
    result = consolidate(call(), proposals, calibrate(call(), proposals))[-1]
    assert result.values() == {c: Decimal("5.00") for c in CRITERIA}
    assert result.criteria["impact"].clipped
    assert "impact: calibrated score clipped to the scale" in result.flags


def test_calibration_reorders_proposals_and_says_which_moved() -> None:
    """E1 is one point more lenient than E2 on the proposals they share; W was scored by E1, S by E2."""
    shared = [scored(f"P{i}", {"E1": "4 4 4", "E2": "3 3 3"}) for i in range(4)]
    proposals = [*shared, scored("W", {"E1": "4.5 4.5 4.5"}), scored("S", {"E2": "4 4 4"})]
    plain = rank(call(), proposals, calibrate=False)
    calibrated = rank(call(scoring={"calibration": True}), proposals)
    assert [e.id for e in plain.fundable()][0] == "W"
    assert [e.id for e in calibrated.fundable()][0] == "S"
    assert calibrated.calibration is not None
    moved = {c.id: (c.uncalibrated, c.calibrated) for c in calibrated.calibration_changes}
    assert moved["S"] == (2, 1)
    assert moved["W"][0] == 1


def test_calibration_can_be_switched_off_for_a_call_that_asks_for_it() -> None:
    calibrating: Call = call(scoring={"calibration": True})
    assert rank(calibrating, panel([0.5, -0.5, 0.0], n_proposals=6), calibrate=False).calibration is None


offsets_on_the_grid = st.lists(st.integers(min_value=-2, max_value=2).map(lambda k: k / 2), min_size=3, max_size=8)


@settings(max_examples=25, deadline=None)
@given(offsets_on_the_grid, st.integers(min_value=0, max_value=1000))
def test_any_connected_panel_without_noise_gives_back_its_offsets(truth: list[float], seed: int) -> None:
    calibration = calibrate(call(), panel(truth, n_proposals=3 * len(truth), seed=seed))
    centred = np.array(truth) - np.mean(truth)
    for e, expected in enumerate(centred):
        assert abs(float(fitted(calibration)[f"E{e}"] or 0) - expected) <= 0.005 + 1e-9
