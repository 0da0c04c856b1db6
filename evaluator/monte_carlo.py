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

from typing import Literal

import numpy as np

from evaluator.portfolio import Portfolio

NEVER = np.iinfo(np.int64).max // 4
CHECK_EVERY = 64
HEAD = 4096


class Walker:
    """The call's limits as arrays, built once and reused for every chunk of draws."""

    def __init__(self, p: Portfolio):
        self.p = p
        self.rows, self.is_amount, self.cap = _row_table(p)
        self.lists = int(p.list_of.max(initial=0)) + 1
        self.cheapest = int(p.low.min(initial=0))
        self.counted = ~self.is_amount & (self.cap < NEVER)

    def walk(self, keys: np.ndarray, eligible: np.ndarray, exact: bool) -> tuple[np.ndarray, np.ndarray]:
        """Which proposals each draw funds, and which draws could not meet a minimum (they fund nobody).

        ``exact`` sorts stably, which ties need (noise zero, resampled scores).
        """
        state = Draws(self, keys.shape[0], eligible)
        kind: Literal["stable", "quicksort"] = "stable" if exact else "quicksort"
        keys = keys if exact else keys.astype(np.float32)
        minimums = [(r, limit) for r, limit in enumerate(self.p.limits) if limit.low is not None]
        for r, limit in minimums:
            members = limit.members
            state.ring_fence(members[np.argsort(-keys[:, members], axis=1, kind=kind)], r, limit.low or 0)
        unmet = np.zeros(len(keys), dtype=bool)
        for r, limit in minimums:
            unmet |= state.used[:, r] < (limit.low or 0)
        order = np.argsort(-keys, axis=1, kind=kind).astype(np.int32)
        start = state.advance(order, None)
        for j in range(start, self.p.size):
            state.step(order[:, j], None)
            if (j - start) % CHECK_EVERY == 0 and state.exhausted():
                break
        state.funded[unmet] = False
        return state.funded, unmet


class Draws:
    """The state of ``D`` funding lines walked side by side."""

    def __init__(self, walker: Walker, draws: int, eligible: np.ndarray):
        self.w = walker
        self.p = walker.p
        self.index = np.arange(draws)
        self.used = np.zeros((draws, len(walker.cap)), dtype=np.int64)
        self.funded = np.zeros(eligible.shape, dtype=bool)
        self.decided = ~eligible
        self.closed = np.zeros((draws, walker.lists), dtype=bool)

    def step(self, items: np.ndarray, active: np.ndarray | None) -> None:
        """Offer item ``items[d]`` to every (active) draw ``d``: fund it with what fits, or pass it over."""
        open_now = ~self.decided[self.index, items]
        d = np.flatnonzero(open_now if active is None else open_now & active)
        if len(d) == 0:
            return
        k = items[d]
        lists = self.p.list_of[k]
        rows = self.w.rows[k]
        is_amount = self.w.is_amount[rows]
        left = self.w.cap[rows] - self.used[d[:, None], rows]
        room = np.where(is_amount, left, NEVER).min(axis=1)
        counts_ok = (is_amount | (left >= 1)).all(axis=1)
        amount = np.minimum(self.p.high[k], room)
        fits = counts_ok & (amount >= self.p.low[k]) & ~self.closed[d, lists]
        self.decided[d, k] = True
        if self.p.settings.ranking_discipline:
            self.closed[d[~fits], lists[~fits]] = True
        self._fund(d[fits], k[fits], amount[fits])

    def _fund(self, draws: np.ndarray, items: np.ndarray, amount: np.ndarray) -> None:
        """Pads repeat within a row of the table but are never read, so a plain fancy ``+=`` is exact."""
        self.funded[draws, items] = True
        rows = self.w.rows[items]
        self.used[draws[:, None], rows] += np.where(self.w.is_amount[rows], amount[:, None], 1)

    def ring_fence(self, group_order: np.ndarray, r: int, low: int) -> None:
        """Each draw funds the group's best proposals (in its own order) until the minimum is met."""
        start = self.advance(group_order, (r, low))
        for t in range(start, group_order.shape[1]):
            short = self.used[:, r] < low
            if not short.any():
                return
            self.step(group_order[:, t], short)

    def advance(self, order: np.ndarray, target: tuple[int, int] | None) -> int:
        """Fund the surely-fitting head of each draw's order, looking at a window that doubles until it suffices."""
        window = HEAD
        while True:
            complete = window >= order.shape[1]
            length = self._head(order[:, :window], target, complete)
            if length < window or complete:
                return length
            window *= 2

    def _head(self, order: np.ndarray, target: tuple[int, int] | None, complete: bool) -> int:
        """Fund at once the head of each draw's ``order`` that surely fits; return where stepping must resume.

        Up to the first position where the cumulative request could exceed the room
        left under any limit, every open proposal fits in full, whatever the rest of
        the walk does. With a ``target`` (a minimum: row and amount) the head stops at
        the proposal that meets it, as the ring-fence does.
        """
        width = order.shape[1]
        if width == 0 or (self.p.settings.ranking_discipline and self.closed.any()):
            return 0
        open_items = ~self.decided[self.index[:, None], order]
        spend = np.where(open_items, self.p.high[order], 0).cumsum(axis=1)
        counts = open_items.cumsum(axis=1)
        left = self.w.cap[None, :] - self.used
        amount_room = np.where(self.w.is_amount[None, :], left, NEVER).min(axis=1)
        count_room = np.where(self.w.is_amount[None, :], NEVER, left).min(axis=1)
        length = _first(((spend > amount_room[:, None]) | (counts > count_room[:, None])), width)
        if target is not None:
            r, low = target
            need = low - self.used[:, r]
            reached = (spend if self.w.is_amount[r] else counts) >= need[:, None]
            length = np.where(need > 0, np.minimum(length, _first(reached, width) + 1), 0)
        if length.min() >= width and not complete:
            return width
        take = open_items & (np.arange(width)[None, :] < length[:, None])
        draws, items = np.nonzero(take)
        self._fund_full(draws, order[draws, items])
        return int(length.min())

    def _fund_full(self, draws: np.ndarray, items: np.ndarray) -> None:
        self.decided[draws, items] = True
        self.funded[draws, items] = True
        rows = self.w.rows[items]
        spend = np.where(self.w.is_amount[rows], self.p.high[items][:, None], 1)
        np.add.at(self.used, (np.repeat(draws, rows.shape[1]), rows.ravel()), spend.ravel())

    def exhausted(self) -> bool:
        """No draw can fund anything more: its budget is below every minimum grant or its count is full."""
        left = self.w.cap[None, :] - self.used
        budget_gone = left[:, 0] < self.w.cheapest
        counts_full = np.any(self.w.counted[None, :] & (left < 1), axis=1)
        return bool(np.all(budget_gone | counts_full))


def _row_table(p: Portfolio) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each proposal's limits as a padded index table (same order as ``p.limits``, then one that never binds)."""
    limits = p.limits
    cap = np.array([NEVER if limit.high is None else limit.high for limit in limits] + [NEVER], dtype=np.int64)
    is_amount = np.array([limit.measure == "amount" for limit in limits] + [True])
    counts = np.zeros(p.size, dtype=np.int64)
    for limit in limits:
        counts[limit.members] += 1
    table = np.full((p.size, max(int(counts.max(initial=0)), 1)), len(limits), dtype=np.int64)
    filled = np.zeros(p.size, dtype=np.int64)
    for r, limit in enumerate(limits):
        table[limit.members, filled[limit.members]] = r
        filled[limit.members] += 1
    return table, is_amount, cap


def _first(flags: np.ndarray, width: int) -> np.ndarray:
    """Per row, the position of the first true flag, or ``width`` when there is none."""
    return np.where(flags.any(axis=1), flags.argmax(axis=1), width)
