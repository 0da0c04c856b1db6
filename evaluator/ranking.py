"""Thresholds, weighted totals, ranked lists and the call's ex aequo procedure.

The result models below are the contract between ranking, allocation, simulation,
reports and the API: every later stage reads a :class:`Ranking`, never raw scores.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from rules.money import Money


class TieBreak(BaseModel):
    """How a proposal was separated from the next one with the same ranking score."""

    other: str = Field(description="id of the proposal ranked right after it")
    step: int = Field(description="1-based position of the deciding key in the ex aequo chain; 0 if none decided")
    key: str = Field(description="the deciding key, e.g. criterion:impact, or 'draw' when the chain did not decide")
    detail: str = Field(description="the values compared, in words")


class RankedProposal(BaseModel):
    id: str
    acronym: str = ""
    topic: str | None = None
    list_name: str = Field(default="main", description="the ranked list it belongs to (topic when lists are per topic)")
    lead_country: str
    lead_region: str | None = None
    countries: list[str] = Field(default_factory=list)
    requested_amount: Money
    scores: dict[str, Decimal] = Field(description="consolidated (and, if set, calibrated) score per criterion")
    total: Decimal = Field(description="unweighted total, compared with the overall threshold")
    weighted_total: Decimal = Field(description="the ranking score")
    eligible: bool
    fundable: bool = Field(description="eligible and above every threshold")
    reasons: list[str] = Field(default_factory=list, description="why it is not fundable")
    position: int | None = Field(default=None, description="1-based rank in its list; None when not fundable")
    ex_aequo: TieBreak | None = None
    flags: list[str] = Field(default_factory=list, description="e.g. evaluator disagreement to discuss")


class Ranking(BaseModel):
    call_id: str
    entries: list[RankedProposal] = Field(description="fundable proposals in rank order, then the others")
    unresolved_ties: list[list[str]] = Field(
        default_factory=list, description="groups the whole chain could not separate (broken by a documented draw)"
    )

    def fundable(self) -> list[RankedProposal]:
        return [e for e in self.entries if e.fundable]
