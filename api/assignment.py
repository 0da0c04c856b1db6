"""Who may evaluate what: conflicts of interest and automatic assignment.

Conflicts are typed records, so a refusal says why: ``same_organisation`` and
``same_country`` (when the call's policy forbids it) are detected from the
evaluator's profile and the consortium; ``personal`` and ``professional`` ones are
declared by someone, at some time. Automatic assignment is an integer program (a
transportation problem with load bounds) solved by HiGHS through scipy: it fills
every slot it can, never with a conflict, prefers or requires matching expertise,
and evens out the heaviest load; the slots it cannot fill are reported, not hidden.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from enum import StrEnum
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from api.conflict_matching import identifier_key, organisation_keys
from api.db.limits import Storable
from rules.errors import GrantsError
from rules.proposal import Proposal
from rules.regions import normalise, resolve_country

UNFILLED_COST = 1000.0
MISMATCH_COST = 1.0
HEAVIEST_LOAD_COST = 0.1
SOLVER_SECONDS = 60.0
MAX_LOAD = 100_000  # proposals per evaluator: beyond any call, and within what the solver's floats hold exactly


class ConflictKind(StrEnum):
    same_organisation = "same_organisation"
    same_country = "same_country"
    personal = "personal"
    professional = "professional"


class AssignmentPolicy(Storable):
    """The agency's rules for assigning evaluators to a call's proposals."""

    same_country_conflict: bool = Field(
        default=False, description="an evaluator from the country of any partner has a conflict"
    )
    evaluators_per_proposal: int = Field(default=3, ge=1, le=50)
    min_load: int = Field(default=0, ge=0, le=MAX_LOAD, description="proposals each evaluator should get at least")
    max_load: int | None = Field(default=None, ge=1, le=MAX_LOAD, description="proposals an evaluator may get at most")
    expertise: Literal["required", "preferred", "ignored"] = Field(
        default="preferred",
        description="required: a proposal with a topic only goes to evaluators listing it (when they list topics)",
    )

    @model_validator(mode="after")
    def _bounds_ordered(self) -> AssignmentPolicy:
        if self.max_load is not None and self.min_load > self.max_load:
            raise ValueError(f"min_load {self.min_load} is above max_load {self.max_load}")
        return self


class EvaluatorProfile(Storable):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    name: str = Field(min_length=1)
    organisation: str = Field(min_length=1)
    organisation_id: str | None = Field(
        default=None, max_length=100, description="PIC, VAT number or similar, matched against partners' own"
    )
    country: str = Field(min_length=2, description="ISO 3166-1 code or country name")
    topics: list[str] = Field(default_factory=list, description="expertise, matched against proposal topics")


class ConflictRecord(BaseModel):
    proposal_id: str
    evaluator_id: str
    kind: ConflictKind
    detail: str
    detected: bool = Field(description="derived from the profiles rather than declared")
    declared_by: str | None = None
    declared_at: dt.datetime | None = None


DETECTED = {
    ConflictKind.same_organisation: "evaluator works for {organisation}, partner {partner}",
    ConflictKind.same_country: "evaluator is from {country}, like partner {partner}",
}


def _detected(profile: EvaluatorProfile, kind: ConflictKind, proposal_id: str, partner: str) -> ConflictRecord:
    detail = DETECTED[kind].format(
        organisation=profile.organisation, country=resolve_country(profile.country), partner=partner
    )
    return ConflictRecord(proposal_id=proposal_id, evaluator_id=profile.id, kind=kind, detail=detail, detected=True)


class Consortia:
    """Who is in which proposal, indexed by organisation and country, to find conflicts in one pass.

    Organisations are indexed under every key :mod:`api.conflict_matching` gives them
    (folded name, acronym) and under their identifier when a partner gives one.
    """

    def __init__(self, proposals: Iterable[Proposal]):
        self.by_organisation: dict[str, dict[str, str]] = defaultdict(dict)
        self.by_country: dict[str, dict[str, str]] = defaultdict(dict)
        for proposal in proposals:
            for partner in proposal.partners:
                keys = set(organisation_keys(partner.name))
                if identifier := identifier_key(partner.organisation_id):
                    keys.add(f"id:{identifier}")
                for key in keys:
                    self.by_organisation[key].setdefault(proposal.id, partner.name)
                self.by_country[resolve_country(partner.country)].setdefault(proposal.id, partner.name)

    def _same_organisation(self, profile: EvaluatorProfile) -> dict[str, str]:
        keys = set(organisation_keys(profile.organisation))
        if identifier := identifier_key(profile.organisation_id):
            keys.add(f"id:{identifier}")
        found: dict[str, str] = {}
        for key in sorted(keys):
            for proposal_id, partner in self.by_organisation.get(key, {}).items():
                found.setdefault(proposal_id, partner)
        return found

    def conflicts_of(self, profile: EvaluatorProfile, policy: AssignmentPolicy) -> list[ConflictRecord]:
        """Every conflict that follows from who the evaluator is and who is in each consortium."""
        found = [
            _detected(profile, ConflictKind.same_organisation, proposal_id, f"{partner} of {proposal_id}")
            for proposal_id, partner in sorted(self._same_organisation(profile).items())
        ]
        if policy.same_country_conflict:
            country = resolve_country(profile.country)
            found += [
                _detected(profile, ConflictKind.same_country, proposal_id, f"{partner}, and the call forbids it")
                for proposal_id, partner in self.by_country.get(country, {}).items()
            ]
        return found


def expertise_matches(profile: EvaluatorProfile, topic: str | None) -> bool:
    """A proposal without a topic, or an evaluator without topics, matches anything."""
    if topic is None or not profile.topics:
        return True
    return normalise(topic) in {normalise(t) for t in profile.topics}


class Unfilled(BaseModel):
    proposal_id: str
    missing: int
    reason: str


class AssignmentPlan(BaseModel):
    """The automatic assignment's answer: new pairs, slots left empty and why, resulting loads."""

    assigned: list[tuple[str, str]] = Field(description="(proposal id, evaluator id) pairs added")
    unfilled: list[Unfilled]
    loads: dict[str, int] = Field(description="proposals per evaluator, existing assignments included")
    below_min_load: list[str] = Field(description="evaluators left under min_load: too few proposals they may take")
    expertise_mismatches: int


class AssignmentProblem(BaseModel):
    """Everything the solver needs, in ids: no database, so it is testable on its own."""

    proposals: dict[str, str | None] = Field(description="proposal id -> topic")
    evaluators: list[EvaluatorProfile]
    existing: set[tuple[str, str]] = Field(default_factory=set)
    forbidden: set[tuple[str, str]] = Field(default_factory=set, description="pairs with a conflict")
    policy: AssignmentPolicy = Field(default_factory=AssignmentPolicy)


def _candidates(problem: AssignmentProblem) -> list[tuple[str, str, bool]]:
    """(proposal, evaluator, expertise matches) for every pair the solver may choose."""
    pairs = []
    for proposal_id, topic in problem.proposals.items():
        for profile in problem.evaluators:
            key = (proposal_id, profile.id)
            if key in problem.forbidden or key in problem.existing:
                continue
            match = expertise_matches(profile, topic)
            if match or problem.policy.expertise != "required":
                pairs.append((proposal_id, profile.id, match))
    return pairs


def assign(problem: AssignmentProblem) -> AssignmentPlan:
    """Fill each proposal up to k evaluators by solving one integer program."""
    policy = problem.policy
    proposal_ids = list(problem.proposals)
    evaluator_ids = [e.id for e in problem.evaluators]
    have = Counter(p for p, _ in problem.existing)
    load = Counter(e for _, e in problem.existing)
    need = np.array([max(0, policy.evaluators_per_proposal - have[p]) for p in proposal_ids], dtype=float)
    pairs = _candidates(problem)
    n_x, n_p, n_e = len(pairs), len(proposal_ids), len(evaluator_ids)
    # variables: x (one per candidate pair), u (unfilled slots per proposal), s (min-load shortfall), L (heaviest load)
    p_index = {p: i for i, p in enumerate(proposal_ids)}
    e_index = {e: i for i, e in enumerate(evaluator_ids)}
    xp = np.array([p_index[p] for p, _, _ in pairs], dtype=int)
    xe = np.array([e_index[e] for _, e, _ in pairs], dtype=int)
    n = n_x + n_p + n_e + 1
    cost = np.concatenate(
        [
            np.array([0.0 if match or policy.expertise == "ignored" else MISMATCH_COST for *_, match in pairs]),
            np.full(n_p, UNFILLED_COST),
            np.full(n_e, UNFILLED_COST / 10),
            [HEAVIEST_LOAD_COST],
        ]
    )
    existing_load = np.array([load[e] for e in evaluator_ids], dtype=float)
    rows = np.arange(n_x)
    fill = coo_array(
        (np.ones(n_x + n_p), (np.concatenate([xp, np.arange(n_p)]), np.concatenate([rows, n_x + np.arange(n_p)]))),
        shape=(n_p, n),
    )
    per_evaluator = coo_array((np.ones(n_x), (xe, rows)), shape=(n_e, n))
    shortfall = coo_array((np.ones(n_e), (np.arange(n_e), n_x + n_p + np.arange(n_e))), shape=(n_e, n))
    heaviest = coo_array((-np.ones(n_e), (np.arange(n_e), np.full(n_e, n - 1))), shape=(n_e, n))
    max_load = np.inf if policy.max_load is None else policy.max_load
    constraints = [
        LinearConstraint(fill.tocsr(), need, need),
        LinearConstraint((per_evaluator + shortfall).tocsr(), policy.min_load - existing_load, np.inf),
        LinearConstraint(per_evaluator.tocsr(), -np.inf, max_load - existing_load),
        LinearConstraint((per_evaluator + heaviest).tocsr(), -np.inf, -existing_load),
    ]
    upper = np.concatenate([np.ones(n_x), need, np.full(n_e, policy.min_load), [np.inf]])
    integrality = np.concatenate([np.ones(n_x), np.zeros(n_p + n_e + 1)])
    result = milp(
        cost,
        constraints=constraints,
        integrality=integrality,
        bounds=Bounds(0, upper),
        options={"mip_rel_gap": 0.01, "time_limit": SOLVER_SECONDS},
    )
    if result.x is None:
        raise GrantsError(f"automatic assignment found no solution: {result.message}")
    chosen = [pairs[i] for i in np.flatnonzero(result.x[:n_x] > 0.5)]
    added = Counter(e for _, e, _ in chosen)
    loads = {e: load[e] + added[e] for e in evaluator_ids}
    return AssignmentPlan(
        assigned=[(p, e) for p, e, _ in chosen],
        unfilled=_unfilled(problem, chosen, need, proposal_ids, pairs),
        loads=loads,
        below_min_load=[e for e in evaluator_ids if loads[e] < policy.min_load],
        expertise_mismatches=sum(1 for *_, match in chosen if not match),
    )


def _unfilled(
    problem: AssignmentProblem,
    chosen: Iterable[tuple[str, str, bool]],
    need: np.ndarray,
    proposal_ids: list[str],
    pairs: list[tuple[str, str, bool]],
) -> list[Unfilled]:
    got = Counter(p for p, _, _ in chosen)
    candidates = Counter(p for p, _, _ in pairs)
    missing = []
    for i, proposal_id in enumerate(proposal_ids):
        short = int(need[i]) - got[proposal_id]
        if short <= 0:
            continue
        if candidates[proposal_id] < need[i]:
            reason = f"only {candidates[proposal_id]} more evaluators are free of conflicts" + (
                " and match its topic" if problem.policy.expertise == "required" else ""
            )
        else:
            reason = f"the evaluators who could take it are at their max_load of {problem.policy.max_load}"
        missing.append(Unfilled(proposal_id=proposal_id, missing=short, reason=reason))
    return missing
