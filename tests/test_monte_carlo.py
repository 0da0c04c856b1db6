"""The vectorised walk funds, draw by draw, exactly whom the engine's funding line funds on that draw's order."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.instances import benchmark_instance
from evaluator.allocation import Scenario, portfolio_for
from evaluator.funding_line import funding_line
from evaluator.monte_carlo import Ranked, Walker, packed_keys
from evaluator.portfolio import Portfolio
from tests.test_allocation import K, funding_call, ranked, ranking_of


def reordered(p: Portfolio, keys: np.ndarray, eligible: np.ndarray) -> tuple[Portfolio, np.ndarray]:
    """One draw as a portfolio: its eligible proposals in the order of its keys (ties as ranked), limits renumbered."""
    order = np.array([k for k in np.argsort(-keys, kind="stable").tolist() if eligible[k]], dtype=np.int64)
    position = np.full(p.size, -1, dtype=np.int64)
    position[order] = np.arange(len(order))
    limits = [
        dataclasses.replace(limit, members=np.sort(position[limit.members][position[limit.members] >= 0]))
        for limit in p.limits
    ]
    draw = Portfolio(
        entries=[p.entries[k] for k in order.tolist()],
        score=p.score[order],
        low=p.low[order],
        high=p.high[order],
        list_of=p.list_of[order],
        budget=p.budget,
        limits=limits,
        settings=p.settings,
    )
    return draw, order


def assert_walk_is_the_funding_line(
    p: Portfolio, keys: np.ndarray, eligible: np.ndarray, exact: bool, walker: Walker | None = None
) -> None:
    funded, unmet = (walker or Walker(p)).walk(keys, eligible, exact=exact)
    for d in range(len(keys)):
        draw, order = reordered(p, keys[d], eligible[d])
        walk, missed = funding_line(draw, time.monotonic() + 60)
        expected = np.zeros(p.size, dtype=bool)
        if not missed:
            expected[order[walk.amounts > 0]] = True
        assert bool(unmet[d]) == bool(missed), d
        assert np.array_equal(funded[d], expected), (d, np.flatnonzero(funded[d] != expected).tolist())


@st.composite
def noisy_instances(draw: st.DrawFn) -> tuple[Portfolio, np.ndarray, np.ndarray]:
    """Small calls with every rank-mode rule the walk knows, and draws of keys with ties (on quarter points)."""
    n = draw(st.integers(1, 30))
    per_topic = draw(st.booleans())
    entries = []
    for k in range(n):
        topic = draw(st.sampled_from(["a", "b", "c"]))
        entries.append(
            ranked(
                f"P{k:02d}",
                draw(st.integers(20, 30)) / 2,
                draw(st.integers(5, 50)) * 10 * K,
                draw(st.sampled_from(["AT", "IT", "FR"])),
                topic,
                topic if per_topic else "main",
            )
        )
    total = sum(int(e.requested_amount) for e in entries)
    constraints: list[dict[str, Any]] = []
    if draw(st.booleans()):
        constraints.append({"by": "lead_country", "max_share": draw(st.sampled_from(["0.2", "0.4", "0.6"]))})
    if draw(st.booleans()):
        constraints.append({"by": "lead_country", "max_grants": draw(st.integers(1, 4))})
    if draw(st.booleans()):
        constraints.append({"by": "topic", "key": "b", "min_amount": draw(st.integers(0, 30)) * 10 * K})
    if draw(st.booleans()):
        constraints.append({"by": "topic", "min_share": draw(st.sampled_from(["0.05", "0.1", "0.2"]))})
    allocation: dict[str, Any] = {
        "mode": "rank",
        "constraints": constraints,
        "max_grants": draw(st.one_of(st.none(), st.integers(1, n))),
        "ranking_discipline": draw(st.booleans()),
    }
    if draw(st.booleans()):
        allocation["partial_funding"] = {"min_share": "0.7"}
    call = funding_call(total * draw(st.integers(2, 9)) // 10, None, **allocation)
    p = portfolio_for(call, ranking_of(*entries).fundable(), Scenario(mode="rank"))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    noise = draw(st.sampled_from([0.0, 0.5, 2.0]))
    keys = p.score + np.round(rng.standard_normal((20, p.size)) * noise * 4) / 4
    eligible = rng.random(keys.shape) < draw(st.sampled_from([1.0, 0.8]))
    return p, keys, eligible


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=noisy_instances())
def test_the_walk_is_the_funding_line_on_every_draw(instance: tuple[Portfolio, np.ndarray, np.ndarray]) -> None:
    assert_walk_is_the_funding_line(*instance, exact=True)


@pytest.mark.parametrize(
    ("seed", "allocation"),
    [
        (1, {}),
        (2, {"partial_funding": {"min_share": "0.8", "max_share": "1"}}),
        (3, {"ranking_discipline": True}),
        (4, {"max_grants": 40}),
        (5, {"constraints": [{"by": "lead_country", "max_grants": 6}]}),
        (6, {"partial_funding": {"min_share": "0.5"}, "max_grants": 400}),
    ],
)
def test_the_walk_is_the_funding_line_on_the_benchmark_call(seed: int, allocation: dict[str, Any]) -> None:
    """600 proposals, 30 countries under a 20% cap, topic minimums, a grant count: long heads and contested tails.

    The tails are settled in rounds where one family of groups is capped (a country's money, or its grants).
    """
    call, ranking = benchmark_instance(600, seed=seed, per_topic_lists=seed == 3, mode="rank", **allocation)
    p = portfolio_for(call, ranking.fundable(), Scenario(mode="rank"))
    rng = np.random.default_rng(seed)
    noisy = p.score + rng.standard_normal((30, p.size)) * 0.9
    keys = np.argsort(np.argsort(noisy, axis=1), axis=1).astype(np.float32)  # ranks: distinct, exact in float32
    eligible = rng.random(keys.shape) < 0.95
    assert_walk_is_the_funding_line(p, keys, eligible, exact=False)


def test_a_country_with_its_grants_used_up_does_not_end_the_draw() -> None:
    """One grant per country: after AT and IT are served, FR's proposal is still funded (it once was not)."""
    call = funding_call(1_000 * K, None, mode="rank", constraints=[{"by": "lead_country", "max_grants": 1}])
    entries = [ranked("A", 14, 100 * K, "AT"), ranked("B", 13, 100 * K, "IT"), ranked("C", 12, 100 * K, "FR")]
    p = portfolio_for(call, ranking_of(*entries).fundable(), Scenario(mode="rank"))
    keys = np.repeat(p.score[None, :], 3, axis=0)
    funded, _ = Walker(p).walk(keys, np.ones(keys.shape, dtype=bool), exact=True)
    assert funded.all()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=noisy_instances())
def test_orders_sorted_one_position_deep_at_first_still_walk_the_funding_line(
    instance: tuple[Portfolio, np.ndarray, np.ndarray],
) -> None:
    """The noisy path (float32 keys, partial sorts) read on past every first guess: each order is sorted deeper."""
    p, keys, eligible = instance
    walker = Walker(p)
    walker.depths = {None: 1, **{r: 1 for r, _, _ in walker.minimums}}
    assert_walk_is_the_funding_line(p, keys, eligible, exact=False, walker=walker)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.sampled_from([0.0, -0.0, 1.5, -1.5, 2.25, 1e-30, -1e-30, 3.0e38, -3.0e38]), min_size=1, max_size=40
    ),
    depths=st.lists(st.integers(0, 50), min_size=1, max_size=4),
    grouped=st.booleans(),
)
def test_a_ranked_order_is_the_stable_sort_of_the_keys_at_every_depth(
    values: list[float], depths: list[int], grouped: bool
) -> None:
    """Key from high to low, then place (ties, signed zeros, tiny and huge floats), however deep it was sorted first."""
    keys = np.array([values, values[::-1]], dtype=np.float32)
    members = np.arange(0, len(values), 2) if grouped else None
    chosen = keys if members is None else keys[:, members]
    expected = np.argsort(-chosen, axis=1, kind="stable")
    expected = expected if members is None else members[expected]
    order = Ranked(packed_keys(keys), members, exact=False, depth=depths[0])
    for depth in depths[1:]:
        order.window(depth, 1)
    read = [order.window(position, 1) for position in range(chosen.shape[1])]
    assert np.array_equal(np.concatenate(read, axis=1), expected)


@pytest.mark.parametrize(("budget", "funded"), [(250, "ABD"), (230, "AB")])
def test_a_draw_walks_on_while_its_budget_covers_the_cheapest_proposal(budget: int, funded: str) -> None:
    """50 K left after A and B: D (40 K, last) is still funded; 30 K is below every proposal: the draw ends there."""
    call = funding_call(budget * K, None, mode="rank")
    amounts = {"A": 100, "B": 100, "C": 100, "D": 40}
    entries = [ranked(i, 14 - k, amounts[i] * K, "AT") for k, i in enumerate(amounts)]
    p = portfolio_for(call, ranking_of(*entries).fundable(), Scenario(mode="rank"))
    keys = np.repeat(p.score[None, :], 2, axis=0)
    eligible = np.ones(keys.shape, dtype=bool)
    walk, _ = Walker(p).walk(keys, eligible, exact=True)
    assert ["".join(e.id for e, f in zip(p.entries, row, strict=True) if f) for row in walk] == [funded, funded]
    assert_walk_is_the_funding_line(p, keys, eligible, exact=True)
