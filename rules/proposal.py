"""The proposal schema: consortium, request and, optionally, evaluators' scores.

Proposals arrive from YAML, JSON or the HTTP API; the same model validates all of
them, so a proposal accepted by one way in is accepted by every other.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rules.money import Money, Rate


class OrganisationType(StrEnum):
    """Closed list of organisation types the rules can name."""

    cluster_organisation = "cluster_organisation"
    business_network = "business_network"
    sme = "sme"
    large_enterprise = "large_enterprise"
    research_organisation = "research_organisation"
    university = "university"
    public_authority = "public_authority"
    body_governed_by_public_law = "body_governed_by_public_law"
    private_non_profit = "private_non_profit"
    private_for_profit = "private_for_profit"
    international_organisation = "international_organisation"
    other = "other"


class Role(StrEnum):
    lead = "lead"
    partner = "partner"


class Partner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    organisation_id: str | None = Field(
        default=None, max_length=100, description="PIC, VAT number or similar: matched for conflicts of interest"
    )
    country: str = Field(min_length=2, description="ISO 3166-1 code or country name (EL and UK accepted)")
    region: str | None = Field(default=None, description="NUTS code of any version, ISO 3166-2 code, or region name")
    city: str | None = None
    type: OrganisationType = OrganisationType.other
    role: Role = Role.partner
    headcount: Decimal | None = Field(default=None, ge=0, description="annual work units, for the SME test")
    turnover: Money | None = None
    balance_sheet: Money | None = None
    budget: Money | None = Field(default=None, description="the partner's eligible costs")


class Evaluation(BaseModel):
    """One evaluator's scores for one proposal; ``None`` is "not applicable"."""

    model_config = ConfigDict(extra="forbid")

    evaluator: str = Field(min_length=1)
    scores: dict[str, Decimal | None]
    comments: dict[str, str] = Field(default_factory=dict)
    imported_by: str | None = Field(
        default=None, description="set by the API: the agency that imported the sheet from a file for the evaluator"
    )


class Proposal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    acronym: str = ""
    title: str = ""
    topic: str | None = None
    requested_amount: Money
    total_cost: Money | None = Field(default=None, description="total eligible costs, for co-financing")
    duration_months: int = Field(ge=1, le=1200, description="at most a century")
    partners: list[Partner] = Field(min_length=1)
    gender_balance: Rate | None = Field(
        default=None, description="share of women among the researchers primarily responsible (ex aequo)"
    )
    evaluations: list[Evaluation] = Field(default_factory=list)
    consensus: dict[str, Decimal] | None = Field(
        default=None, description="a recorded consensus score per criterion; overrides consolidation"
    )

    @model_validator(mode="after")
    def _one_lead(self) -> Proposal:
        leads = sum(1 for p in self.partners if p.role is Role.lead)
        if leads != 1:
            raise ValueError(f"a proposal needs exactly one partner with role 'lead', found {leads}")
        return self

    @property
    def lead(self) -> Partner:
        return next(p for p in self.partners if p.role is Role.lead)
