"""The ex aequo procedure: how proposals with the same ranking score are put in order.

Each key of a call's chain is a small object that gives a proposal a value (higher
comes first; ``None``, "not known", comes after any known value) and says in words
what it compared. The chain is a list of them, applied in the call's order.

Some keys (``uncovered_topic``, ``new_countries``) depend on what is ranked higher,
so ties are broken as Horizon Europe's General Annex F says: group by group from the
top, and within a group one proposal at a time, each time with everything already
placed above counting as "higher-ranked". A tie the whole chain cannot break is
decided by a draw anyone can redo: the lower ``sha256("<call id>:<proposal id>")``
(hex, UTF-8) comes first.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import ClassVar, Protocol

from pydantic import BaseModel, Field

from evaluator.scoring import counted, show
from rules.money import format_money
from rules.proposal import OrganisationType, Proposal

HALF = Decimal("0.5")
Value = Decimal | Fraction | int | None
"""Exact: Decimal where the inputs are decimals, Fraction for a ratio of them."""
Sortable = tuple[bool, Decimal | Fraction | int]


class TieBreak(BaseModel):
    """How a proposal was separated from the next one with the same ranking score."""

    other: str = Field(description="id of the proposal ranked right after it")
    step: int = Field(description="1-based position of the deciding key in the ex aequo chain; 0 if none decided")
    key: str = Field(description="the deciding key, e.g. criterion:impact, or 'draw' when the chain did not decide")
    detail: str = Field(description="the values compared, in words")


@dataclass(frozen=True)
class Candidate:
    """What the keys may look at: the proposal, its scores and where its partners are."""

    proposal: Proposal
    score: Decimal  # the ranking score (weighted total)
    scores: Mapping[str, Decimal] = field(default_factory=dict)
    countries: frozenset[str] = frozenset()
    id: str = field(init=False)  # the proposal's, kept here: sorting and placing read it a few times each

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", self.proposal.id)


@dataclass
class Above:
    """What the proposals ranked higher in the same list already cover."""

    topics: set[str] = field(default_factory=set)
    countries: set[str] = field(default_factory=set)

    def add(self, candidate: Candidate) -> None:
        if candidate.proposal.topic is not None:
            self.topics.add(candidate.proposal.topic)
        self.countries |= candidate.countries


class Key(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def contextual(self) -> bool:
        """Whether the value depends on what is ranked above (else it is computed once per tied group)."""
        ...

    def value(self, candidate: Candidate, above: Above) -> Value: ...

    def describe(self, candidate: Candidate, above: Above) -> str: ...


@dataclass(frozen=True)
class UncoveredTopic:
    """Horizon Europe step 1: a topic no higher-ranked proposal addresses comes first."""

    name: ClassVar[str] = "uncovered_topic"
    contextual: ClassVar[bool] = True

    def value(self, candidate: Candidate, above: Above) -> Value:
        topic = candidate.proposal.topic
        return int(topic is not None and topic not in above.topics)

    def describe(self, candidate: Candidate, above: Above) -> str:
        topic = candidate.proposal.topic
        if topic is None:
            return "no topic"
        return f"topic {topic} {'not yet covered' if self.value(candidate, above) else 'already covered higher up'}"


@dataclass(frozen=True)
class HigherCriterion:
    """Horizon Europe step 2: the higher (consolidated) score on one criterion."""

    criterion: str
    contextual: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return f"criterion:{self.criterion}"

    def value(self, candidate: Candidate, above: Above) -> Value:
        return candidate.scores.get(self.criterion)

    def describe(self, candidate: Candidate, above: Above) -> str:
        score = candidate.scores.get(self.criterion)
        return f"{self.criterion} {'not scored' if score is None else score}"


@dataclass(frozen=True)
class GenderBalance:
    """Horizon Europe step 3: the share of women among the people primarily responsible closer to parity.

    The annex asks for "gender balance", not for more women: 40% and 60% are
    equally balanced, and both beat 20% or 80%.
    """

    name: ClassVar[str] = "gender_balance"
    contextual: ClassVar[bool] = False

    def value(self, candidate: Candidate, above: Above) -> Value:
        share = candidate.proposal.gender_balance
        return None if share is None else -abs(share - HALF)

    def describe(self, candidate: Candidate, above: Above) -> str:
        share = candidate.proposal.gender_balance
        if share is None:
            return "gender balance not given"
        return f"{show(share * 100)}% women ({show(abs(share - Decimal('0.5')) * 100)} points from parity)"


@dataclass(frozen=True)
class NewCountries:
    """Horizon Europe step 4: more countries not represented in higher-ranked proposals."""

    name: ClassVar[str] = "new_countries"
    contextual: ClassVar[bool] = True

    def value(self, candidate: Candidate, above: Above) -> Value:
        return len(candidate.countries - above.countries)

    def describe(self, candidate: Candidate, above: Above) -> str:
        new = sorted(candidate.countries - above.countries)
        listed = f" ({', '.join(new)})" if new else ""
        return f"{counted(len(new), 'country', 'countries')} not yet represented{listed}"


@dataclass(frozen=True)
class SmeShare:
    """H2020's factor (c): the larger share of the consortium's budget going to SMEs.

    An SME is a partner of type ``sme``; the share is their budgets over all partners'
    budgets, so it is unknown (ranks last) when any partner's budget is missing.
    """

    name: ClassVar[str] = "sme_share"
    contextual: ClassVar[bool] = False

    def value(self, candidate: Candidate, above: Above) -> Value:
        return self.share(candidate)

    @staticmethod
    def share(candidate: Candidate) -> Fraction | None:
        partners = candidate.proposal.partners
        if any(p.budget is None for p in partners):  # the usual case where calls do not ask for budgets
            return None
        total = sum((p.budget for p in partners if p.budget is not None), Decimal(0))
        if total == 0:
            return None
        sme = sum((p.budget for p in partners if p.type is OrganisationType.sme and p.budget is not None), Decimal(0))
        return Fraction(sme) / Fraction(total)

    def describe(self, candidate: Candidate, above: Above) -> str:
        share = self.share(candidate)
        if share is None:
            return "SME budget share unknown"
        percent = Decimal(share.numerator * 100) / Decimal(share.denominator)
        return f"{percent.quantize(Decimal('0.1'))}% of the budget to SMEs"


@dataclass(frozen=True)
class LowerRequest:
    """The smaller requested grant first: the same score for less money."""

    name: ClassVar[str] = "lower_request"
    contextual: ClassVar[bool] = False

    def value(self, candidate: Candidate, above: Above) -> Value:
        return -candidate.proposal.requested_amount

    def describe(self, candidate: Candidate, above: Above) -> str:
        return f"requests {format_money(candidate.proposal.requested_amount)}"


KEYS: dict[str, Key] = {
    key.name: key for key in (UncoveredTopic(), GenderBalance(), NewCountries(), SmeShare(), LowerRequest())
}


def chain(names: Iterable[str]) -> list[Key]:
    """The key objects for a call's chain (``call.ex_aequo_chain()``), in its order."""
    return [HigherCriterion(name.split(":", 1)[1]) if name.startswith("criterion:") else KEYS[name] for name in names]


def draw_ticket(call_id: str, proposal_id: str) -> str:
    """The documented draw: lower hex digest first; reproducible with ``printf 'CALL:P1' | sha256sum``."""
    return hashlib.sha256(f"{call_id}:{proposal_id}".encode()).hexdigest()


@dataclass
class Order:
    """A ranked list: candidates in order, how each tied pair was decided, and the ties left to the draw."""

    ranked: list[Candidate] = field(default_factory=list)
    tie_breaks: dict[str, TieBreak] = field(default_factory=dict)
    unresolved: list[list[str]] = field(default_factory=list)


@dataclass
class Coverage:
    """What the list placed so far covers, and at which place each topic and country first appeared.

    The places let a tie-break be explained afterwards as it was seen when decided,
    without copying the covered sets at every place.
    """

    above: Above = field(default_factory=Above)
    topic_since: dict[str, int] = field(default_factory=dict)
    country_since: dict[str, int] = field(default_factory=dict)
    placed: int = 0

    def add(self, candidate: Candidate) -> list[str]:
        """Place one more; the topic and countries it newly covers, for the keys that depend on them."""
        topic = candidate.proposal.topic
        new = [topic] if topic is not None and topic not in self.topic_since else []
        for name in new:
            self.topic_since[name] = self.placed
        countries = [c for c in candidate.countries if c not in self.country_since]
        for country in countries:
            self.country_since[country] = self.placed
        self.above.add(candidate)
        self.placed += 1
        return new + countries

    def before(self, place: int, *candidates: Candidate) -> Above:
        """What was above at ``place``, as far as these candidates' topics and countries go."""
        topics = {c.proposal.topic for c in candidates if c.proposal.topic is not None}
        countries = set().union(*(c.countries for c in candidates))
        return Above(
            {t for t in topics if self.topic_since.get(t, place) < place},
            {c for c in countries if self.country_since.get(c, place) < place},
        )


def order(call_id: str, keys: Sequence[Key], candidates: Iterable[Candidate], explain: bool = True) -> Order:
    """Rank by score, highest first, breaking each group of ties with the chain from the top.

    ``explain`` False leaves ``tie_breaks`` empty: the words for each tied pair are for
    the ranking's readers, and an allocation or a simulation needs only the order.
    """
    result = Order()
    coverage = Coverage()
    by_score = sorted(candidates, key=lambda c: (-c.score, c.id))
    for _, group in itertools.groupby(by_score, key=lambda c: c.score):
        _TiedGroup(call_id, keys, list(group), coverage).place(result, explain)
    return result


Bucket = tuple[Decimal | Fraction | int | float, ...]
"""A proposal's whole chain as plain numbers, negated so the smallest comes first."""


class _TiedGroup:
    """A group with the same score, placed one at a time in O(n log n).

    Proposals whose chain values are all equal share a bucket; the best bucket is the
    smallest in a heap of buckets, and within it the lowest draw ticket goes first.
    Keys that do not depend on what is above become dense integer ranks once. The
    others are recomputed only for the proposals whose topic or a country has just
    become covered, which moves them to another bucket: each proposal moves at most
    once per topic and country it has.
    """

    def __init__(self, call_id: str, keys: Sequence[Key], group: list[Candidate], coverage: Coverage) -> None:
        self.call_id, self.keys, self.group, self.coverage = call_id, keys, group, coverage
        self.contextual = [i for i, key in enumerate(keys) if key.contextual]
        self.tickets = [draw_ticket(call_id, c.id) for c in group]
        self.columns = [self._fixed_ranks(key) if not key.contextual else [0] * len(group) for key in keys]
        self.fixed: list[Bucket] = list(zip(*self.columns, strict=True)) if keys else [()] * len(group)
        self.bucket = [self._bucket(j) for j in range(len(group))]
        self.members: dict[Bucket, set[int]] = defaultdict(set)
        self.queues: dict[Bucket, list[tuple[str, int]]] = defaultdict(list)
        self.best: list[Bucket] = []
        self.drawn: set[int] = set()
        self.drawn_in: dict[Bucket, int] = {}
        for j, bucket in enumerate(self.bucket):
            self._enter(j, bucket)
        self.touching: dict[str, list[int]] = defaultdict(list)
        if self.contextual:
            for j, candidate in enumerate(group):
                for name in {candidate.proposal.topic, *candidate.countries} - {None}:
                    self.touching[str(name)].append(j)

    def _fixed_ranks(self, key: Key) -> list[int]:
        values = [_sortable(key.value(c, self.coverage.above)) for c in self.group]
        rank = {value: r for r, value in enumerate(sorted(set(values)))}
        return [-rank[value] for value in values]

    def _bucket(self, j: int) -> Bucket:
        """The fixed ranks computed once, with the contextual keys' values as they stand now."""
        if not self.contextual:
            return self.fixed[j]
        values = list(self.fixed[j])
        candidate, above = self.group[j], self.coverage.above
        for i in self.contextual:
            values[i] = _negated(self.keys[i].value(candidate, above))
        return tuple(values)

    def _enter(self, j: int, bucket: Bucket) -> None:
        members = self.members[bucket]
        if not members:
            heapq.heappush(self.best, bucket)
        members.add(j)
        heapq.heappush(self.queues[bucket], (self.tickets[j], j))
        if j in self.drawn:
            self.drawn_in[bucket] = self.drawn_in.get(bucket, 0) + 1

    def _leave(self, j: int) -> None:
        bucket = self.bucket[j]
        self.members[bucket].discard(j)
        if j in self.drawn:
            self.drawn_in[bucket] -= 1

    def _next(self, unresolved: list[list[str]]) -> int:
        """The proposal to place now, recording a tie the chain leaves to the draw (once per set of proposals)."""
        while not self.members[self.best[0]]:
            heapq.heappop(self.best)
        bucket = self.best[0]
        survivors = self.members[bucket]
        if len(survivors) > 1 and self.drawn_in.get(bucket, 0) < len(survivors):
            self.drawn, self.drawn_in = set(survivors), {bucket: len(survivors)}
            unresolved.append([self.group[j].id for j in sorted(survivors, key=self.tickets.__getitem__)])
        queue = self.queues[bucket]
        while queue[0][1] not in survivors:
            heapq.heappop(queue)
        return heapq.heappop(queue)[1]

    def place(self, result: Order, explain: bool) -> None:
        placed: list[tuple[int, int]] = []
        for _ in self.group:
            j = self._next(result.unresolved)
            self._leave(j)
            placed.append((j, self.coverage.placed))
            for name in self.coverage.add(self.group[j]):
                for k in self.touching.get(name, ()):
                    self._update(k)
        result.ranked += [self.group[j] for j, _ in placed]
        if explain:
            self._explain(placed, result)

    def _explain(self, placed: list[tuple[int, int]], result: Order) -> None:
        """Each tied pair's deciding key in words, as the pair was seen when the higher one was placed."""
        for (j, place), (k, _) in itertools.pairwise(placed):
            higher, lower = self.group[j], self.group[k]
            context = self.coverage.before(place, higher, lower)
            step = next((i for i, key in enumerate(self.keys) if self._differ(i, key, j, k, context)), None)
            result.tie_breaks[higher.id] = _described(self.call_id, self.keys, step, higher, lower, context)

    def _differ(self, i: int, key: Key, j: int, k: int, context: Above) -> bool:
        """Whether key ``i`` tells ``j`` and ``k`` apart: by the ranks already computed unless it is contextual."""
        if not key.contextual:
            return self.columns[i][j] != self.columns[i][k]
        return _sortable(key.value(self.group[j], context)) != _sortable(key.value(self.group[k], context))

    def _update(self, k: int) -> None:
        bucket = self.bucket[k]
        if k not in self.members[bucket]:
            return  # already placed
        moved = self._bucket(k)
        if moved != bucket:
            self._leave(k)
            self.bucket[k] = moved
            self._enter(k, moved)


def _negated(value: Value) -> Decimal | Fraction | int | float:
    return math.inf if value is None else -value


def _sortable(value: Value) -> Sortable:
    return (value is not None, 0 if value is None else value)


def _decision(call_id: str, keys: Sequence[Key], higher: Candidate, lower: Candidate, above: Above) -> TieBreak:
    """The first key that tells the pair apart, as seen when the higher one was placed."""
    differ = (
        i for i, key in enumerate(keys) if _sortable(key.value(higher, above)) != _sortable(key.value(lower, above))
    )
    return _described(call_id, keys, next(differ, None), higher, lower, above)


def _described(
    call_id: str, keys: Sequence[Key], step: int | None, higher: Candidate, lower: Candidate, above: Above
) -> TieBreak:
    """The tie-break decided by ``keys[step]`` (None: by the draw), in words."""
    if step is not None:
        key = keys[step]
        detail = f"{higher.id}: {key.describe(higher, above)}; {lower.id}: {key.describe(lower, above)}"
        return TieBreak(other=lower.id, step=step + 1, key=key.name, detail=detail)
    tickets = (draw_ticket(call_id, higher.id)[:12], draw_ticket(call_id, lower.id)[:12])
    return TieBreak(
        other=lower.id,
        step=0,
        key="draw",
        detail=f"the whole chain ties; draw sha256('{call_id}:{higher.id}') {tickets[0]}… "
        f"before sha256('{call_id}:{lower.id}') {tickets[1]}…",
    )
