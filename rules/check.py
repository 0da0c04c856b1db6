"""``check(call, proposals)``: every eligibility rule on every proposal, with reasons.

All rules are evaluated, not only up to the first failure, because an applicant
or a call officer needs the full list of what to fix.
"""

from __future__ import annotations

from typing import Any

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
    rows = verdicts(call, proposals, source, with_sources=True)
    with gc_paused():  # validated as a whole in one call: 100,000 models, none built one by one in Python
        return EligibilityReport.model_validate({"call_id": call.id, "results": rows})


def verdicts(
    call: Call, proposals: list[Proposal] | ParsedColumns | ProposalTable, source: str = "", with_sources: bool = False
) -> list[dict[str, Any]]:
    """Each proposal's verdict as data, in the file's order: what ``grants check --json`` prints.

    ``with_sources`` adds to each failure the call text its rule comes from, as the report has it.
    """
    table = _table(proposals, source)
    ctx, passed = rule_verdicts(call, table)
    eligible = np.logical_and.reduce(passed) if passed else np.ones(table.size, dtype=bool)
    failures: dict[int, list[dict[str, Any]]] = {}
    with gc_paused():
        for rule, verdict in zip(call.eligibility, passed, strict=True):
            failing = np.flatnonzero(~verdict)
            name, extra = rule.name, {"source": rule.source} if with_sources else {}
            for i, reason in zip(failing.tolist(), rule.reasons(ctx, failing), strict=True):
                failures.setdefault(i, []).append({"rule": name, "reason": reason, **extra})
        return [
            {"id": id, "eligible": ok, "failures": failures.get(i, [])}
            for i, (id, ok) in enumerate(zip(table.ids, eligible.tolist(), strict=True))
        ]


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
