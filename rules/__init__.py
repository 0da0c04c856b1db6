"""Calls as declarative rules: the call schema, places, and the eligibility check."""

from rules.check import EligibilityReport, check
from rules.errors import CallError, GrantsError, Problem, ProposalError, RegionError, ScoreError
from rules.load import load_call, load_proposals
from rules.model import Call, Criterion
from rules.proposal import Evaluation, Partner, Proposal

__all__ = [
    "Call",
    "CallError",
    "Criterion",
    "EligibilityReport",
    "Evaluation",
    "GrantsError",
    "Partner",
    "Problem",
    "Proposal",
    "ProposalError",
    "RegionError",
    "ScoreError",
    "check",
    "load_call",
    "load_proposals",
]
