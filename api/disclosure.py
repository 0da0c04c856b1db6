"""What of the evaluation each role is shown: the panel's detail, or the consolidated result.

The agency sees each evaluator's id, scores and comments; finance sees what the
panel concluded (the consolidated scores, the consensus and its text) and not who
scored what: individual sheets are the evaluators' confidential work. The rule is
applied here, once, to every ranking, run and report the API gives finance, JSON
and HTML alike, so a new page cannot forget it.
"""

from __future__ import annotations

from api.auth import Principal, Role
from evaluator.ranking import Ranking
from rules.proposal import Proposal

PANEL = frozenset({Role.agency})
"""The roles that see individual evaluators' ids, scores and comments."""


def sees_the_panel(principal: Principal) -> bool:
    return principal.role in PANEL


def ranking_for(principal: Principal, ranking: Ranking) -> Ranking:
    """The ranking as the caller may see it: without calibration's offset per evaluator for finance."""
    return ranking if sees_the_panel(principal) else ranking.model_copy(update={"calibration": None})


def proposals_for(principal: Principal, proposals: list[Proposal]) -> list[Proposal]:
    """The proposals as the caller may see them: without the individual evaluations for finance."""
    if sees_the_panel(principal):
        return proposals
    return [p.model_copy(update={"evaluations": []}) for p in proposals]
