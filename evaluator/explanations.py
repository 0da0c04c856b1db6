"""Why an allocation is what it is, in the call's money and in words a finance officer reads.

Two questions get answered. For each limit of the call (a quota, the grant count, the
ranking discipline): what would be funded without it, for how much more money. For each
reserve proposal: what keeps it out (the budget, a cap, the grant count) and what it
would take to fund it (more budget, or which funded proposals would have to leave).

The first question costs a solve per limit if answered by re-solving, so re-solves are
spent where they tell something. The relaxation's prices (milliseconds) bound what any
limit can cost: a limit priced at zero costs at most what the Lagrangian bound leaves
above the allocation found, and is not re-solved. The others are re-solved exactly,
costliest bound first, warm-started from the allocation found, while the share of time
the user allows lasts; a limit left when time is out keeps its bound. Every figure says
whether it is exact (``exact``) or a bound (``price_bound``). The reserve explanations
need no solve at all: they are read off the allocation and the limits' room.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from evaluator.integer_program import (
    item_values,
    lagrangian_bound,
    relaxation,
    relaxations_without,
    signed_prices,
    weights,
)
from evaluator.portfolio import Limit, Portfolio
from rules.money import Money, format_cents, from_cents

if TYPE_CHECKING:
    from evaluator.allocation import Run

Rerun = Callable[[Portfolio, float, "np.ndarray | None"], "Run"]
"""Runs a variant of the portfolio before a deadline, warm-started from an allocation (cents)."""

SETTLED = ("complete", "optimal")
"""Statuses whose allocation is the mode's own answer, not a best-in-time."""

SHOWN = 5
"""How many proposal ids a sentence names before it says "and N more"."""


class ConstraintPrice(BaseModel):
    """What one limit of the call costs: what the same call would fund without it."""

    constraint: str
    price: Decimal | None = Field(
        description="exact gain of the objective without it (objective units); None when only bounded"
    )
    price_bound: Decimal | None = Field(
        default=None, description="the gain is at most this much (objective units); None when the price is exact"
    )
    exact: bool = Field(default=False, description="whether the figures come from an exact re-solve")
    binds: bool = Field(default=True, description="whether the limit holds the allocation back at all")
    funds_instead: list[str] = Field(default_factory=list, description="proposals funded only without it")
    no_longer_funded: list[str] = Field(default_factory=list, description="funded now, not without it")
    extra_awarded: Decimal | None = Field(
        default=None, description="how much more (negative: less) would be granted without it, in the call's currency"
    )
    explanation: str = ""


class BudgetGain(BaseModel):
    """What the smallest budget increase that moves the funding line would buy."""

    extra: Money
    newly_funded: list[str]
    no_longer_funded: list[str]
    objective_gain: Decimal | None = Field(description="exact gain in objective units; None when only bounded")
    objective_gain_bound: Decimal | None = None
    exact: bool = True
    explanation: str = ""


class ReserveReason(BaseModel):
    """What keeps one reserve proposal out, and what it would take to fund it."""

    id: str
    kept_out_by: list[str] = Field(description="the limits that leave it no room: budget, a cap, the grant count")
    needs: Money = Field(description="the smallest grant it may get")
    extra_budget: Money | None = Field(
        default=None, description="more budget that would make room for it, when money is all that keeps it out"
    )
    would_leave: list[str] = Field(
        default_factory=list, description="funded proposals (lowest scores first) whose leaving makes room for it"
    )
    explanation: str


@dataclass(frozen=True)
class Currency:
    """Amounts in words in the call's currency."""

    currency: str

    def __call__(self, cents: int | float) -> str:
        return format_cents(int(cents), self.currency)


def objective_unit(p: Portfolio, currency: str) -> str:
    """What the objective counts, for a reader: it means nothing without its unit."""
    return {
        "score_weighted_funding": f"score × {currency} granted",
        "total_score": "points of score funded",
        "grants": "grants",
    }[p.objective]


def listed(ids: Sequence[str]) -> str:
    if len(ids) <= SHOWN:
        return ", ".join(ids)
    return f"{', '.join(ids[:SHOWN])} and {len(ids) - SHOWN} more"


# --- What each limit costs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    portfolio: Portfolio
    rows: list[int]


def variants(p: Portfolio) -> list[Variant]:
    """Each quota (all its rows), the grant count and, if on, the ranking discipline, as the call without it."""
    quotas = list(dict.fromkeys(limit.quota for limit in p.limits if limit.quota != "budget"))
    found = [
        Variant(name, _label(p, name), p.without(name), [r for r, lm in enumerate(p.limits) if lm.quota == name])
        for name in quotas
    ]
    if p.settings.ranking_discipline:
        free = p.settings.model_copy(update={"ranking_discipline": False})
        found.append(
            Variant("ranking_discipline", "the ranking discipline", Portfolio(**{**p.__dict__, "settings": free}), [])
        )
    return found


def _label(p: Portfolio, quota: str) -> str:
    if quota == "max_grants":
        return f"the {p.settings.max_grants}-grant limit"
    return f"the {quota} limit"


Bounds = list[tuple[Variant, float, bool]]
"""Per limit: the call without it, a bound on that call's objective, and whether the relaxation prices it."""


def prices(run: Run, rerun: Rerun, bounds: Bounds, share_deadline: float, currency: str) -> list[ConstraintPrice]:
    """The price of every limit: exact where re-solved in time, otherwise what its bound leaves above the allocation."""
    found = run.objective_float()
    gaps = [(variant, max(bound - found, 0.0), priced) for variant, bound, priced in bounds]
    order = sorted(range(len(gaps)), key=lambda i: -gaps[i][1])
    results: dict[int, ConstraintPrice] = {}
    for i in order:
        variant, bound, priced = gaps[i]
        if not priced:
            results[i] = _not_binding(variant, bound, found)
        elif time.monotonic() < share_deadline or run.p.settings.mode == "rank":
            results[i] = _resolved(run, variant, rerun(variant.portfolio, share_deadline, run.amounts), bound, currency)
        else:
            results[i] = _bounded(variant, bound, found)
    return [results[i] for i in range(len(gaps))]


def relaxed_bounds(p: Portfolio, deadline: float) -> Bounds:
    """A bound on the objective without each limit, and whether the relaxation prices it (zero: no extra solve).

    It needs the portfolio alone, not the allocation, so it can run beside the solve.
    A limit whose rows all have a zero relaxation price leaves the relaxation's optimum
    optimal without it, so the Lagrangian bound is the whole call's. The others are
    relaxed again with their rows freed, each warm-started from the relaxation's basis.
    """
    if p.settings.mode == "rank":
        return [(v, float("inf"), True) for v in variants(p)]
    w = weights(p)
    every = variants(p)
    relaxed, without = relaxations_without(p, w, [v.rows for v in every if v.rows], deadline)
    if relaxed.duals is None:
        return [(v, float("inf"), True) for v in every]
    prices_all = signed_prices(p.limits, relaxed.duals)
    whole = lagrangian_bound(p, p.limits, prices_all, item_values(p, w, p.limits, prices_all))
    freed = iter(without)
    out = []
    for variant in every:
        q = variant.portfolio
        other = next(freed) if variant.rows else relaxation(q, w, q.limits, deadline)
        if variant.rows and not np.any(prices_all[variant.rows]):
            out.append((variant, whole, False))
        elif other.duals is None:
            out.append((variant, float("inf"), True))
        else:
            duals = np.delete(other.duals[: len(p.limits)], variant.rows) if variant.rows else other.duals
            priced = signed_prices(q.limits, duals)
            bound = lagrangian_bound(q, q.limits, priced, item_values(q, w, q.limits, priced))
            out.append((variant, bound, True))
    return out


def _not_binding(variant: Variant, bound: float, found: float) -> ConstraintPrice:
    exact = bound == 0.0
    return ConstraintPrice(
        constraint=variant.name,
        price=Decimal(0) if exact else None,
        price_bound=None if exact else _objective(bound),
        exact=exact,
        binds=False,
        extra_awarded=Decimal(0) if exact else None,
        explanation=f"{variant.label} does not hold the allocation back (its relaxation price is zero)"
        + ("" if exact else f": lifting it could add at most {_as_share(bound, found)} to the objective"),
    )


def _as_share(value: float, of: float) -> str:
    share = value / max(abs(of), 1.0)
    return "less than 0.01%" if share < 1e-4 else f"{share:.2%}"


def _bounded(variant: Variant, bound: float, found: float) -> ConstraintPrice:
    return ConstraintPrice(
        constraint=variant.name,
        price=None,
        price_bound=_objective(bound),
        exact=False,
        explanation=f"without {variant.label}, the objective could rise by at most {_as_share(bound, found)} "
        "(a bound from the relaxation; no time was left to re-solve it exactly)",
    )


def _resolved(run: Run, variant: Variant, other: Run, bound: float, currency: str) -> ConstraintPrice:
    if other.amounts is None or run.amounts is None or other.status == "infeasible":
        return _bounded(variant, bound, run.objective_float())
    exact = other.status in SETTLED and run.status in SETTLED
    gained, lost = newly(run.p, run.amounts, other.amounts), newly(run.p, other.amounts, run.amounts)
    extra = int(other.amounts.sum()) - int(run.amounts.sum())
    price = other.objective() - run.objective()
    money = Currency(currency)
    if gained or lost:
        change = [
            f"{listed(gained)} would also be funded" if gained else "",
            f"{listed(lost)} would not" if lost else "",
        ]
        what = " and ".join(c for c in change if c)
        more = f"{money(abs(extra))} {'more' if extra >= 0 else 'less'} in grants"
        text = f"without {variant.label}, {what}, for {more}"
    else:
        text = f"without {variant.label}, the same proposals would be funded"
    if not exact:
        text += " (the re-solve stopped at its time share: the best found, not proven optimal)"
    return ConstraintPrice(
        constraint=variant.name,
        price=price if exact else None,
        price_bound=None if exact else _objective(bound),
        exact=exact,
        binds=bool(gained or lost or price),
        funds_instead=gained,
        no_longer_funded=lost,
        extra_awarded=from_cents(extra) if extra >= 0 else -from_cents(-extra),
        explanation=text,
    )


def _objective(value: float) -> Decimal:
    return Decimal(format(value, ".6g"))


def newly(p: Portfolio, before: np.ndarray, after: np.ndarray) -> list[str]:
    return [p.entries[k].id for k in np.flatnonzero((after > 0) & (before == 0)).tolist()]


# --- What more budget buys -------------------------------------------------------------------------------------


def budget_gain(run: Run, rerun: Rerun, share_deadline: float, currency: str) -> BudgetGain | None:
    """Fund the first proposal in rank order that the budget alone keeps out, and see what moves."""
    p = run.p
    if run.amounts is None:
        return None
    left = p.budget - int(run.amounts.sum())
    waiting = [k for k in np.flatnonzero(run.amounts == 0).tolist() if p.low[k] > left]
    if not waiting:
        return None
    extra = int(p.low[waiting[0]]) - left
    budget_limit = Limit("budget", "budget", np.arange(p.size), "amount", high=p.budget + extra)
    richer = Portfolio(**{**p.__dict__, "budget": p.budget + extra, "limits": [budget_limit, *p.limits[1:]]})
    if time.monotonic() >= share_deadline and p.settings.mode != "rank":
        return None
    other = rerun(richer, share_deadline, run.amounts)
    if other.amounts is None:
        return None
    exact = other.status in SETTLED and run.status in SETTLED
    gained, lost = newly(p, run.amounts, other.amounts), newly(p, other.amounts, run.amounts)
    money = Currency(currency)
    what = f"would also fund {listed(gained)}" if gained else "would fund nothing new"
    if lost:
        what += f" (instead of {listed(lost)})"
    text = f"{money(extra)} more budget {what}"
    if not exact:
        text += "; the re-solve stopped at its time share (the best found, not proven optimal)"
    gain = other.objective() - run.objective()
    return BudgetGain(
        extra=from_cents(extra),
        newly_funded=gained,
        no_longer_funded=lost,
        objective_gain=gain if exact else None,
        objective_gain_bound=None,
        exact=exact,
        explanation=text,
    )


# --- What keeps each reserve proposal out ----------------------------------------------------------------------


def reserve_reasons(p: Portfolio, amounts: np.ndarray, currency: str) -> list[ReserveReason]:
    """For each unfunded proposal, the full caps and what would make room: more budget, or who would leave.

    Read off the allocation without a solve: a cap blocks a proposal when what is left
    under it is less than the proposal's smallest grant (one grant for a count). Room is
    made by the lowest-scoring funded proposals that share every blocking cap with it;
    a minimum that their leaving would break is said, not hidden.
    """
    unfunded = np.flatnonzero(amounts == 0)
    if not len(unfunded):
        return []
    caps = [r for r, limit in enumerate(p.limits) if limit.high is not None]
    blockers: dict[int, list[int]] = defaultdict(list)
    for r in caps:
        for k in np.flatnonzero(_shortfall(p, p.limits[r], amounts) > 0).tolist():
            blockers[k].append(r)
    money = Currency(currency)
    maker = _RoomMaker(p, amounts)
    blocked = [(k, tuple(blockers.get(k, ()))) for k in unfunded.tolist()]
    caps_of = {rows: _Caps.of(p, rows, amounts, money) for rows in dict.fromkeys(rows for _, rows in blocked)}
    low, ids = p.low.tolist(), [entry.id for entry in p.entries]
    return [_reserve(ids, k, low[k], caps_of[rows], maker, money) for k, rows in blocked]


@dataclass(frozen=True)
class _Caps:
    """A set of caps blocking reserve proposals, in words: worked out once for all the proposals it blocks.

    What is left under a cap is the same for every proposal it blocks, so each cap's
    words are written once: ``parts`` holds, per cap in the call's order, its words and
    whether the amount the proposal needs is to follow them (a grant count's words are
    whole). A proposal lacks its smallest grant less ``least_left`` (the least left under a
    blocking money cap; None when none blocks it), and ``grants`` more grants.
    """

    rows: tuple[int, ...]
    names: list[str]
    parts: list[tuple[str, bool]]
    least_left: int | None
    grants: int
    only_budget: bool
    why_free: str

    @classmethod
    def of(cls, p: Portfolio, rows: tuple[int, ...], amounts: np.ndarray, money: Currency) -> _Caps:
        limits = [p.limits[r] for r in rows]
        left = [_left(limit, amounts) for limit in limits]
        parts = [
            (f"{_limit_name(limit)} ({money(room)} left; it needs ", True)
            if limit.measure == "amount"
            else (f"{_limit_name(limit)} (all {limit.high} grants given)", False)
            for limit, room in zip(limits, left, strict=True)
        ]
        money_left = [room for limit, room in zip(limits, left, strict=True) if limit.measure == "amount"]
        counts_left = [room for limit, room in zip(limits, left, strict=True) if limit.measure != "amount"]
        why = "the ranking discipline (a proposal above it in its list is not funded)"
        if not p.settings.ranking_discipline:
            why = "the objective: it fits every limit, but the solver's allocation is as good without it"
        return cls(
            rows,
            [limit.name for limit in limits],
            parts,
            min(money_left, default=None),
            max((1 - room for room in counts_left), default=0),
            [limit.quota for limit in limits] == ["budget"],
            f"kept out by {why}",
        )


def _left(limit: Limit, amounts: np.ndarray) -> int:
    """What a cap has left: cents, or grants for a count."""
    assert limit.high is not None
    return int(limit.high - limit.total(amounts))


def _shortfall(p: Portfolio, limit: Limit, amounts: np.ndarray) -> np.ndarray:
    """For every proposal outside the allocation and under this cap, how much it lacks (cents or grants)."""
    left = _left(limit, amounts)
    need = np.zeros(p.size, dtype=np.int64)
    members = limit.members[amounts[limit.members] == 0]
    need[members] = (p.low[members] if limit.measure == "amount" else 1) - left
    return need


class _RoomMaker:
    """Funded proposals in increasing score, per set of blocking caps, with their running totals."""

    def __init__(self, p: Portfolio, amounts: np.ndarray) -> None:
        self.p, self.amounts = p, amounts
        self.funded = np.flatnonzero(amounts > 0)
        self.funded = self.funded[np.lexsort((-amounts[self.funded], p.score[self.funded]))]
        self.funded = np.concatenate([self.funded[~self._held(self.funded)], self.funded[self._held(self.funded)]])
        self.cache: dict[tuple[int, ...], tuple[list[int], list[int]]] = {}
        self.minimums = [(limit, self._mask(limit), limit.total(amounts)) for limit in p.limits if limit.low]
        self.within: list[list[int]] = [[] for _ in range(p.size)]  # per proposal, the minimums it counts in
        for m, (limit, _, _) in enumerate(self.minimums):
            for k in limit.members.tolist():
                self.within[k].append(m)
        self.after: dict[tuple[int, ...], list[int]] = {}

    def _mask(self, limit: Limit) -> np.ndarray:
        mask = np.zeros(self.p.size, dtype=bool)
        mask[limit.members] = True
        return mask

    def _held(self, funded: np.ndarray) -> np.ndarray:
        """Funded proposals a minimum cannot spare: they are offered to leave last."""
        held = np.zeros(self.p.size, dtype=bool)
        for limit in self.p.limits:
            if not limit.low:
                continue
            slack = limit.total(self.amounts) - limit.low
            need = self.amounts[limit.members] if limit.measure == "amount" else np.ones(len(limit.members))
            held[limit.members[need > slack]] = True
        return held[funded]

    def candidates(self, rows: tuple[int, ...]) -> tuple[list[int], list[int]]:
        """The funded proposals sharing every cap of ``rows``, in the order they leave, and their running total."""
        if rows not in self.cache:
            inside = np.ones(self.p.size, dtype=bool)
            for r in rows:
                inside &= self._mask(self.p.limits[r])
            chosen = self.funded[inside[self.funded]]
            self.cache[rows] = chosen.tolist(), np.cumsum(self.amounts[chosen]).tolist()
        return self.cache[rows]

    def leavers(self, rows: tuple[int, ...], cents: int, grants: int) -> list[int] | None:
        chosen, running = self.candidates(rows)
        count = max(grants, bisect.bisect_left(running, cents) + 1 if cents > 0 else 0)
        return chosen[:count] if count <= len(chosen) else None

    def broken_minimums(self, k: int, leaving: list[int]) -> list[str]:
        """The minimums that funding ``k`` in place of ``leaving`` would break."""
        key = tuple(leaving)
        if key not in self.after:
            out = np.array(leaving, dtype=np.int64)
            self.after[key] = [
                value
                - (int(self.amounts[out[inside[out]]].sum()) if limit.measure == "amount" else int(inside[out].sum()))
                for limit, inside, value in self.minimums
            ]
        values = list(self.after[key])
        for m in self.within[k]:
            values[m] += int(self.p.low[k]) if self.minimums[m][0].measure == "amount" else 1
        return [
            limit.name for (limit, _, _), value in zip(self.minimums, values, strict=True) if value < (limit.low or 0)
        ]


def _reserve(ids: list[str], k: int, needs: int, caps: _Caps, maker: _RoomMaker, money: Currency) -> ReserveReason:
    if not caps.rows:
        return ReserveReason(id=ids[k], kept_out_by=[], needs=from_cents(needs), explanation=caps.why_free)
    needed = money(needs)
    parts = [f"{words}{needed})" if amount else words for words, amount in caps.parts]
    cents = needs - caps.least_left if caps.least_left is not None else 0
    extra = from_cents(cents) if caps.only_budget else None
    leaving = maker.leavers(caps.rows, cents, caps.grants)
    ways = [f"{money(cents)} more budget"] if extra is not None else []
    if leaving:
        broken = maker.broken_minimums(k, leaving)
        caveat = f", though that would take {', '.join(broken)} below its minimum" if broken else ""
        who = listed([ids[j] for j in leaving])
        ways.append(f"{who} leaving (the lowest-scoring funded proposals it competes with{caveat})")
    take = f"; it would fit with {' or '.join(ways)}" if ways else "; no funded proposal it competes with frees enough"
    return ReserveReason(
        id=ids[k],
        kept_out_by=caps.names,
        needs=from_cents(needs),
        extra_budget=extra,
        would_leave=[ids[j] for j in leaving or []],
        explanation=f"kept out by {joined(parts)}{take}",
    )


def _limit_name(limit: Limit) -> str:
    if limit.quota == "budget":
        return "the budget"
    if limit.quota == "max_grants":
        return "the grant count"
    return f"the limit “{limit.name}”"


def joined(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
