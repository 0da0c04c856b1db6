"""``check(call, proposals)``: every eligibility rule on every proposal, with reasons.

All rules are evaluated, not only up to the first failure, because an applicant
or a call officer needs the full list of what to fix.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from rules.areas import call_areas
from rules.eligibility import Context
from rules.model import Call
from rules.proposal import Proposal
from rules.table import ProposalTable, compile_proposals


class Failure(BaseModel):
    rule: str
    reason: str
    source: str | None = None


class ProposalEligibility(BaseModel):
    id: str
    eligible: bool
    failures: list[Failure]


class EligibilityReport(BaseModel):
    call_id: str
    results: list[ProposalEligibility]

    @property
    def eligible_ids(self) -> set[str]:
        return {r.id for r in self.results if r.eligible}

    def by_id(self) -> dict[str, ProposalEligibility]:
        return {r.id: r for r in self.results}


def check(call: Call, proposals: list[Proposal] | ProposalTable, source: str = "") -> EligibilityReport:
    """The eligibility report; raises ProposalError when a partner's place is unknown."""
    table = proposals if isinstance(proposals, ProposalTable) else compile_proposals(proposals, source)
    ctx = Context(call=call, areas=call_areas(call.areas), table=table)
    verdicts = [ctx.passes(rule) for rule in call.eligibility]
    eligible = np.logical_and.reduce(verdicts) if verdicts else np.ones(table.size, dtype=bool)
    results = []
    for i, proposal in enumerate(table.proposals):
        failures = (
            []
            if eligible[i]
            else [
                Failure(rule=rule.name, reason=rule.explain(ctx, i), source=rule.source)
                for rule, verdict in zip(call.eligibility, verdicts, strict=True)
                if not verdict[i]
            ]
        )
        results.append(ProposalEligibility(id=proposal.id, eligible=bool(eligible[i]), failures=failures))
    return EligibilityReport(call_id=call.id, results=results)
