"""The EU SME definition (Commission Recommendation 2003/361/EC).

An enterprise is in a class when its headcount is strictly below the class's
ceiling AND its turnover OR its balance sheet total does not exceed the class's
money ceiling. Aggregation of partner and linked enterprises is the applicant's
declaration: the figures given are taken as already aggregated.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from rules.proposal import Partner


class SmeClass(NamedTuple):
    code: int
    name: str
    headcount_below: int
    turnover_at_most: Decimal
    balance_sheet_at_most: Decimal


NOT_SME = 0
UNKNOWN = -1
CLASSES = (
    SmeClass(1, "micro", 10, Decimal(2_000_000), Decimal(2_000_000)),
    SmeClass(2, "small", 50, Decimal(10_000_000), Decimal(10_000_000)),
    SmeClass(3, "medium", 250, Decimal(50_000_000), Decimal(43_000_000)),
)
CLASS_BY_NAME = {c.name: c for c in CLASSES}
NAMES = {c.code: c.name for c in CLASSES} | {NOT_SME: "not an SME", UNKNOWN: "unknown"}


def sme_class(partner: Partner) -> int:
    """The smallest class the partner fits; ``UNKNOWN`` without headcount or money figures."""
    if partner.headcount is None or (partner.turnover is None and partner.balance_sheet is None):
        return UNKNOWN
    for cls in CLASSES:
        if partner.headcount < cls.headcount_below and (
            (partner.turnover is not None and partner.turnover <= cls.turnover_at_most)
            or (partner.balance_sheet is not None and partner.balance_sheet <= cls.balance_sheet_at_most)
        ):
            return cls.code
    return NOT_SME


def explain_class(partner: Partner) -> str:
    """The figures behind a classification, for a failure reason."""
    if sme_class(partner) == UNKNOWN:
        no_money = partner.turnover is None and partner.balance_sheet is None
        if partner.headcount is None:
            return "gives no headcount and no turnover or balance sheet" if no_money else "gives no headcount"
        return f"gives headcount {partner.headcount} but no turnover or balance sheet"
    return (
        f"has headcount {partner.headcount}, turnover {partner.turnover}, "
        f"balance sheet {partner.balance_sheet}: {NAMES[sme_class(partner)]}"
    )
