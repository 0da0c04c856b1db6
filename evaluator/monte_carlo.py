"""The funding line of many noisy draws at once, under the call's rank-mode rules.

Every draw perturbs the consolidated scores, re-applies the thresholds, re-sorts
and walks the funding line exactly as ``evaluator.funding_line`` does (ring-fenced
minimums, caps, grant count, partial funding at the line, the discipline), with
draws along the first axis: the loop runs over positions in the list, never over
draws. Up to the first position where any limit could bind, the line is a prefix
of the sorted list and is taken with one cumulative sum; only the contested zone
beyond it is walked step by step. The funding-line tie rule is not applied: under
continuous noise exact ties have probability zero, and the ex aequo order stands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluator.portfolio import Limit, Portfolio

NEVER = np.iinfo(np.int64).max // 4
CHECK_EVERY = 64


@dataclass
class Draws:
    """The state of ``D`` funding lines walked side by side."""

    p: Portfolio
    rows: np.ndarray
    is_amount: np.ndarray
    cap: np.ndarray
    used: np.ndarray
    amounts: np.ndarray
    decided: np.ndarray
    closed: np.ndarray
    eligible: np.ndarray

    @classmethod
    def start(cls, p: Portfolio, eligible: np.ndarray) -> Draws:
        draws = eligible.shape[0]
        rows, is_amount, cap = _row_table(p)
        lists = int(p.list_of.max(initial=0)) + 1
        return cls(
            p,
            rows,
            is_amount,
            cap,
            np.zeros((draws, len(cap)), dtype=np.int64),
            np.zeros((draws, p.size), dtype=np.int64),
            ~eligible,
            np.zeros((draws, lists), dtype=bool),
            eligible,
        )

    def step(self, items: np.ndarray, active: np.ndarray) -> None:
        """Offer item ``items[d]`` to every active draw ``d``: fund it with what fits, or pass it over."""
        d = np.flatnonzero(active & ~self.decided[np.arange(len(items)), items])
        if len(d) == 0:
            return
        k = items[d]
        lists = self.p.list_of[k]
        closed = self.closed[d, lists]
        rows = self.rows[k]
        left = self.cap[rows] - self.used[d[:, None], rows]
        room = np.where(self.is_amount[rows], left, NEVER).min(axis=1)
        counts_ok = np.where(self.is_amount[rows], True, left >= 1).all(axis=1)
        amount = np.minimum(self.p.high[k], room)
        fits = ~closed & counts_ok & (amount >= self.p.low[k])
        self.decided[d, k] = True
        if self.p.settings.ranking_discipline:
            self.closed[d[~fits], lists[~fits]] = True
        funded, amount, rows = d[fits], amount[fits], rows[fits]
        self.amounts[funded, k[fits]] = amount
        spend = np.where(self.is_amount[rows], amount[:, None], 1)
        np.add.at(self.used, (np.repeat(funded, rows.shape[1]), rows.ravel()), spend.ravel())

    def exhausted(self) -> bool:
        """No draw can fund anything more: its budget is below every minimum grant or its count is full."""
        left = self.cap[None, :] - self.used
        budget_gone = left[:, 0] < int(self.p.low.min(initial=0))
        counts_full = np.any(~self.is_amount[None, :] & (left < 1) & (self.cap[None, :] < NEVER), axis=1)
        return bool(np.all(budget_gone | counts_full))


def _row_table(p: Portfolio) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each proposal's limits as a padded index table (same order as ``p.limits``, then one that never binds)."""
    limits = p.limits
    cap = np.array([NEVER if limit.high is None else limit.high for limit in limits] + [NEVER], dtype=np.int64)
    is_amount = np.array([limit.measure == "amount" for limit in limits] + [True])
    member_rows: list[list[int]] = [[] for _ in range(p.size)]
    for r, limit in enumerate(limits):
        for k in limit.members.tolist():
            member_rows[k].append(r)
    width = max((len(r) for r in member_rows), default=0) or 1
    table = np.full((p.size, width), len(limits), dtype=np.int64)
    for k, found in enumerate(member_rows):
        table[k, : len(found)] = found
    return table, is_amount, cap


def walk_draws(p: Portfolio, keys: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Funded amounts (draws x proposals, cents) of the rank-mode funding line for each row of ``keys``."""
    state = Draws.start(p, eligible)
    for r, limit in enumerate(p.limits):
        if limit.low is not None:
            _ring_fence(state, keys, r, limit)
    order = np.argsort(-keys, axis=1, kind="stable")
    start = _first_contested(state, order)
    if start > 0:
        _fund_prefix(state, order[:, :start])
    for j in range(start, p.size):
        state.step(order[:, j], np.ones(len(order), dtype=bool))
        if (j - start) % CHECK_EVERY == 0 and state.exhausted():
            break
    return state.amounts


def _ring_fence(state: Draws, keys: np.ndarray, r: int, limit: Limit) -> None:
    """Each draw funds the group's best proposals (in its own order) until the minimum is met."""
    members = limit.members
    order = members[np.argsort(-keys[:, members], axis=1, kind="stable")]
    low = limit.low if limit.low is not None else 0
    for t in range(order.shape[1]):
        short = state.used[:, r] < low
        if not short.any():
            return
        state.step(order[:, t], short)


def _first_contested(state: Draws, order: np.ndarray) -> int:
    """The first position where some limit could refuse a proposal in some draw; before it all fit."""
    if state.p.settings.ranking_discipline and state.closed.any():
        return 0
    rows, draws = np.arange(len(order))[:, None], len(order)
    open_items = ~state.decided[rows, order]
    spend = np.where(open_items, state.p.high[order], 0).cumsum(axis=1)
    counts = open_items.cumsum(axis=1)
    left = state.cap[None, :] - state.used
    amount_room = np.where(state.is_amount[None, :], left, NEVER).min(axis=1)
    count_room = np.where(state.is_amount[None, :], NEVER, left).min(axis=1)
    blocked = (spend > amount_room[:, None]) | (counts > count_room[:, None])
    first = np.where(blocked.any(axis=1), blocked.argmax(axis=1), order.shape[1])
    return int(first.min()) if draws else 0


def _fund_prefix(state: Draws, prefix: np.ndarray) -> None:
    """Fund every open proposal in the uncontested head of each draw's order, in full."""
    p = state.p
    draws = np.repeat(np.arange(len(prefix)), prefix.shape[1])
    items = prefix.ravel()
    open_items = ~state.decided[draws, items]
    draws, items = draws[open_items], items[open_items]
    state.amounts[draws, items] = p.high[items]
    state.decided[draws, items] = True
    rows = state.rows[items]
    spend = np.where(state.is_amount[rows], p.high[items][:, None], 1)
    np.add.at(state.used, (np.repeat(draws, rows.shape[1]), rows.ravel()), spend.ravel())
