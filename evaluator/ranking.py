"""Thresholds, weighted totals, ranked lists and the call's ex aequo procedure.

The result models below are the contract between ranking, allocation, simulation,
reports and the API: every later stage reads a :class:`Ranking`, never raw scores.

Thresholds are tested on *unweighted* consolidated scores and weights only rank
(Horizon Europe: "weighting is only used ... for the ranking"), so a weight can
reorder fundable proposals but never make an unfit one fundable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from pydantic import BaseModel, Field

from evaluator import ex_aequo
from evaluator.calibration import Calibration, fit_offsets
from evaluator.ex_aequo import Candidate, TieBreak
from evaluator.scoring import CriterionScore, criterion_scores, flags, reported, show, validate_scores, values_of
from rules.check import EligibilityReport, ProposalEligibility, check
from rules.errors import Problem, ProposalError
from rules.model import Call
from rules.money import Money, MoneySum, format_money
from rules.proposal import Proposal
from rules.table import ProposalTable, compile_proposals

NO_TOPIC = "(no topic)"
"""The list of proposals without a topic when a call ranks per topic."""

__all__ = [
    "FirstStageThreshold",
    "RankChange",
    "RankedProposal",
    "Ranking",
    "ThresholdOption",
    "TieBreak",
    "propose_first_stage_threshold",
    "rank",
]


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


class RankChange(BaseModel):
    """A proposal whose place calibration changed (position None: not fundable)."""

    id: str
    list_name: str
    uncalibrated: int | None
    calibrated: int | None


class ThresholdOption(BaseModel):
    threshold: Decimal = Field(description="a candidate overall threshold: one of the proposals' totals")
    proposals: int = Field(description="proposals at or above it (and above every criterion threshold)")
    requested_amount: MoneySum
    oversubscription: Decimal = Field(description="requested amount over the call budget, 2 decimals")


class FirstStageThreshold(BaseModel):
    """The overall threshold proposed for the first stage of a two-stage call, with the options."""

    budget: Money
    target_oversubscription: Decimal
    min_oversubscription: Decimal
    options: list[ThresholdOption] = Field(description="highest threshold first")
    threshold: Decimal | None = Field(description="the proposal; None: no threshold can reach the minimum")
    explanation: str


class Ranking(BaseModel):
    call_id: str
    entries: list[RankedProposal] = Field(description="fundable proposals in rank order, then the others")
    unresolved_ties: list[list[str]] = Field(
        default_factory=list, description="groups the whole chain could not separate (broken by a documented draw)"
    )
    calibration: Calibration | None = Field(default=None, description="evaluator offsets, when scores were calibrated")
    calibration_changes: list[RankChange] = Field(
        default_factory=list, description="proposals whose position calibration changed"
    )
    first_stage: FirstStageThreshold | None = Field(
        default=None, description="the proposed overall threshold, for the first stage of a two-stage call"
    )

    def fundable(self) -> list[RankedProposal]:
        return [e for e in self.entries if e.fundable]


def rank(
    call: Call,
    proposals: Sequence[Proposal],
    report: EligibilityReport | None = None,
    *,
    calibrate: bool | None = None,
    table: ProposalTable | None = None,
    tie_breaks: bool = True,
) -> Ranking:
    """Rank the proposals of a call; ``calibrate`` None follows ``call.scoring.calibration``.

    ``table`` is the proposals' compiled table when the caller has it already (for the report).
    ``tie_breaks`` False leaves each entry's ``ex_aequo`` (how its tie was decided, in
    words) unset: the same order, for callers that only allocate or simulate.
    """
    validate_scores(call, proposals)
    table = table if table is not None else compile_proposals(list(proposals))
    eligibility = _eligibility(report if report is not None else check(call, table), proposals)
    places = _places(table)
    ranking = _ranking(call, proposals, eligibility, places, tie_breaks)
    if call.scoring.calibration if calibrate is None else calibrate:
        calibration = fit_offsets(call, proposals)
        calibrated = _ranking(call, proposals, eligibility, places, tie_breaks, calibration)
        calibrated.calibration, calibrated.calibration_changes = calibration, _changes(ranking, calibrated)
        ranking = calibrated
    if call.ranking.two_stage:
        ranking.first_stage = propose_first_stage_threshold(call, ranking)
    return ranking


def _eligibility(report: EligibilityReport, proposals: Sequence[Proposal]) -> dict[str, ProposalEligibility]:
    results = report.by_id()
    missing = [
        Problem(f"the eligibility report has no result for proposal {p.id}", f"{i}.id")
        for i, p in enumerate(proposals)
        if p.id not in results
    ]
    if missing:
        raise ProposalError(missing)
    return results


class Place(NamedTuple):
    """Where a proposal is, as the eligibility rules resolved it."""

    lead_country: str
    lead_region: str | None
    countries: list[str]


def _places(table: ProposalTable) -> dict[str, Place]:
    """Read off the table's columns: its lead, and its partners' countries as indices sorted once."""
    locations, names = table.locations, table.countries  # ``countries`` is sorted: so are their indices
    leads = table.x_location[table.p_lead].tolist()
    countries = table.x_country.tolist()
    starts = table.p_first.tolist()
    places = {}
    for proposal, at, start, count in zip(table.proposals, leads, starts, table.p_partners.tolist(), strict=True):
        lead = locations[at]
        region = lead.region.id if lead.region else None
        codes = countries[start : start + count]
        places[proposal.id] = Place(lead.country, region, [names[c] for c in sorted(set(codes))])
    return places


def _ranking(
    call: Call,
    proposals: Sequence[Proposal],
    eligibility: Mapping[str, ProposalEligibility],
    places: Mapping[str, Place],
    tie_breaks: bool,
    calibration: Calibration | None = None,
) -> Ranking:
    weights = {c.id: c.weight for c in call.criteria}
    entries = {
        p.id: _entry(call, weights, p, criterion_scores(call, p, calibration), eligibility[p.id], places[p.id])
        for p in proposals
    }
    lists: dict[str, list[Candidate]] = defaultdict(list)
    for proposal in proposals:
        entry = entries[proposal.id]
        if entry.fundable:
            candidate = Candidate(proposal, entry.weighted_total, entry.scores, frozenset(entry.countries))
            lists[entry.list_name].append(candidate)
    keys = ex_aequo.chain(call.ex_aequo_chain())
    ranked: list[RankedProposal] = []
    unresolved: list[list[str]] = []
    for name in sorted(lists):
        order = ex_aequo.order(call.id, keys, lists[name], tie_breaks)
        for position, c in enumerate(order.ranked, start=1):  # the entries are this ranking's own: set in place
            entry = entries[c.id]
            entry.position, entry.ex_aequo = position, order.tie_breaks.get(c.id)
            ranked.append(entry)
        unresolved += order.unresolved
    others = sorted((e for e in entries.values() if not e.fundable), key=lambda e: (-e.weighted_total, e.id))
    return Ranking(call_id=call.id, entries=ranked + others, unresolved_ties=unresolved)


def _entry(
    call: Call,
    weights: Mapping[str, Decimal],
    proposal: Proposal,
    criteria: dict[str, CriterionScore],
    eligibility: ProposalEligibility,
    place: Place,
) -> RankedProposal:
    scores = values_of(criteria)
    if not eligibility.eligible:
        reasons = [f"ineligible: {f.rule}: {f.reason}" for f in eligibility.failures]
    elif not scores:
        reasons = ["not evaluated: no applicable score and no consensus"]
    else:
        reasons = shortfalls(call, scores)
    return RankedProposal(
        id=proposal.id,
        acronym=proposal.acronym,
        topic=proposal.topic,
        list_name=(proposal.topic or NO_TOPIC) if call.ranking.lists == "per_topic" else "main",
        lead_country=place.lead_country,
        lead_region=place.lead_region,
        countries=place.countries,
        requested_amount=proposal.requested_amount,
        scores=scores,
        total=sum(scores.values(), Decimal("0.00")),
        weighted_total=sum((weights[c] * v for c, v in scores.items()), Decimal("0.00")),
        eligible=eligibility.eligible,
        fundable=not reasons,
        reasons=reasons,
        flags=flags(call, len(proposal.evaluations), criteria.values()),
    )


def shortfalls(call: Call, scores: Mapping[str, Decimal], *, overall: bool = True) -> list[str]:
    """Why unweighted scores miss the call's thresholds (empty: they pass), in words."""
    reasons = []
    for criterion in call.criteria:
        value = scores.get(criterion.id)
        if value is None:
            reasons.append(f"no applicable score on {criterion.id}: a consensus score is needed")
        elif criterion.threshold is not None and value < criterion.threshold:
            reasons.append(f"{criterion.id} {value} is below its threshold {show(criterion.threshold)}")
    total = sum(scores.values(), Decimal(0))
    threshold = call.overall_threshold
    if overall and not reasons and threshold is not None and total < threshold:
        reasons.append(f"total {total} is below the overall threshold {show(threshold)}")
    return reasons


def _changes(before: Ranking, after: Ranking) -> list[RankChange]:
    old = {e.id: e.position for e in before.entries}
    return [
        RankChange(id=e.id, list_name=e.list_name, uncalibrated=old[e.id], calibrated=e.position)
        for e in after.entries
        if old[e.id] != e.position
    ]


def propose_first_stage_threshold(call: Call, ranking: Ranking) -> FirstStageThreshold:
    """Horizon Europe's first stage: the overall threshold that lets through about 3x the budget.

    Candidates are the distinct totals of eligible proposals that pass every
    criterion threshold; the proposal is the one whose requested amount over the
    budget is closest to the target without going under the minimum (on equal
    distance, the lower threshold: more proposals get a second chance).
    """
    settings, budget = call.ranking, call.budget.total
    passing = sorted(
        (e for e in ranking.entries if e.eligible and not shortfalls(call, e.scores, overall=False)),
        key=lambda e: -e.total,
    )
    options: list[tuple[ThresholdOption, Fraction]] = []
    requested = Decimal(0)
    for count, entry in enumerate(passing, start=1):
        requested += entry.requested_amount
        if count == len(passing) or passing[count].total != entry.total:
            ratio = Fraction(requested) / Fraction(budget)
            option = ThresholdOption(
                threshold=entry.total, proposals=count, requested_amount=requested, oversubscription=reported(ratio)
            )
            options.append((option, ratio))
    minimum, target = Fraction(settings.min_oversubscription), Fraction(settings.target_oversubscription)
    best = min(
        ((o, ratio) for o, ratio in options if ratio >= minimum),
        key=lambda pair: (abs(pair[1] - target), pair[0].threshold),
        default=None,
    )
    return FirstStageThreshold(
        budget=budget,
        target_oversubscription=settings.target_oversubscription,
        min_oversubscription=settings.min_oversubscription,
        options=[o for o, _ in options],
        threshold=best[0].threshold if best else None,
        explanation=_explain_threshold(best[0] if best else None, [o for o, _ in options], call),
    )


def _explain_threshold(best: ThresholdOption | None, options: list[ThresholdOption], call: Call) -> str:
    budget, minimum = call.budget.total, call.ranking.min_oversubscription
    if best is not None:
        return (
            f"an overall threshold of {show(best.threshold)} lets {best.proposals} proposals through, requesting "
            f"{format_money(best.requested_amount)}: {best.oversubscription}x the budget of {format_money(budget)}"
        )
    everyone = options[-1] if options else None
    requested = everyone.requested_amount if everyone else Decimal(0)
    return (
        f"all proposals passing the criterion thresholds together request {format_money(requested)}, less than "
        f"{show(minimum)}x the budget of {format_money(budget)}: no overall threshold is proposed"
    )
