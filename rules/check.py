"""``check(call, proposals)``: every eligibility rule on every proposal, with reasons.

All rules are evaluated, not only up to the first failure, because an applicant
or a call officer needs the full list of what to fix.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from rules.areas import call_areas
from rules.bulk import gc_paused
from rules.columns import ParsedColumns
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


def check(call: Call, proposals: list[Proposal] | ParsedColumns | ProposalTable, source: str = "") -> EligibilityReport:
    """The eligibility report; raises ProposalError when a partner's place is unknown."""
    table = _table(proposals, source)
    ctx, verdicts = rule_verdicts(call, table)
    eligible = np.logical_and.reduce(verdicts) if verdicts else np.ones(table.size, dtype=bool)
    # Python lists: indexing numpy arrays one element at a time costs more than the rules themselves.
    passed = [v.tolist() for v in verdicts]
    with gc_paused():
        results = _results(call, ctx, table, eligible.tolist(), passed)
    return EligibilityReport(call_id=call.id, results=results)


def _table(proposals: list[Proposal] | ParsedColumns | ProposalTable, source: str) -> ProposalTable:
    if isinstance(proposals, ProposalTable):
        return proposals
    return proposals.table(source) if isinstance(proposals, ParsedColumns) else compile_proposals(proposals, source)


def rule_verdicts(call: Call, table: ProposalTable) -> tuple[Context, list[np.ndarray]]:
    """Each of the call's rules as one boolean per proposal, and the context that explains them.

    This is the rule evaluation proper (numpy over the columns); the report adds the reasons.
    """
    ctx = Context(call=call, areas=call_areas(call.areas), table=table)
    return ctx, [ctx.passes(rule) for rule in call.eligibility]


def _results(
    call: Call, ctx: Context, table: ProposalTable, eligible: list[bool], passed: list[list[bool]]
) -> list[ProposalEligibility]:
    """One verdict per proposal, with reasons only for the proposals that fail."""
    results = []
    for i, (id, ok) in enumerate(zip(table.ids, eligible, strict=True)):
        failures = (
            []
            if ok
            else [
                Failure(rule=rule.name, reason=rule.explain(ctx, i), source=rule.source)
                for rule, verdict in zip(call.eligibility, passed, strict=True)
                if not verdict[i]
            ]
        )
        results.append(ProposalEligibility(id=id, eligible=ok, failures=failures))
    return results
