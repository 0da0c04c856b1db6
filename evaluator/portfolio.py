"""The fundable proposals as integer arrays and the call's limits as rows.

Both allocation modes and the Monte Carlo walk read the same :class:`Portfolio`, so
the rules that decide what a grant may be (the request capped at the maximum grant,
the partial-funding range, the minimum grant) and which limits apply are written
once. Amounts are int64 cents; the only floats are the scores used to order and
weigh proposals, never an amount that is reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

import numpy as np

from evaluator.ranking import RankedProposal
from rules.model import AllocationSettings, Call, PartialFunding, Quota
from rules.money import to_cents

Measure = Literal["amount", "grants"]
Objective = Literal["score_weighted_funding", "total_score", "grants"]


@dataclass(frozen=True)
class Limit:
    """One row: the amount or the number of grants of a set of proposals, between ``low`` and ``high``.

    ``quota`` names the call constraint the row comes from, so a quota applied to
    each country gives one row per country that all answer to one price.
    """

    name: str
    quota: str
    members: np.ndarray
    measure: Measure
    low: int | None = None
    high: int | None = None

    def total(self, amounts: np.ndarray) -> int:
        """This row's value for amounts (cents, zero when not funded) over the whole portfolio."""
        values = amounts[self.members]
        return int(values.sum()) if self.measure == "amount" else int(np.count_nonzero(values))

    def violation(self, amounts: np.ndarray) -> int:
        value = self.total(amounts)
        over = value - self.high if self.high is not None else 0
        under = self.low - value if self.low is not None else 0
        return max(over, under, 0)


@dataclass
class Portfolio:
    """The allocation instance: proposals in walk order and every limit on them."""

    entries: list[RankedProposal]
    score: np.ndarray
    low: np.ndarray
    high: np.ndarray
    list_of: np.ndarray
    budget: int
    limits: list[Limit]
    settings: AllocationSettings
    excluded: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.entries)

    @property
    def partial(self) -> bool:
        return bool(np.any(self.low < self.high))

    @property
    def objective(self) -> Objective:
        return self.settings.objective

    def lists(self) -> list[np.ndarray]:
        """Each ranked list as indices in rank order (the walk order is rank order within a list)."""
        return [np.flatnonzero(self.list_of == k) for k in range(int(self.list_of.max(initial=-1)) + 1)]

    def violated(self, amounts: np.ndarray) -> list[Limit]:
        return [limit for limit in self.limits if limit.violation(amounts) > 0]

    def without(self, quota: str) -> Portfolio:
        """The same instance without the rows of one call constraint (to price it)."""
        kept = [limit for limit in self.limits if limit.quota != quota]
        return Portfolio(**{**self.__dict__, "limits": kept})

    def tied_group(self, members: np.ndarray, room: list[int | None]) -> Portfolio:
        """Tied proposals under what is left of each cap (``room``, aligned with ``limits``), to fund the most."""
        index = np.full(self.size, -1)
        index[members] = np.arange(len(members))
        limits = []
        for limit, high in zip(self.limits, room, strict=True):
            inside = index[limit.members]
            limits.append(Limit(limit.name, limit.quota, inside[inside >= 0], limit.measure, None, high))
        return Portfolio(
            entries=[self.entries[i] for i in members],
            score=self.score[members],
            low=self.low[members],
            high=self.high[members],
            list_of=np.zeros(len(members), dtype=np.int64),
            budget=self.budget,
            limits=limits,
            settings=self.settings.model_copy(update={"objective": "grants", "ranking_discipline": False}),
        )


def walk_order(entries: Sequence[RankedProposal]) -> list[int]:
    """Ranking score first, then the order the ranking gave (its ex aequo decisions)."""
    return sorted(range(len(entries)), key=lambda k: (-entries[k].weighted_total, k))


def grant_range(
    entry: RankedProposal, partial: PartialFunding | None, max_grant: int | None, min_grant: int | None
) -> tuple[int, int] | str:
    """The lowest and highest grant a proposal may get, in cents, or why it can get none.

    The maximum grant caps every grant (a request above it is funded at the cap), so
    the partial-funding range is cut by the cap too, and a grant below the call's
    minimum grant is never made.
    """
    request = to_cents(entry.requested_amount)
    low, high = request, request
    if partial is not None:
        low = int((partial.min_share * request).to_integral_value(ROUND_CEILING))
        high = int((partial.max_share * request).to_integral_value(ROUND_FLOOR))
    if max_grant is not None:
        low, high = min(low, max_grant), min(high, max_grant)
    if min_grant is not None:
        low = max(low, min_grant)
    if high <= 0 or low > high:
        return "no grant within the call's minimum and maximum grant and partial-funding range"
    return low, high


def build_portfolio(
    call: Call,
    fundable: Sequence[RankedProposal],
    settings: AllocationSettings,
    budget: int,
    max_grant: int | None,
) -> Portfolio:
    """The instance for a call's fundable proposals and the (scenario's) allocation settings."""
    min_grant = to_cents(call.budget.min_grant) if call.budget.min_grant is not None else None
    entries, lows, highs, excluded = [], [], [], {}
    for k in walk_order(fundable):
        entry = fundable[k]
        found = grant_range(entry, settings.partial_funding, max_grant, min_grant)
        if isinstance(found, str):
            excluded[entry.id] = found
            continue
        entries.append(entry)
        lows.append(found[0])
        highs.append(found[1])
    list_names = list(dict.fromkeys(e.list_name for e in entries))
    portfolio = Portfolio(
        entries=entries,
        score=np.array([float(e.weighted_total) for e in entries], dtype=np.float64),
        low=np.array(lows, dtype=np.int64),
        high=np.array(highs, dtype=np.int64),
        list_of=np.array([list_names.index(e.list_name) for e in entries], dtype=np.int64),
        budget=budget,
        limits=[],
        settings=settings,
        excluded=excluded,
    )
    groups = {by: _positions(entries, by) for by in dict.fromkeys(quota.by for quota in settings.constraints)}
    portfolio.limits = _global_limits(portfolio) + [
        limit for quota in settings.constraints for limit in quota_limits(quota, groups[quota.by], budget)
    ]
    return portfolio


def _global_limits(portfolio: Portfolio) -> list[Limit]:
    everyone = np.arange(portfolio.size)
    limits = [Limit("budget", "budget", everyone, "amount", high=portfolio.budget)]
    if portfolio.settings.max_grants is not None:
        limits.append(Limit("max_grants", "max_grants", everyone, "grants", high=portfolio.settings.max_grants))
    return limits


def _positions(entries: Sequence[RankedProposal], by: str) -> dict[str, list[int]]:
    """Each group's proposals (positions in ``entries``; "" for none), read once per field, not once per quota."""
    positions: dict[str, list[int]] = defaultdict(list)
    for k, entry in enumerate(entries):
        value: str | None = getattr(entry, by)
        positions[value or ""].append(k)
    return positions


def quota_limits(quota: Quota, positions: dict[str, list[int]], budget: int) -> list[Limit]:
    """The rows of one quota: its group, or one row per group present among the fundable proposals."""
    keys = [quota.key] if quota.key is not None else sorted(g for g in positions if g)
    rows = []
    for key in keys:
        members = np.array(positions.get(key, []), dtype=np.intp)
        name = quota.label if quota.key is not None else f"{quota.label} ({key})"
        rows.extend(_quota_rows(quota, name, members, budget))
    return rows


def _quota_rows(quota: Quota, name: str, members: np.ndarray, budget: int) -> list[Limit]:
    caps = [c for c in (_share(quota.max_share, budget, ROUND_FLOOR), _cents(quota.max_amount)) if c is not None]
    floors = [f for f in (_share(quota.min_share, budget, ROUND_CEILING), _cents(quota.min_amount)) if f is not None]
    rows = []
    if caps or floors:
        rows.append(Limit(name, quota.label, members, "amount", max(floors, default=None), min(caps, default=None)))
    if quota.max_grants is not None or quota.min_grants is not None:
        rows.append(Limit(f"{name} grants", quota.label, members, "grants", quota.min_grants, quota.max_grants))
    return rows


def _share(rate: Decimal | None, budget: int, rounding: str) -> int | None:
    """A share of the budget in whole cents, rounded the way that keeps the quota's promise."""
    return None if rate is None else int((rate * budget).to_integral_value(rounding))


def _cents(amount: Decimal | None) -> int | None:
    return None if amount is None else to_cents(amount)
