"""Rank mode: the classic funding line, walked in rank order.

The rules (docs/allocation.md): minimums are ring-fenced first, each group funding
its best proposals until its minimum is met; then every proposal in rank order gets
the largest grant its range and every cap allow (with partial funding, the proposal
at the line may take what is left if that reaches its minimum share). A proposal
that does not fit is passed over and the walk goes on, so a smaller one further down
may use what is left; under the ranking discipline its list stops there instead.
With ``funding_line_tie: most_proposals`` a group of equal scores that straddles the
line is funded as the combination of the most proposals that fits (a knapsack).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from evaluator.integer_program import solve_optimal
from evaluator.portfolio import Limit, Portfolio


@dataclass
class Walk:
    """The state of the funding line as it goes down the list."""

    p: Portfolio
    amounts: np.ndarray
    used: np.ndarray
    rows_of: list[list[int]]
    closed: set[int] = field(default_factory=set)
    reasons: dict[str, str] = field(default_factory=dict)
    blockers: dict[int, set[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, p: Portfolio) -> Walk:
        rows_of: list[list[int]] = [[] for _ in range(p.size)]
        for r, limit in enumerate(p.limits):
            for k in limit.members.tolist():
                rows_of[k].append(r)
        return cls(p, np.zeros(p.size, dtype=np.int64), np.zeros(len(p.limits), dtype=np.int64), rows_of)

    def room(self, k: int) -> tuple[int, str | None, bool]:
        """The largest grant proposal ``k`` can get now, the limit that sets it, and whether a full count blocks it."""
        best, tightest = int(self.p.high[k]), None
        for r in self.rows_of[k]:
            limit = self.p.limits[r]
            if limit.high is None:
                continue
            left = limit.high - int(self.used[r])
            if limit.measure == "grants" and left < 1:
                return 0, limit.name, True
            if limit.measure == "amount" and left < best:
                best, tightest = left, limit.name
        return best, tightest, False

    def offer(self, k: int) -> str | None:
        """Fund ``k`` with the largest grant that fits; return why not otherwise."""
        amount, tightest, full = self.room(k)
        if full or amount < self.p.low[k]:
            return tightest
        self.fund(k, amount)
        return None

    def fund(self, k: int, amount: int) -> None:
        self.amounts[k] = amount
        for r in self.rows_of[k]:
            self.used[r] += amount if self.p.limits[r].measure == "amount" else 1

    def caps_left(self) -> list[int | None]:
        return [
            None if limit.high is None else limit.high - int(u)
            for limit, u in zip(self.p.limits, self.used, strict=True)
        ]

    def met(self, r: int) -> bool:
        low = self.p.limits[r].low
        return low is None or int(self.used[r]) >= low


def funding_line(p: Portfolio, deadline: float) -> tuple[Walk, list[Limit]]:
    """Walk the ranked proposals; return the walk and the minimums it could not meet."""
    walk = Walk.start(p)
    for r, limit in enumerate(p.limits):
        if limit.low is not None:
            _ring_fence(walk, r)
    unmet = [p.limits[r] for r in range(len(p.limits)) if not walk.met(r)]
    k = 0
    while k < p.size:
        group = _tied_group(p, k)
        if p.settings.funding_line_tie == "most_proposals" and len(group) > 1 and _straddles(walk, group):
            _most_proposals(walk, group, deadline)
        else:
            for member in group:
                _visit(walk, member)
        k = int(group[-1]) + 1
    return walk, unmet


def _ring_fence(walk: Walk, r: int) -> None:
    """Fund the group's best proposals until its minimum is met (a minimum is an envelope, funded first)."""
    limit = walk.p.limits[r]
    for k in limit.members.tolist():
        if walk.met(r):
            return
        if walk.amounts[k] == 0 and int(walk.p.list_of[k]) not in walk.closed:
            blocker = walk.offer(k)
            if blocker is not None:
                walk.blockers.setdefault(r, set()).add(blocker)
                _pass_over(walk, k, blocker)


def _visit(walk: Walk, k: int) -> None:
    p = walk.p
    entry = p.entries[k]
    if walk.amounts[k] > 0 or entry.id in walk.reasons:
        return
    if int(p.list_of[k]) in walk.closed:
        walk.reasons[entry.id] = f"below the funding line of list {entry.list_name!r} (ranking discipline)"
        return
    blocker = walk.offer(k)
    if blocker is not None:
        _pass_over(walk, k, blocker)


def _pass_over(walk: Walk, k: int, blocker: str | None) -> None:
    entry = walk.p.entries[k]
    walk.reasons[entry.id] = f"does not fit: {blocker or 'its grant range'}"
    if walk.p.settings.ranking_discipline:
        walk.closed.add(int(walk.p.list_of[k]))


def _tied_group(p: Portfolio, k: int) -> np.ndarray:
    score = p.entries[k].weighted_total
    end = k
    while end + 1 < p.size and p.entries[end + 1].weighted_total == score:
        end += 1
    return np.arange(k, end + 1)


def _straddles(walk: Walk, group: np.ndarray) -> bool:
    """Would the plain walk leave part of this tied group out? (tried on a copy of the state)"""
    trial = Walk(walk.p, walk.amounts.copy(), walk.used.copy(), walk.rows_of, set(walk.closed), dict(walk.reasons))
    for member in group:
        _visit(trial, int(member))
    return bool(np.any(trial.amounts[group] == 0))


def _most_proposals(walk: Walk, group: np.ndarray, deadline: float) -> None:
    """Fund the combination of the tied group that funds the most proposals, then uses the most money."""
    p = walk.p
    open_members = np.array(
        [k for k in group.tolist() if walk.amounts[k] == 0 and int(p.list_of[k]) not in walk.closed], dtype=np.int64
    )
    sub = p.tied_group(open_members, walk.caps_left())
    outcome = solve_optimal(sub, max(deadline, time.monotonic() + 1.0))
    chosen = outcome.amounts if outcome.amounts is not None else np.zeros(len(open_members), dtype=np.int64)
    for k, amount in zip(open_members.tolist(), chosen.tolist(), strict=True):
        if amount > 0:
            walk.fund(k, int(amount))
        else:
            walk.reasons[p.entries[k].id] = (
                "funding-line tie: left out of the combination that funds the most proposals"
            )
    ids = ", ".join(p.entries[k].id for k in open_members.tolist())
    walk.notes.append(
        f"funding-line tie at score {p.entries[int(group[0])].weighted_total} among {ids}: "
        f"funded {int(np.count_nonzero(chosen))} of {len(open_members)} (most proposals)"
    )
    if p.settings.ranking_discipline and np.any(chosen == 0):
        walk.closed.update(int(p.list_of[k]) for k in open_members.tolist())
