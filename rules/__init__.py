"""Calls as declarative rules: the call schema, places, and the eligibility check.

The names below are loaded on first use (PEP 562), so importing one light module of
the package (``rules.errors``) does not load numpy and every schema with it. The
eligibility check is ``rules.check.check``: ``rules.check`` is its module.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {
    "EligibilityReport": "rules.check",
    "CallError": "rules.errors",
    "GrantsError": "rules.errors",
    "Problem": "rules.errors",
    "ProposalError": "rules.errors",
    "RegionError": "rules.errors",
    "ScoreError": "rules.errors",
    "load_call": "rules.load",
    "load_proposals": "rules.load",
    "Call": "rules.model",
    "Criterion": "rules.model",
    "Evaluation": "rules.proposal",
    "Partner": "rules.proposal",
    "Proposal": "rules.proposal",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'rules' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
