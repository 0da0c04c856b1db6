"""The eligibility rule vocabulary and the check that applies it.

Rules are a closed set of pydantic models discriminated by ``rule:``; a call's YAML
can only combine them, never run code. Each rule evaluates column-wise over a
:class:`~rules.table.ProposalTable` (one boolean per proposal) and explains a
failure in words that name the partner, the place and the rule's requirement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rules.areas import Area
from rules.money import Money, Rate, format_cents, format_money, to_cents
from rules.proposal import OrganisationType
from rules.sme import CLASS_BY_NAME, explain_class
from rules.table import NO_AMOUNT, ORG_TYPES, TYPE_INDEX, ProposalTable

if TYPE_CHECKING:
    from rules.model import Call, CofinancingRates


@dataclass
class Context:
    """What rules read besides the proposals: the call and its resolved areas."""

    call: Call
    areas: Mapping[str, Area]
    table: ProposalTable
    _memo: dict[tuple[object, ...], np.ndarray] = field(default_factory=dict)

    def memo(self, key: tuple[object, ...], compute: Callable[[], np.ndarray]) -> np.ndarray:
        """Compute a column once per check: explanations reuse the columns of the verdict."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def passes(self, rule: RuleBase) -> np.ndarray:
        return self.memo(("passes", id(rule)), lambda: rule.evaluate(self))

    def in_area(self, area_id: str) -> np.ndarray:
        """Per-partner membership of an area, computed once per distinct location."""

        def compute() -> np.ndarray:
            area = self.areas[area_id]
            by_location = np.array([area.contains(loc) for loc in self.table.locations], dtype=bool)
            return by_location[self.table.x_location] if len(by_location) else np.zeros(0, dtype=bool)

        return self.memo(("area", area_id), compute)

    def count(self, rule: PartnerRule) -> np.ndarray:
        """Per proposal, how many partners satisfy a partner rule."""
        return self.memo(("count", id(rule)), lambda: self.table.per_proposal(rule.mask(self)))


class RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, description="a name for this rule in reports")
    source: str | None = Field(default=None, description="the call text this rule comes from")

    bounds_fields: ClassVar[tuple[str, str] | None] = None
    """The rule's lower and upper bound, if it has both: a call whose range is upside down fails every proposal."""

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Self:
        if self.bounds_fields is not None:
            low_name, high_name = self.bounds_fields
            low, high = getattr(self, low_name), getattr(self, high_name)
            if low is not None and high is not None and low > high:
                raise ValueError(f"{low_name} {low} is above {high_name} {high}: no proposal could pass")
        return self

    @property
    def name(self) -> str:
        return self.id or str(getattr(self, "rule", type(self).__name__))

    def areas_used(self) -> Iterator[str]:
        yield from ()

    def evaluate(self, ctx: Context) -> np.ndarray:
        raise NotImplementedError

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        """Why each of these proposals (which fail the rule, in increasing order) fails it.

        Written for all of them at once: a check of 100,000 proposals explains tens of
        thousands, and each place, type or bound is put into words once, not once per proposal.
        """
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


def _joined(parts: list[list[str | None]], count: int, separator: str = "; ") -> list[str]:
    """Per proposal, the parts that apply (None does not; an empty part does, as it always did)."""
    return [separator.join(p for p in column if p is not None) for column in zip(*parts, strict=True)] or [""] * count


def _unless(applies: list[bool], texts: list[str]) -> list[str | None]:
    """Each text where it applies, None elsewhere (``texts`` holds only the ones that apply, in order)."""
    found = iter(texts)
    return [next(found) if a else None for a in applies]


class PartnerRule(RuleBase):
    """A rule that is true or false of each partner, so ``at_least`` can count it."""

    def partner_mask(self, ctx: Context) -> np.ndarray:
        raise NotImplementedError

    def mask(self, ctx: Context) -> np.ndarray:
        """The partner mask, computed once per check."""
        return ctx.memo(("mask", id(self)), lambda: self.partner_mask(ctx))

    def partner_failures(self, ctx: Context, partners: np.ndarray) -> list[str]:
        """What is wrong with each of these partners, after its label."""
        raise NotImplementedError

    def _failing_partners(self, ctx: Context, proposals: np.ndarray, mask: np.ndarray | None = None) -> list[str]:
        """Per proposal, its partners the mask leaves out, each named with what is wrong."""
        mask = self.mask(ctx) if mask is None else mask
        failing = ctx.table.per_partner_of(proposals, ~mask)
        texts = [
            f"{label} {why}"
            for label, why in zip(ctx.table.partner_labels(failing), self.partner_failures(ctx, failing), strict=True)
        ]
        return ["; ".join(group) for group in ctx.table.grouped(proposals, failing, texts)]


def _outside(ctx: Context, area_id: str, partners: np.ndarray) -> list[str]:
    """Why each partner is outside the area, put into words once per place."""
    area, table = ctx.areas[area_id], ctx.table
    at = table.x_location[partners].tolist()
    why = {place: area.why_not(table.locations[place]) for place in set(at)}
    return [why[place] for place in at]


class PartnerArea(PartnerRule):
    """Every partner (or a share of them) is located in an area."""

    rule: Literal["partner_area"]
    area: str
    min_share: Rate = Field(default=Decimal(1), description="share of partners that must be in the area")

    def areas_used(self) -> Iterator[str]:
        yield self.area

    def partner_mask(self, ctx: Context) -> np.ndarray:
        return ctx.in_area(self.area)

    def partner_failures(self, ctx: Context, partners: np.ndarray) -> list[str]:
        return _outside(ctx, self.area, partners)

    def evaluate(self, ctx: Context) -> np.ndarray:
        return ctx.count(self) >= float(self.min_share) * ctx.table.p_partners - 1e-9

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        outside = self._failing_partners(ctx, proposals)
        if self.min_share == 1:
            return outside
        totals = ctx.table.p_partners[proposals].tolist()
        inside = ctx.count(self)[proposals].astype(np.int64).tolist()
        name = ctx.areas[self.area].name
        return [
            f"only {n} of {total} partners are in {name}, at least {self.min_share:.0%} required: {partners}"
            for n, total, partners in zip(inside, totals, outside, strict=True)
        ]

    def describe(self) -> str:
        share = "every partner" if self.min_share == 1 else f"at least {self.min_share:.0%} of partners"
        return f"{share} in {self.area}"


class LeadPartnerArea(RuleBase):
    """The lead partner is located in an area."""

    rule: Literal["lead_partner_area"]
    area: str

    def areas_used(self) -> Iterator[str]:
        yield self.area

    def evaluate(self, ctx: Context) -> np.ndarray:
        lead_inside = ctx.in_area(self.area) & ctx.table.x_lead
        return ctx.table.per_proposal(lead_inside) > 0

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        leads = ctx.table.p_lead[proposals]
        labels = ctx.table.partner_labels(leads)
        return [f"lead {label} {why}" for label, why in zip(labels, _outside(ctx, self.area, leads), strict=True)]

    def describe(self) -> str:
        return f"the lead partner in {self.area}"


class MinPartners(RuleBase):
    """A consortium of at least ``count`` partners (and at most ``max``, if set)."""

    rule: Literal["min_partners"]
    count: int = Field(ge=1)
    max: int | None = Field(default=None, ge=1)
    bounds_fields = ("count", "max")

    def evaluate(self, ctx: Context) -> np.ndarray:
        n = ctx.table.p_partners
        ok = n >= self.count
        return ok & (n <= self.max) if self.max is not None else ok

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        return [
            f"has {n} partners, at least {self.count} required"
            if n < self.count
            else f"has {n} partners, at most {self.max} allowed"
            for n in ctx.table.p_partners[proposals].tolist()
        ]

    def describe(self) -> str:
        return f"at least {self.count} partners"


class CountryQuota(BaseModel):
    model_config = ConfigDict(extra="forbid")
    area: str
    count: int = Field(ge=1)


class MinCountries(RuleBase):
    """Partners from at least ``count`` distinct countries, optionally so many in an area."""

    rule: Literal["min_countries"]
    count: int = Field(ge=1)
    area: str | None = Field(default=None, description="count only countries of partners in this area")
    of_which: CountryQuota | None = Field(default=None, description="of which so many in an area")

    def areas_used(self) -> Iterator[str]:
        yield from (a for a in (self.area, self.of_which.area if self.of_which else None) if a)

    def _distinct(self, ctx: Context, area: str | None) -> np.ndarray:
        """Per proposal, how many distinct countries its partners (in the area) come from.

        Each partner sets its country's bit, 64 countries to a word, and a proposal's bits are
        or-ed over its partners (who are consecutive): no sort of half a million pairs.
        """
        table = ctx.table
        keep = ctx.in_area(area) if area else np.ones(len(table.x_owner), dtype=bool)
        found = np.zeros(table.size, dtype=np.int64)
        if not table.size:
            return found
        word, bit = np.divmod(table.x_country, 64)
        for w in range(-(-len(table.countries) // 64)):
            bits = np.where(keep & (word == w), np.left_shift(np.uint64(1), bit.astype(np.uint64)), np.uint64(0))
            found += np.bitwise_count(np.bitwise_or.reduceat(bits, table.p_first))
        return found

    def evaluate(self, ctx: Context) -> np.ndarray:
        ok = self._distinct(ctx, self.area) >= self.count
        if self.of_which:
            ok &= self._distinct(ctx, self.of_which.area) >= self.of_which.count
        return ok

    def _countries(self, ctx: Context, proposals: np.ndarray, area: str | None) -> list[list[str]]:
        """Per proposal, the countries of its partners (in the area, if one is given), sorted."""
        table = ctx.table
        partners = table.per_partner_of(proposals, ctx.in_area(area) if area else None)
        codes = [table.countries[c] for c in table.x_country[partners].tolist()]
        return [sorted(set(group)) for group in table.grouped(proposals, partners, codes)]

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        where = f" in {ctx.areas[self.area].name}" if self.area else ""
        parts: list[list[str | None]] = [
            [
                f"partners come from {len(found)} countries{where} ({', '.join(found)}), at least {self.count} required"
                if len(found) < self.count
                else None
                for found in self._countries(ctx, proposals, self.area)
            ]
        ]
        if self.of_which:
            quota, name = self.of_which, ctx.areas[self.of_which.area].name
            parts.append(
                [
                    f"{len(inside)} countries in {name} ({', '.join(inside) or 'none'}), "
                    f"at least {quota.count} required"
                    if len(inside) < quota.count
                    else None
                    for inside in self._countries(ctx, proposals, quota.area)
                ]
            )
        return _joined(parts, len(proposals))

    def describe(self) -> str:
        return f"partners from at least {self.count} countries"


class PartnerType(PartnerRule):
    """Which organisation types may take part, which must, and which may lead."""

    rule: Literal["partner_type"]
    allowed: list[OrganisationType] | None = None
    required: list[OrganisationType] = Field(default_factory=list)
    lead_allowed: list[OrganisationType] | None = None

    def partner_mask(self, ctx: Context) -> np.ndarray:
        if self.allowed is None:
            return np.ones(len(ctx.table.x_type), dtype=bool)
        return np.isin(ctx.table.x_type, [TYPE_INDEX[t] for t in self.allowed])

    def partner_failures(self, ctx: Context, partners: np.ndarray) -> list[str]:
        allowed = ", ".join(t.value for t in self.allowed or [])
        return [f"is a {ORG_TYPES[kind].value}, not one of {allowed}" for kind in ctx.table.x_type[partners].tolist()]

    def evaluate(self, ctx: Context) -> np.ndarray:
        table = ctx.table
        ok = table.per_proposal(~self.mask(ctx)) == 0
        for kind in self.required:
            ok &= table.per_proposal(table.x_type == TYPE_INDEX[kind]) > 0
        if self.lead_allowed is not None:
            lead_ok = table.x_lead & np.isin(table.x_type, [TYPE_INDEX[t] for t in self.lead_allowed])
            ok &= table.per_proposal(lead_ok) > 0
        return ok

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        table = ctx.table
        parts: list[list[str | None]] = []
        if self.allowed is not None:
            parts.append([text or None for text in self._failing_partners(ctx, proposals)])
        for kind in self.required:
            found = table.per_proposal(table.x_type == TYPE_INDEX[kind])[proposals] > 0
            parts.append([None if has else f"no partner is a {kind.value}" for has in found.tolist()])
        if self.lead_allowed is not None:
            leads = table.p_lead[proposals]
            wrong = ~np.isin(table.x_type[leads], [TYPE_INDEX[t] for t in self.lead_allowed])
            texts = [
                f"lead {label} is a {ORG_TYPES[kind].value}, which may not lead"
                for label, kind in zip(
                    table.partner_labels(leads[wrong]), table.x_type[leads[wrong]].tolist(), strict=True
                )
            ]
            parts.append(_unless(wrong.tolist(), texts))
        return _joined(parts, len(proposals))

    def describe(self) -> str:
        allowed = ", ".join(t.value for t in self.allowed) if self.allowed else "any type"
        return f"partners of type {allowed}"


SmeClassName = Literal["micro", "small", "medium"]
SME_CLASS_NAMES: tuple[SmeClassName, ...] = ("micro", "small", "medium")


class Sme(PartnerRule):
    """Partners meet the EU SME definition (2003/361/EC) in one of the given classes."""

    rule: Literal["sme"]
    classes: list[SmeClassName] = Field(default_factory=lambda: list(SME_CLASS_NAMES))
    applies_to: Literal["declared", "lead", "all"] = Field(
        default="declared", description="declared: partners whose type is sme must qualify"
    )
    min_count: int = Field(default=0, ge=0, description="at least so many partners must qualify")

    def partner_mask(self, ctx: Context) -> np.ndarray:
        return np.isin(ctx.table.x_sme_class, [CLASS_BY_NAME[c].code for c in self.classes])

    def partner_failures(self, ctx: Context, partners: np.ndarray) -> list[str]:
        classes = "/".join(self.classes)
        return [f"is not a {classes} SME: {explain_class(ctx.table.partner(j))}" for j in partners.tolist()]

    def _applies(self, ctx: Context) -> np.ndarray:
        table = ctx.table
        if self.applies_to == "all":
            return np.ones(len(table.x_type), dtype=bool)
        if self.applies_to == "lead":
            return table.x_lead
        return table.x_type == TYPE_INDEX[OrganisationType.sme]

    def evaluate(self, ctx: Context) -> np.ndarray:
        mask = self.mask(ctx)
        ok = ctx.table.per_proposal(self._applies(ctx) & ~mask) == 0
        return ok & (ctx.table.per_proposal(mask) >= self.min_count)

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        mask = self.mask(ctx) | ~ctx.memo(("applies", id(self)), lambda: self._applies(ctx))
        qualifying = ctx.count(self)[proposals].astype(np.int64).tolist()
        parts: list[list[str | None]] = [
            [text or None for text in self._failing_partners(ctx, proposals, mask)],
            [
                f"{n} partners qualify as SMEs, at least {self.min_count} required" if n < self.min_count else None
                for n in qualifying
            ],
        ]
        return _joined(parts, len(proposals))

    def describe(self) -> str:
        return f"{self.applies_to} partners are {'/'.join(self.classes)} SMEs"


class RequestedAmount(RuleBase):
    """The requested grant lies within bounds; the maximum defaults to the call's max grant."""

    rule: Literal["requested_amount"]
    min: Money | None = None
    max: Money | None = None
    bounds_fields = ("min", "max")

    def bounds(self, ctx: Context) -> tuple[Decimal | None, Decimal | None]:
        budget = ctx.call.budget
        return (
            self.min if self.min is not None else budget.min_grant,
            self.max if self.max is not None else budget.max_grant,
        )

    def evaluate(self, ctx: Context) -> np.ndarray:
        low, high = self.bounds(ctx)
        requested = ctx.table.p_requested
        ok = np.ones(ctx.table.size, dtype=bool)
        if low is not None:
            ok &= requested >= to_cents(low)
        if high is not None:
            ok &= requested <= to_cents(high)
        return ok

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        low, high = self.bounds(ctx)
        currency = ctx.call.currency
        above = f"above the maximum grant of {format_money(high, currency)}" if high is not None else ""
        below = f"below the minimum grant of {format_money(low or Decimal(0), currency)}"
        ceiling = to_cents(high) if high is not None else None
        return [
            f"requests {format_cents(asked, currency)}, {above if ceiling is not None and asked > ceiling else below}"
            for asked in ctx.table.p_requested[proposals].tolist()
        ]

    def describe(self) -> str:
        return "a request within the grant limits"


class Duration(RuleBase):
    rule: Literal["duration"]
    min_months: int | None = Field(default=None, ge=1)
    max_months: int | None = Field(default=None, ge=1)
    bounds_fields = ("min_months", "max_months")

    def evaluate(self, ctx: Context) -> np.ndarray:
        months = ctx.table.p_duration
        ok = np.ones(ctx.table.size, dtype=bool)
        if self.min_months is not None:
            ok &= months >= self.min_months
        if self.max_months is not None:
            ok &= months <= self.max_months
        return ok

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        allowed = self.describe()
        return [f"lasts {months} months, {allowed} allowed" for months in ctx.table.p_duration[proposals].tolist()]

    def describe(self) -> str:
        return f"{self.min_months or 1}–{self.max_months or '∞'} months"


RATE_SCALE = 1_000_000


def _millionths(rate: Decimal | None) -> int:
    """A rate as an integer number of millionths (rounded down: never allow more than the call)."""
    return 0 if rate is None else int((rate * RATE_SCALE).to_integral_value(rounding=ROUND_FLOOR))


class Cofinancing(RuleBase):
    """The request does not exceed what the call's co-financing rates allow.

    With partner budgets the ceiling is the sum of each partner's budget times its
    rate (by country, then type, then the call's default); without them, the total
    cost times ``max_rate`` or the call's default rate.
    """

    rule: Literal["cofinancing"]
    max_rate: Rate | None = None

    def ceiling(self, ctx: Context) -> np.ndarray:
        """The most each proposal may request, in cents (-1 when it cannot be computed).

        Exact integer arithmetic: cents times a rate in millionths, floored once per
        proposal, so a request of exactly 85% of the costs is never a cent over.
        """
        table = ctx.table
        rates = ctx.call.budget.cofinancing
        default = self.max_rate if self.max_rate is not None else (rates.default if rates else None)
        partner_rate = _partner_rates(table, rates, default)
        all_budgets = table.per_proposal(table.x_budget == NO_AMOUNT) == 0
        by_partner = table.sum_per_proposal(table.x_budget * partner_rate) // RATE_SCALE
        by_total = np.where(table.p_total_cost >= 0, table.p_total_cost * _millionths(default) // RATE_SCALE, -1)
        return np.where(all_budgets, by_partner, by_total)

    def evaluate(self, ctx: Context) -> np.ndarray:
        return ctx.table.p_requested <= ctx.memo(("ceiling", id(self)), lambda: self.ceiling(ctx))

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        ceilings = ctx.memo(("ceiling", id(self)), lambda: self.ceiling(ctx))[proposals].tolist()
        currency = ctx.call.currency
        return [
            "gives neither partner budgets nor a total cost, so co-financing cannot be checked"
            if ceiling < 0
            else f"requests {format_cents(asked, currency)}, above the co-financing ceiling of "
            f"{format_cents(ceiling, currency)}"
            for asked, ceiling in zip(ctx.table.p_requested[proposals].tolist(), ceilings, strict=True)
        ]

    def describe(self) -> str:
        return "a request within the co-financing rate"


def _partner_rates(table: ProposalTable, rates: CofinancingRates | None, default: Decimal | None) -> np.ndarray:
    """Each partner's co-financing rate in millionths, looked up once per distinct (place, organisation type):
    a few hundred among half a million partners, found by counting the pairs (no sort)."""
    kinds = len(ORG_TYPES)
    pairs = table.x_location.astype(np.int64) * kinds + table.x_type
    rate_of = np.zeros(len(table.locations) * kinds, dtype=np.int64)
    for pair in np.flatnonzero(np.bincount(pairs, minlength=len(rate_of))).tolist():
        location, kind = divmod(pair, kinds)
        rate = rates.rate_for(table.locations[location].country, ORG_TYPES[kind]) if rates else default
        rate_of[pair] = _millionths(rate)
    return rate_of[pairs]


class AllOf(RuleBase):
    rule: Literal["all_of"]
    rules: list[Rule] = Field(min_length=1)

    def areas_used(self) -> Iterator[str]:
        for r in self.rules:
            yield from r.areas_used()

    def evaluate(self, ctx: Context) -> np.ndarray:
        return np.logical_and.reduce([ctx.passes(r) for r in self.rules])

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        parts = []
        for rule in self.rules:
            fails = ~ctx.passes(rule)[proposals]
            parts.append(_unless(fails.tolist(), rule.reasons(ctx, proposals[fails])))
        return _joined(parts, len(proposals))

    def describe(self) -> str:
        return " and ".join(r.describe() for r in self.rules)


class AnyOf(RuleBase):
    rule: Literal["any_of"]
    rules: list[Rule] = Field(min_length=1)

    def areas_used(self) -> Iterator[str]:
        for r in self.rules:
            yield from r.areas_used()

    def evaluate(self, ctx: Context) -> np.ndarray:
        return np.logical_or.reduce([ctx.passes(r) for r in self.rules])

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        parts: list[list[str | None]] = [list(rule.reasons(ctx, proposals)) for rule in self.rules]
        return ["none of the alternatives holds: " + text for text in _joined(parts, len(proposals), " | ")]

    def describe(self) -> str:
        return " or ".join(r.describe() for r in self.rules)


class Not(RuleBase):
    rule: Literal["not"]
    of: Rule

    def areas_used(self) -> Iterator[str]:
        yield from self.of.areas_used()

    def evaluate(self, ctx: Context) -> np.ndarray:
        return ~ctx.passes(self.of)

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        return [f"must not have {self.of.describe()}"] * len(proposals)

    def describe(self) -> str:
        return f"not {self.of.describe()}"


PartnerRuleKind = Annotated[PartnerArea | PartnerType | Sme, Field(discriminator="rule")]


class AtLeast(RuleBase):
    """At least ``count`` partners satisfy a partner rule (area, type, SME)."""

    rule: Literal["at_least"]
    count: int = Field(ge=1)
    of: PartnerRuleKind

    def areas_used(self) -> Iterator[str]:
        yield from self.of.areas_used()

    def evaluate(self, ctx: Context) -> np.ndarray:
        return ctx.count(self.of) >= self.count

    def reasons(self, ctx: Context, proposals: np.ndarray) -> list[str]:
        described = self.of.describe()
        return [
            f"{found} partners meet '{described}', at least {self.count} required"
            for found in ctx.count(self.of)[proposals].astype(np.int64).tolist()
        ]

    def describe(self) -> str:
        return f"at least {self.count} partners with {self.of.describe()}"

    @model_validator(mode="after")
    def _share_is_per_partner(self) -> AtLeast:
        if isinstance(self.of, PartnerArea) and self.of.min_share != 1:
            raise ValueError("inside at_least, partner_area is counted per partner; drop min_share")
        return self


Rule = Annotated[
    PartnerArea
    | LeadPartnerArea
    | MinPartners
    | MinCountries
    | PartnerType
    | Sme
    | RequestedAmount
    | Duration
    | Cofinancing
    | AllOf
    | AnyOf
    | Not
    | AtLeast,
    Field(discriminator="rule"),
]

for _model in (AllOf, AnyOf, Not):
    _model.model_rebuild()
