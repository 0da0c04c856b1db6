"""The call schema: what an agency writes in ``calls/<id>/call.yaml``.

Everything the engine decides (eligibility, thresholds, ranking, the ex aequo
chain, the allocation model) is read from here, so two calls differ in data, not
in code. Cross-field consistency that makes a call unusable is a validation error;
figures that are merely suspicious are lint warnings (``rules.lint``).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from rules.areas import AreaSpec
from rules.eligibility import Rule
from rules.money import Money, PositiveMoney, Rate
from rules.proposal import OrganisationType

TIE_BREAK_KEYS = ("uncovered_topic", "gender_balance", "new_countries", "sme_share", "lower_request")

GrantCount = Annotated[int, Field(le=1_000_000)]
"""No call makes a million grants: a larger count is a typo, refused at its line rather than overflowing the
allocation's int64 rows."""

TimeLimit = Annotated[Decimal, Field(gt=0, le=604_800, description="wall-clock seconds, at most a week")]
"""A solver limit beyond a week is a typo, and beyond the platform's clock it would crash the watchdog."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Dates(Strict):
    published: dt.date | None = None
    deadline: dt.datetime | dt.date | None = None
    second_stage_deadline: dt.datetime | dt.date | None = None


class CofinancingRates(Strict):
    """The maximum share of eligible costs the programme pays, by partner category."""

    default: Rate | None = None
    by_type: dict[OrganisationType, Rate] = Field(default_factory=dict)
    by_country: dict[str, Rate] = Field(default_factory=dict)

    def rate_for(self, country: str, org_type: OrganisationType) -> Decimal | None:
        """Country-specific rates win over type rates, which win over the default."""
        if country in self.by_country:
            return self.by_country[country]
        return self.by_type.get(org_type, self.default)


class Budget(Strict):
    total: PositiveMoney
    max_grant: Money | None = None
    min_grant: Money | None = None
    expected_grants: GrantCount | None = Field(default=None, ge=1)
    cofinancing: CofinancingRates | None = None


def _decimal_places(step: Decimal) -> int:
    return max(0, -int(step.normalize().as_tuple().exponent))


class Criterion(Strict):
    """One award criterion; thresholds apply to the unweighted consolidated score."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name: str
    scale: tuple[Decimal, Decimal] = (Decimal(0), Decimal(5))
    step: Annotated[Decimal, Field(gt=0)] = Decimal("0.5")
    threshold: Decimal | None = None
    weight: Annotated[Decimal, Field(gt=0)] = Decimal(1)
    description: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Criterion:
        low, high = self.scale
        if low >= high:
            raise ValueError(f"scale [{low}, {high}] must go from low to high")
        if (high - low) % self.step != 0:
            raise ValueError(f"step {self.step} does not divide the scale [{low}, {high}]")
        if self.threshold is not None and not low <= self.threshold <= high:
            raise ValueError(f"threshold {self.threshold} is outside the scale [{low}, {high}]")
        return self

    def on_scale(self, score: Decimal) -> bool:
        low, high = self.scale
        return low <= score <= high and (score - low) % self.step == 0


class Scoring(Strict):
    """How evaluators' scores become one score per criterion."""

    consolidation: Literal["mean", "median", "trimmed_mean"] = "mean"
    trim: int = Field(default=1, ge=0, description="trimmed_mean: scores dropped at each end")
    disagreement_limit: Decimal | None = Field(
        default=None, gt=0, description="flag a criterion whose scores spread more than this"
    )
    min_evaluators: int = Field(default=1, ge=1)
    calibration: bool = Field(default=False, description="rank on scores corrected for evaluator leniency")


class BayesianRanking(Strict):
    """Rank with uncertainty: a hierarchical model of the individual scores (docs/scoring.md, section 7)."""

    scores: Literal["total", "criteria"] = Field(
        default="total", description="model each evaluator's weighted total, or each criterion on its own"
    )
    level: Annotated[Decimal, Field(gt=0, lt=1)] = Field(
        default=Decimal("0.5"), description="credible level of the rank interval that draws the grey zone"
    )
    chains: int = Field(default=4, ge=2, le=16)
    draws: int = Field(default=2000, ge=100, le=100_000, description="kept draws per chain")
    warmup: int = Field(default=500, ge=50, le=100_000, description="draws per chain discarded first")
    seed: int = Field(default=2022, ge=0, lt=2**63, description="the sampler's seed: the same seed, the same ranks")


class Ranking(Strict):
    lists: Literal["single", "per_topic"] = "single"
    two_stage: bool = Field(default=False, description="first stage of a two-stage call")
    target_oversubscription: Decimal = Field(default=Decimal(3), gt=1)
    min_oversubscription: Decimal = Field(default=Decimal("2.5"), gt=1)
    bayesian: BayesianRanking | None = Field(
        default=None, description="rank with credible intervals as well (grants rank --bayes does it for any call)"
    )


def _tie_break_key(key: str) -> str:
    if key in TIE_BREAK_KEYS or re.fullmatch(r"criterion:[a-z][a-z0-9_]*", key):
        return key
    raise ValueError(f"unknown tie-break key {key!r}; use criterion:<id> or one of {', '.join(TIE_BREAK_KEYS)}")


TieBreakKey = Annotated[str, AfterValidator(_tie_break_key)]


class Quota(Strict):
    """A portfolio constraint: a cap or a minimum for one group or for each group."""

    name: str | None = None
    by: Literal["lead_country", "lead_region", "topic"]
    key: str | None = Field(default=None, description="one group; omitted: every group")
    max_share: Rate | None = Field(default=None, description="of the total budget")
    min_share: Rate | None = None
    max_amount: Money | None = None
    min_amount: Money | None = None
    max_grants: GrantCount | None = Field(default=None, ge=0)
    min_grants: GrantCount | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _has_a_bound(self) -> Quota:
        bounds = (self.max_share, self.min_share, self.max_amount, self.min_amount, self.max_grants, self.min_grants)
        if all(b is None for b in bounds):
            raise ValueError(
                "a quota needs at least one of max_share, min_share, max_amount, min_amount, max_grants, min_grants"
            )
        return self

    @property
    def label(self) -> str:
        return self.name or f"{self.by}:{self.key or 'each'}"


class PartialFunding(Strict):
    min_share: Rate = Decimal("0.8")
    max_share: Rate = Decimal(1)

    @model_validator(mode="after")
    def _ordered(self) -> PartialFunding:
        if self.min_share > self.max_share:
            raise ValueError(f"min_share {self.min_share} is above max_share {self.max_share}")
        return self


class Randomise(Strict):
    """Partial randomisation: the clear proposals are funded, the grey zone is drawn by lot (docs/allocation.md)."""

    weights: Literal["uniform", "probability"] = Field(
        default="uniform", description="every grey-zone proposal equally likely, or weighted by its odds of funding"
    )


class AllocationSettings(Strict):
    mode: Literal["rank", "optimal"] = "rank"
    objective: Literal["score_weighted_funding", "total_score", "grants"] = "score_weighted_funding"
    max_grants: GrantCount | None = Field(default=None, ge=1)
    partial_funding: PartialFunding | None = None
    ranking_discipline: bool = Field(
        default=False, description="never fund a lower-ranked proposal while a higher one that fits is not"
    )
    funding_line_tie: Literal["rank", "most_proposals"] = "rank"
    constraints: list[Quota] = Field(default_factory=list)
    time_limit_seconds: TimeLimit = Decimal(60)
    randomise: Randomise | None = Field(default=None, description="fund the grey zone by lot: grants lottery")


class Call(Strict):
    id: Annotated[str, Field(min_length=1)]
    title: str
    programme: str
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    dates: Dates = Field(default_factory=Dates)
    budget: Budget
    areas: list[AreaSpec] = Field(default_factory=list, description="areas only this call uses")
    eligibility: list[Rule] = Field(default_factory=list)
    criteria: list[Criterion] = Field(min_length=1)
    overall_threshold: Decimal | None = None
    scoring: Scoring = Field(default_factory=Scoring)
    ranking: Ranking = Field(default_factory=Ranking)
    tie_break: list[TieBreakKey] | None = Field(
        default=None, description="the ex aequo chain; omitted: Horizon Europe's"
    )
    allocation: AllocationSettings = Field(default_factory=AllocationSettings)
    notes: str | None = None

    @field_validator("criteria")
    @classmethod
    def _distinct_ids(cls, criteria: list[Criterion]) -> list[Criterion]:
        ids = [c.id for c in criteria]
        if len(set(ids)) != len(ids):
            raise ValueError(f"criterion ids repeat: {', '.join(sorted({i for i in ids if ids.count(i) > 1}))}")
        return criteria

    @field_validator("overall_threshold")
    @classmethod
    def _reachable(cls, threshold: Decimal | None, info: ValidationInfo) -> Decimal | None:
        highest = sum((c.scale[1] for c in info.data.get("criteria", [])), Decimal(0))
        if threshold is not None and "criteria" in info.data and threshold > highest:
            raise ValueError(f"overall_threshold {threshold} is above the highest possible total {highest}")
        return threshold

    @field_validator("tie_break")
    @classmethod
    def _known_criteria(cls, keys: list[str] | None, info: ValidationInfo) -> list[str] | None:
        ids = {c.id for c in info.data.get("criteria", [])}
        for key in keys or []:
            if key.startswith("criterion:") and "criteria" in info.data and key.split(":", 1)[1] not in ids:
                raise ValueError(f"tie_break names criterion {key.split(':', 1)[1]!r}, which the call does not have")
        return keys

    @property
    def max_total(self) -> Decimal:
        return sum((c.scale[1] for c in self.criteria), Decimal(0))

    def criterion(self, criterion_id: str) -> Criterion:
        return next(c for c in self.criteria if c.id == criterion_id)

    def ex_aequo_chain(self) -> list[str]:
        """The call's tie-break keys, or Horizon Europe's order adapted to its criteria."""
        if self.tie_break is not None:
            return list(self.tie_break)
        return [
            "uncovered_topic",
            *(f"criterion:{c.id}" for c in self.criteria),
            "gender_balance",
            "new_countries",
            "sme_share",
        ]
