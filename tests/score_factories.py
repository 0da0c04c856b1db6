"""Score sheets written the way a panel secretary reads them: ``"4 4.5 -"``, one score per criterion."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rules.proposal import Proposal
from tests.factories import proposal

CRITERIA = ("excellence", "impact", "implementation")
"""The criteria of ``tests.factories.call()``, in order."""


def sheet(evaluator: str, scores: str, criteria: tuple[str, ...] = CRITERIA) -> dict[str, Any]:
    """One evaluation; ``-`` is "not applicable"."""
    values = scores.split()
    return {
        "evaluator": evaluator,
        "scores": {c: None if v == "-" else Decimal(v) for c, v in zip(criteria, values, strict=True)},
    }


def scored(
    id: str, sheets: dict[str, str] | None = None, criteria: tuple[str, ...] = CRITERIA, **extra: Any
) -> Proposal:
    """A proposal with its evaluations, e.g. ``scored("P1", {"E1": "4 4 3.5", "E2": "4.5 - 3"})``."""
    evaluations = [sheet(name, scores, criteria) for name, scores in (sheets or {}).items()]
    return proposal(id, evaluations=evaluations, **extra)
