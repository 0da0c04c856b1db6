"""Every check a call's inputs must pass before a ranking, gathered into one list of problems.

Loading a file checks its form; whether each partner's place is known and each score
fits the call's scale are checked later, by ``rules.check`` and ``evaluator.scoring``.
A spreadsheet reader runs this while reading (``also=``), so a user fixing a workbook
sees every problem at once, each at its cell, instead of one kind per round.
"""

from __future__ import annotations

from evaluator.scoring import validate_scores
from rules.check import check
from rules.errors import GrantsError, ProposalError
from rules.model import Call
from rules.proposal import Proposal


def places_and_scores(call: Call, proposals: list[Proposal], scores: bool = True) -> None:
    """Raise one ProposalError with every unknown place and (with ``scores``) every score off the call's scale."""
    problems = []
    for run in (check, validate_scores) if scores else (check,):
        try:
            run(call, proposals)
        except GrantsError as exc:
            problems += exc.problems
    if problems:
        raise ProposalError(problems)
