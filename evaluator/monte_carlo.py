"""The funding line of many noisy draws at once, under the call's rank-mode rules.

Every draw perturbs the consolidated scores, re-applies the thresholds, re-sorts
and walks the funding line exactly as ``evaluator.funding_line`` does (ring-fenced
minimums, caps, grant count, partial funding at the line, the discipline), with
draws along the first axis: the loop runs over positions in the list, never over
draws. A walk reads each order from the top and stops long before its end (the grant
count or the budget ends every line; a minimum is met by its group's best), so each
order is sorted only as deep as the walk reads it (:class:`Ranked`), a minimum's group
on its own keys.

Most of a walk is a head that surely fits: up to the first proposal whose cap could
be reached, every open proposal is funded in full whatever the rest does. The head
is found per draw and per limit, from running totals within each capped group (a
country's running spend, not the whole list's), and funded at once. The contested
zone beyond it is settled in rounds where one family of groups is capped besides the
limits over everyone (:class:`Zone`), and walked step by step over the draws still
able to fund where the rounds cannot settle it.
The funding-line tie rule is not applied: under continuous noise exact ties have
probability zero, and the ex aequo order stands (equal keys keep the ranking's order).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import numpy as np

from evaluator.portfolio import Limit, Portfolio

NEVER = np.iinfo(np.int64).max // 4
CHECK_EVERY = 64
HEAD = 512
"""The first window of positions the head looks at; it doubles while every draw fits the whole window."""
ROUNDS = 24
"""At most this many rounds settle a contested zone (a round settles one proposal of each group of each draw at
least, and the rooms run out in a few); the steps walk on from whatever they leave."""
PLACE = 0 if sys.byteorder == "little" else 1
"""Which half of a packed int64 key (read as two int32) holds the place: the low one."""


@dataclass(frozen=True)
class Family:
    """Limits of one measure over disjoint sets of proposals (the countries of a per-country cap).

    Their totals along a draw's order are summed per group in one pass: ``label`` is
    each proposal's group (``len(rows) - 1`` when it is in none) and ``rows`` each
    group's row in the limit table, the last the row that never binds.
    """

    label: np.ndarray
    rows: np.ndarray
    amount: bool

    @property
    def single(self) -> bool:
        """One group holding every proposal (the budget, the grant count): a plain cumulative sum."""
        return len(self.rows) == 2 and not np.any(self.label)


class Walker:
    """The call's limits as arrays, built once and reused for every chunk of draws."""

    def __init__(self, p: Portfolio):
        self.p = p
        self.is_amount, self.cap = _limit_table(p)
        spent_in = _row_table(p, self.is_amount)
        counted_in = _row_table(p, ~self.is_amount)
        self.limits_of = np.concatenate([spent_in, counted_in], axis=1)
        """Each proposal's amount limits (rows of the limit table), then its count limits, each padded with the row
        that never binds: a step reads and writes them all in one gather."""
        self.amount_column = np.arange(self.limits_of.shape[1]) < spent_in.shape[1]
        self.amount_cap = self.cap[spent_in]
        """The caps of each proposal's amount limits, then (``count_cap``) of its count limits, looked up once."""
        self.count_cap = self.cap[counted_in]
        self.families = _families(p.limits, list(range(len(p.limits))), p.size)
        self.capped = [f for f in self.families if any(p.limits[r].high is not None for r in f.rows[:-1].tolist())]
        self.minimums = [
            (r, limit.low, np.sort(limit.members)) for r, limit in enumerate(p.limits) if limit.low is not None
        ]
        self.lists = int(p.list_of.max(initial=0)) + 1
        self.cheapest = int(p.low.min()) if p.size else 0
        everyone = np.array([len(limit.members) == p.size for limit in p.limits] + [False])
        self.counted = everyone & ~self.is_amount & (self.cap < NEVER)
        self.typical = max(int(np.median(p.high)), 1) if p.size else 1
        grants = [int(c) for c in self.cap[self.counted].tolist()] + [self.p.budget // self.typical]
        self.depths: dict[int | None, int] = {None: _ahead(min(grants))}
        """How deep to sort each order (None: the whole list; a row: a minimum's group) at first.

        Only speed hangs on it: an order is sorted deeper whenever the walk reads on. It
        starts past as many grants as the grant count or the budget allows (or twice a
        minimum's typical grants), then follows how deep the last walk read.
        """
        self.zone = HEAD
        """How wide a contested zone is settled at once (then the next): a little past where the last lines ended.

        A zone's rounds cost what its width costs; past the lines' end they only pass proposals over.
        """
        self.head = HEAD
        """The first window the whole list's head looks at: a little past where the last walk's head ended.

        Like ``depths``, written by walks side by side in any order: what they fund does not hang on it.
        """

    def grants_in(self, r: int, quantity: int) -> int:
        """About how many grants ``quantity`` of row ``r``'s measure takes: cents over a typical grant, or a count."""
        return quantity // self.typical if self.is_amount[r] else quantity

    def walk(self, keys: np.ndarray, eligible: np.ndarray, exact: bool) -> tuple[np.ndarray, np.ndarray]:
        """Which proposals each draw funds, and which draws could not meet a minimum (they fund nobody).

        ``exact`` sorts stably, which ties need (noise zero, resampled scores).
        """
        state = Draws(self, keys.shape[0], eligible)
        keys = keys if exact else packed_keys(keys.astype(np.float32, copy=False))
        for r, low, members in self.minimums:
            fence = Ranked(keys, members, exact, self.depths.get(r, _ahead(2 * self.grants_in(r, low))))
            state.ring_fence(fence, r, low)
            self.depths[r] = _ahead(fence.reached)
        unmet = np.zeros(len(keys), dtype=bool)
        for r, low, _ in self.minimums:
            unmet |= state.used[:, r] < low
        state.live &= ~unmet
        state.tallied = self.capped
        order = Ranked(keys, None, exact, self.depths[None])
        start = state.advance(order, None, window=self.head)
        self.head = max(HEAD, start + start // 8)
        start = state.settle(order, start)
        for j in range(start, self.p.size):
            if (j - start) % CHECK_EVERY == 0 and not state.still_live():
                break
            state.step(order.column(j), state.live)
        self.depths[None] = _ahead(order.reached)
        state.funded[unmet] = False
        return state.funded, unmet


class Draws:
    """The state of ``D`` funding lines walked side by side."""

    def __init__(self, walker: Walker, draws: int, eligible: np.ndarray):
        self.w = walker
        self.p = walker.p
        self.index = np.arange(draws)
        self.flat_used = np.zeros(draws * len(walker.cap), dtype=np.int64)
        self.flat_funded = np.zeros(eligible.size, dtype=bool)
        self.flat_decided = np.logical_not(eligible).reshape(-1)
        """The tables read flat, for the walk's one-gather reads and writes.

        Each 2-D table below is shaped from its flat buffer, so it is a view of it and a write
        through either is seen by both (a flat read of a 2-D array may be a copy, which would
        swallow the writes).
        """
        self.used = self.flat_used.reshape(draws, len(walker.cap))
        self.funded = self.flat_funded.reshape(eligible.shape)
        self.decided = self.flat_decided.reshape(eligible.shape)
        self.cells = self.index * eligible.shape[1]
        """Where each draw's row starts in ``decided`` and ``funded`` read flat."""
        self.slots = self.index * len(walker.cap)
        """Where each draw's row starts in ``used`` read flat."""
        self.closed = np.zeros((draws, walker.lists), dtype=bool)
        self.live = np.ones(draws, dtype=bool)
        self.tallied = walker.families
        """The families whose totals a funded head or zone adds to: all while the minimums are met, then only the caps
        (nothing reads a minimum's total once the list is walked, and a bincount a window is saved)."""

    def step(self, items: np.ndarray, active: np.ndarray | None) -> None:
        """Offer item ``items[d]`` to every (active) draw ``d``: fund it with what fits, or pass it over.

        The walk steps a few hundred positions a chunk, each a handful of small numpy
        operations, so the tables are read flat: one gather reads all the limits of the
        proposal offered, split by measure (an amount limit bounds the grant, a count
        limit only needs one place left), and one scatter adds the grant or the place.
        """
        w, p = self.w, self.p
        decided, used = self.flat_decided, self.flat_used
        cells = self.cells + items
        open_now = ~decided[cells]
        d = np.flatnonzero(open_now if active is None else open_now & active)
        if len(d) == 0:
            return
        k, cells = items[d], cells[d]
        slots = self.slots[d, None] + w.limits_of[k]
        now = used[slots]
        amounts = w.amount_cap.shape[1]
        amount = np.minimum(p.high[k], (w.amount_cap[k] - now[:, :amounts]).min(axis=1))
        fits = (amount >= p.low[k]) & (now[:, amounts:] < w.count_cap[k]).all(axis=1)
        decided[cells] = True
        if p.settings.ranking_discipline:  # a list closes at its first proposal passed over
            lists = p.list_of[k]
            fits &= ~self.closed[d, lists]
            self.closed[d[~fits], lists[~fits]] = True
        self.flat_funded[cells[fits]] = True
        used[slots[fits]] += np.where(w.amount_column, amount[fits, None], 1)

    def ring_fence(self, fence: Ranked, r: int, low: int) -> None:
        """Each draw funds the group's best proposals (in its own order) until the minimum is met."""
        need = int((low - self.used[:, r]).max(initial=0))
        start = self.advance(fence, (r, low), window=max(64, self.w.grants_in(r, 2 * need)))
        for t in range(start, fence.size):
            short = self.used[:, r] < low
            if not short.any():
                return
            self.step(fence.column(t), short)

    def settle(self, order: Ranked, start: int) -> int:
        """Settle the contested zone beyond the head a round at a time (:class:`Zone`); return where stepping resumes.

        Only where one family of disjoint groups is capped besides the limits over everyone
        (a per-country cap), and without the ranking discipline; elsewhere the steps walk it all.
        """
        contested = [f for f in self.w.capped if not f.single]
        if self.p.settings.ranking_discipline or len(contested) > 1 or start >= order.size:
            return start
        family, first = (contested[0] if contested else None), start
        while start < order.size and self.still_live():
            columns = order.window(start, self.w.zone)
            zone = Zone(self, family, columns)
            for _ in range(ROUNDS):
                if not zone.round():
                    break
            order.read(start + zone.reached())
            resume = zone.resume()
            if resume < columns.shape[1]:
                start += resume
                break
            start += columns.shape[1]
        self.w.zone = max(CHECK_EVERY, _ahead(order.reached - first))
        return start

    def advance(self, order: Ranked, target: tuple[int, int] | None, window: int = HEAD) -> int:
        """Fund the surely-fitting head of each draw's order, window after window; return where stepping resumes.

        A window wholly funded by every draw is followed by one twice as wide, so a
        short head costs a short look and a long one a few. A window ends where the
        order is sorted to: deeper positions are sorted when the walk gets there.
        """
        start = 0
        while start < order.size:
            columns = order.window(start, window)
            length = self._head(columns, target)
            if length is None:
                order.read(start + columns.shape[1])
                return order.size
            if length < columns.shape[1]:
                return order.read(start + length)
            start, window = start + columns.shape[1], window * 2
        return order.read(start)

    def _head(self, order: np.ndarray, target: tuple[int, int] | None) -> int | None:
        """Fund at once the head of each draw's ``order`` that surely fits; return where stepping must resume.

        Up to the first open proposal whose running total, within any capped group it
        belongs to, passes the room that group has left (or whose list is closed),
        every open proposal fits in full, whatever the rest of the walk does. With a
        ``target`` (a minimum: row and amount) the head stops at the proposal that
        meets it, as the ring-fence does. Stepping resumes at the shortest head among
        the draws that still have something to do there (None: none has).
        """
        width = order.shape[1]
        window = Window(self, order)
        length = np.full(len(order), width)
        if self.p.settings.ranking_discipline and self.closed.any():
            length = _first(window.open & self.closed[self.index[:, None], self.p.list_of[order]], width)
        for family in self.w.capped:
            length = np.minimum(length, window.first_over(family))
        done = ~self.live
        if target is not None:
            r, low = target
            need = low - self.used[:, r]
            reach = _first(window.running(self.w.is_amount[r]) >= need[:, None], width) + 1
            done |= (need <= 0) | (reach <= length)
            length = np.where(need > 0, np.minimum(length, reach), 0)
        window.fund(length)
        return None if done.all() else int(length[~done].min())

    def still_live(self) -> bool:
        """Drop the draws that can fund nothing more (budget below every minimum grant, or the grant count full).

        Only limits over every proposal end a walk: a full country still leaves the others.
        """
        left = self.w.cap[None, :] - self.used
        budget_gone = left[:, 0] < self.w.cheapest
        counts_full = np.any(self.w.counted[None, :] & (left < 1), axis=1)
        self.live &= ~(budget_gone | counts_full)
        return bool(self.live.any())


class Ranked:
    """Each draw's proposals (all, or a minimum's group) from the best key down, sorted only as deep as it is read.

    The order is total: key from high to low, then the proposal's place in the ranking.
    So a deeper sort begins with the shallower one, and the walk reads on where it was.
    Noisy keys (float32) come packed with their place in the whole list into one int64
    (``packed_keys``, once a chunk: a group takes its members' columns, in which the places
    keep the group's own order): the best ``depth`` are picked out (``np.partition``) and
    only they are sorted. Exact keys (ties that matter: noise zero, resampled scores) are
    sorted in full and stably.
    """

    def __init__(self, keys: np.ndarray, members: np.ndarray | None, exact: bool, depth: int):
        """``keys``: the exact keys, or the packed ones, which the whole list's order partitions in place."""
        chosen = keys if members is None else keys[:, members]
        self.size = chosen.shape[1]
        self.reached = 0
        if exact:
            self.packed = None
            places = np.argsort(-chosen, axis=1, kind="stable")
            self.order = (places if members is None else members[places]).astype(np.int32)
        else:
            self.packed = chosen
            self._sort(depth)

    def window(self, start: int, width: int) -> np.ndarray:
        """Up to ``width`` positions of every draw's order from ``start``, no deeper than it is sorted.

        An order not sorted as far as ``start`` is first sorted twice as deep (or to ``start``).
        """
        if start >= self.order.shape[1] and self.packed is not None:
            self._sort(max(start + 1, 2 * self.order.shape[1]))
        return self.order[:, start : start + width]

    def column(self, position: int) -> np.ndarray:
        """Every draw's proposal at ``position`` of its order."""
        return self.window(self.read(position + 1) - 1, 1)[:, 0]

    def read(self, position: int) -> int:
        """Note that the walk went as deep as ``position`` (past the head, wider windows are only a look ahead)."""
        self.reached = max(self.reached, min(position, self.size))
        return position

    def _sort(self, depth: int) -> None:
        """Sort the best ``depth`` (one at least), partitioning the packed keys in place: a deeper sort picks again."""
        assert self.packed is not None
        depth = max(depth, 1)
        if depth < self.size:
            self.packed.partition(depth - 1, axis=1)
        best = self.packed[:, :depth].copy()
        best.sort(axis=1)
        self.order = best.view(np.int32)[:, PLACE::2].astype(np.int32)


def _ahead(depth: int) -> int:
    """Where to sort to when about ``depth`` is expected: a quarter and a check more, as other draws read further."""
    return depth + depth // 4 + CHECK_EVERY


def packed_keys(keys: np.ndarray) -> np.ndarray:
    """Float32 keys and their places as int64 in the order wanted: the key from high to low, then the place.

    A float's bits read as a signed integer order the positive floats; flipping all but
    the sign bit orders the negative ones too, and inverting every bit turns the order
    round. Adding zero first makes ``-0.0`` plain ``0.0``, which the float order holds equal.
    """
    bits = (keys + np.float32(0)).view(np.int32)
    flip = bits >> 31
    flip &= 0x7FFFFFFF
    bits ^= flip
    np.invert(bits, out=bits)
    packed = np.empty(keys.shape, dtype=np.int64)
    halves = packed.view(np.int32)  # each int64 written as its two halves: the key high, the place low
    halves[:, 1 - PLACE :: 2] = bits
    halves[:, PLACE::2] = np.arange(keys.shape[1], dtype=np.int32)
    return packed


class Window:
    """A window of positions of every draw's order, with what the head and a zone read of it, each computed once.

    Each is computed when first asked, which the head does before it funds anything; a zone
    reads only the groups and their sums, so it does not pay for the head's open proposals and spend.
    """

    def __init__(self, draws: Draws, order: np.ndarray):
        self.d = draws
        self.order = order
        self.cells = draws.cells[:, None] + order
        """Where the window's proposals are in ``decided`` and ``funded`` read flat: one gather or scatter each."""
        self._running: dict[bool, np.ndarray] = {}
        self._groups: dict[int, np.ndarray] = {}

    @functools.cached_property
    def open(self) -> np.ndarray:
        """Per draw, which of the window's proposals are still to be decided (the head's; a zone reads its own)."""
        return ~self.d.flat_decided[self.cells]

    @functools.cached_property
    def spend(self) -> np.ndarray:
        """Per draw, the whole grant of each open proposal of the window (0 where decided)."""
        return np.where(self.open, self.d.p.high[self.order], 0)

    def running(self, amount: bool) -> np.ndarray:
        """Per draw, the running spend (or count) of the open proposals along the window, summed when first asked."""
        if amount not in self._running:
            self._running[amount] = (self.spend if amount else self.open).cumsum(axis=1)
        return self._running[amount]

    def first_over(self, family: Family) -> np.ndarray:
        """Per draw, the first position whose running total within its group passes the room the group has left.

        A proposal that is not open adds nothing, so it never passes first. Only the
        groups whose whole window could pass their room are summed one by one, and
        none is when no draw's whole window passes its tightest room (most windows
        before any cap comes near: then the groups are not summed at all).
        """
        width = self.order.shape[1]
        left = self.d.w.cap[family.rows] - self.d.used[:, family.rows]
        if family.single:
            return _first(self.running(family.amount) > left[:, :1], width)
        first = np.full(len(self.order), width)
        if width == 0 or np.all(self.running(family.amount)[:, -1] <= left[:, :-1].min(axis=1)):
            return first
        values = self.spend if family.amount else self.open
        could = np.any(self.sums(family, values) > left, axis=0)[:-1]
        label = family.label[self.order]
        for g in np.flatnonzero(could).tolist():
            inside = label == g
            over = inside & (np.where(inside, values, 0).cumsum(axis=1) > left[:, g : g + 1])
            first = np.minimum(first, _first(over, width))
        return first

    def fund(self, length: np.ndarray) -> None:
        """Fund in full each draw's open proposals before its ``length``, and count them in every limit."""
        take = self.open & (np.arange(self.order.shape[1])[None, :] < length[:, None])
        self.d.flat_decided[self.cells] = ~self.open | take
        self.d.flat_funded[self.cells] |= take
        last = np.maximum(length - 1, 0)[:, None]
        for family in self.d.tallied:
            if family.single:
                taken = np.where(length > 0, np.take_along_axis(self.running(family.amount), last, axis=1)[:, 0], 0)
                self.d.used[:, family.rows[0]] += taken
            else:
                values = np.where(take, self.spend if family.amount else self.open, 0)
                self.d.used[:, family.rows] += self.sums(family, values)

    def groups(self, family: Family) -> np.ndarray:
        """Where each position's group of ``family`` is in a (draws, groups) table read flat, found when first asked."""
        if id(family) not in self._groups:
            self._groups[id(family)] = self.d.index[:, None] * len(family.rows) + family.label[self.order]
        return self._groups[id(family)]

    def sums(self, family: Family, values: np.ndarray) -> np.ndarray:
        """Per draw, the sum of ``values`` in each group of the family, exact in int64.

        ``bincount`` sums in floats, exact for whole cents while every partial sum stays
        below 2**53 cents: a sum compared with a room, or of proposals that fit the
        budget, stays below the largest budget a call may have (10**14 cents).
        """
        groups = len(family.rows)
        sums = np.bincount(self.groups(family).ravel(), weights=values.ravel(), minlength=len(values) * groups)
        return np.rint(sums).astype(np.int64).reshape(len(values), groups)


class Zone:
    """The contested zone of every draw's order (sorted positions past the head), settled a round at a time.

    The groups of a family are disjoint, so while the limits over everyone (the budget,
    the grant count) surely hold, each group's proposals are decided by the group alone.
    A round settles, in every draw: each open proposal whose lowest grant no longer fits
    one of its rooms (passed over: rooms only shrink); then, in each group's order, the
    others funded in full while their running total stays within the group's room, and
    the first that passes it, which gets what is left if that reaches its lowest grant
    (else it is passed over). The limits over everyone surely hold up to the first
    position where they would not even if every proposal still in play were funded in
    full; only positions before it are funded, so the steps that walk on from the first
    open position find every grant before them counted, and none after.
    """

    def __init__(self, draws: Draws, family: Family | None, order: np.ndarray):
        p = draws.p
        self.d = draws
        self.family = family
        self.window = Window(draws, order)
        self.cells = self.window.cells
        self.high = p.high[order]
        self.low = p.low[order]
        self.granted = np.zeros(order.shape, dtype=np.int64)
        self.taken = np.zeros(order.shape, dtype=bool)
        self.before = draws.used.copy()
        self.everyone = [f.rows[0] for f in draws.w.capped if f.single]
        self.positions = np.arange(order.shape[1])
        if family is not None:
            self.rooms = self.window.groups(family)
            """Where each position's group is in a (draws, groups) table read flat: within a draw, its group's order."""
            grouped = np.argsort(self.rooms, axis=1, kind="stable")
            self.grouped = draws.index[:, None] * order.shape[1] + grouped
            """Each draw's window with each group's proposals together, in the order of the draw, read flat."""
            rooms = np.take(self.rooms, self.grouped)
            self.group_starts = np.ones(order.shape, dtype=bool)
            self.group_starts[:, 1:] = rooms[:, 1:] != rooms[:, :-1]
            self.value = self.high if family.amount else np.ones(order.shape, dtype=np.int64)

    def round(self) -> bool:
        """Settle what can be settled now; whether anything was."""
        d, w, family = self.d, self.d.w, self.family
        open_now = ~d.flat_decided[self.cells] & d.live[:, None]
        fit = np.ones(open_now.shape, dtype=bool)
        for r in self.everyone:
            left = (w.cap[r] - d.used[:, r])[:, None]
            fit &= left >= (self.low if w.is_amount[r] else 1)
        if family is not None:
            left = np.take(w.cap[family.rows] - d.used[:, family.rows], self.rooms)
            fit &= left >= (self.low if family.amount else 1)
        candidate = open_now & fit
        inside = candidate & (self.positions < self._reach(candidate)[:, None])
        if family is None:
            funded, amount, first_passed = inside, self.high, np.zeros_like(inside)
        else:
            running = self._running(np.where(inside, self.value, 0))
            passed = running > left
            funded = inside & ~passed
            first_passed = inside & passed & (running - self.value <= left)
            amount = self.high
            if family.amount:
                amount = np.where(first_passed, np.minimum(self.high, left - running + self.value), self.high)
                funded |= first_passed & (amount >= self.low)
        settled = funded | first_passed | (open_now & ~fit)
        if not settled.any():
            return False
        self._fund(settled, funded, np.where(funded, amount, 0))
        return True

    def resume(self) -> int:
        """The first open position of any draw still walking (the window's width when there is none)."""
        open_now = ~self.d.flat_decided[self.cells] & self.d.live[:, None]
        return int(_first(open_now, open_now.shape[1]).min(initial=open_now.shape[1]))

    def reached(self) -> int:
        """How deep the lines went: past the last position funded (what lies beyond is only passed over)."""
        funded = np.flatnonzero(self.taken.any(axis=0))
        return int(funded[-1]) + 1 if len(funded) else 0

    def _reach(self, candidate: np.ndarray) -> np.ndarray:
        """Per draw, the first position where a limit over everyone would not hold if every candidate took its all."""
        w = self.d.w
        reach = np.full(len(candidate), candidate.shape[1])
        for r in self.everyone:
            upper = np.where(candidate, self.high, self.granted) if w.is_amount[r] else candidate | self.taken
            reach = np.minimum(reach, _first(self.before[:, r, None] + upper.cumsum(axis=1) > w.cap[r], len(upper[0])))
        return reach

    def _running(self, values: np.ndarray) -> np.ndarray:
        """Per draw and position, the running total of ``values`` within the position's group, up to it."""
        grouped = np.take(values, self.grouped)
        total = grouped.cumsum(axis=1)
        total -= np.maximum.accumulate(np.where(self.group_starts, total - grouped, 0), axis=1)
        running = np.empty_like(total)
        np.put(running, self.grouped, total)
        return running

    def _fund(self, settled: np.ndarray, funded: np.ndarray, grant: np.ndarray) -> None:
        d = self.d
        d.flat_decided[self.cells[settled]] = True
        d.flat_funded[self.cells[funded]] = True
        self.granted += grant
        self.taken |= funded
        for family in d.tallied:
            values = grant if family.amount else funded
            if family.single:
                d.used[:, family.rows[0]] += values.sum(axis=1)
            else:
                d.used[:, family.rows] += self.window.sums(family, values)


def _families(limits: list[Limit], rows: list[int], size: int) -> list[Family]:
    """The limits ``rows`` packed into families of disjoint groups of one measure, in the order they come."""
    packed: list[tuple[bool, list[int], np.ndarray]] = []
    for r in rows:
        limit = limits[r]
        amount = limit.measure == "amount"
        home = next((f for f in packed if f[0] == amount and not np.any(f[2][limit.members] >= 0)), None)
        if home is None:
            home = (amount, [], np.full(size, -1, dtype=np.int64))
            packed.append(home)
        home[2][limit.members] = len(home[1])
        home[1].append(r)
    families = []
    for amount, members_of, label in packed:
        label[label < 0] = len(members_of)
        dtype = np.int8 if len(members_of) < 127 else np.int16 if len(members_of) < 32_767 else np.int64
        families.append(Family(label.astype(dtype), np.array([*members_of, len(limits)], dtype=np.int64), amount))
    return families


def _limit_table(p: Portfolio) -> tuple[np.ndarray, np.ndarray]:
    """Whether each limit counts money, and its cap (``p.limits``' order, then one that never binds)."""
    cap = np.array([NEVER if limit.high is None else limit.high for limit in p.limits] + [NEVER], dtype=np.int64)
    is_amount = np.array([limit.measure == "amount" for limit in p.limits] + [True])
    return is_amount, cap


def _row_table(p: Portfolio, chosen: np.ndarray) -> np.ndarray:
    """Each proposal's ``chosen`` limits as a padded index table (the pad: the limit that never binds).

    A pad repeats within a row but is never read into a decision, so a plain fancy ``+=`` is exact.
    """
    rows = [r for r, limit in enumerate(p.limits) if chosen[r]]
    counts = np.zeros(p.size, dtype=np.int64)
    for r in rows:
        counts[p.limits[r].members] += 1
    table = np.full((p.size, max(int(counts.max(initial=0)), 1)), len(p.limits), dtype=np.int64)
    filled = np.zeros(p.size, dtype=np.int64)
    for r in rows:
        members = p.limits[r].members
        table[members, filled[members]] = r
        filled[members] += 1
    return table


def _first(flags: np.ndarray, width: int) -> np.ndarray:
    """Per row, the position of the first true flag, or ``width`` when there is none."""
    return np.where(flags.any(axis=1), flags.argmax(axis=1), width)
