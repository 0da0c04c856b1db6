"""Warnings for calls whose figures are valid one by one but do not add up.

A call that validates can still be wrong: a budget typo (the cluster call's press
text says EUR 6,000,000,000 for 12 grants of at most 500,000), a minimum grant
above the maximum, a quota that the budget cannot meet. These do not stop the
engine, so they are warnings with the field they concern, not errors.
"""

from __future__ import annotations

from decimal import Decimal

from rules.errors import Problem
from rules.model import Call
from rules.money import format_money
from rules.yamlio import line_map, locate, path_key

# A budget this many times what the expected grants can spend is almost surely a typo.
OVERSIZED_BUDGET = Decimal(3)


def lint(call: Call) -> list[Problem]:
    """Every inconsistency found, as problems located on the call's fields."""
    return [*_budget(call), *_cofinancing(call), *_criteria(call), *_allocation(call)]


def lint_text(call: Call, text: str, source: str) -> list[Problem]:
    """The same warnings, with the file and line of each field."""
    lines = line_map(text)
    return [Problem(p.message, p.path, source, locate(lines, path_key(p.path))) for p in lint(call)]


def _budget(call: Call) -> list[Problem]:
    budget, money = call.budget, call.currency
    found = []
    if budget.min_grant is not None and budget.max_grant is not None and budget.min_grant > budget.max_grant:
        found.append(
            Problem(
                f"minimum grant {format_money(budget.min_grant, money)} is above the maximum "
                f"{format_money(budget.max_grant, money)}",
                "budget.min_grant",
            )
        )
    if budget.max_grant is not None and budget.max_grant > budget.total:
        found.append(
            Problem(
                f"maximum grant {format_money(budget.max_grant, money)} is above the total budget "
                f"{format_money(budget.total, money)}",
                "budget.max_grant",
            )
        )
    if budget.max_grant is not None and budget.expected_grants:
        spendable = budget.max_grant * budget.expected_grants
        if budget.total > spendable * OVERSIZED_BUDGET:
            found.append(
                Problem(
                    f"total budget {format_money(budget.total, money)} is {budget.total / spendable:,.0f} times what "
                    f"{budget.expected_grants} grants of at most {format_money(budget.max_grant, money)} can spend "
                    f"({format_money(spendable, money)}): a typo?",
                    "budget.total",
                )
            )
        if budget.min_grant is not None and budget.min_grant * budget.expected_grants > budget.total:
            found.append(
                Problem(
                    f"{budget.expected_grants} grants of at least {format_money(budget.min_grant, money)} "
                    f"exceed the total budget {format_money(budget.total, money)}",
                    "budget.expected_grants",
                )
            )
    return found


def _cofinancing(call: Call) -> list[Problem]:
    """A 0% default funds nobody; 0% for one country or type is how self-funded partners are written."""
    rates = call.budget.cofinancing
    if rates is None or rates.default is None or rates.default != 0:
        return []
    return [Problem("a default co-financing rate of 0% funds nothing", "budget.cofinancing.default")]


def _criteria(call: Call) -> list[Problem]:
    found = []
    if call.overall_threshold is not None:
        floor = sum((c.threshold or c.scale[0] for c in call.criteria), Decimal(0))
        if call.overall_threshold < floor:
            found.append(
                Problem(
                    f"overall threshold {call.overall_threshold} is below the sum of the criterion thresholds "
                    f"({floor}), so it never decides anything",
                    "overall_threshold",
                )
            )
    for i, c in enumerate(call.criteria):
        if c.threshold is not None and c.threshold == c.scale[1]:
            found.append(Problem(f"threshold {c.threshold} equals the top of the scale", f"criteria.{i}.threshold"))
    return found


def _allocation(call: Call) -> list[Problem]:
    found = []
    settings, budget = call.allocation, call.budget
    if settings.max_grants and budget.expected_grants and settings.max_grants < budget.expected_grants:
        found.append(
            Problem(
                f"at most {settings.max_grants} grants, but the call expects {budget.expected_grants}",
                "allocation.max_grants",
            )
        )
    minimum_share = sum((q.min_share or Decimal(0) for q in call.allocation.constraints if q.key), Decimal(0))
    if minimum_share > 1:
        found.append(Problem(f"minimum shares add up to {minimum_share:.0%} of the budget", "allocation.constraints"))
    for i, quota in enumerate(settings.constraints):
        if quota.min_share is not None and quota.max_share is not None and quota.min_share > quota.max_share:
            found.append(
                Problem(
                    f"min_share {quota.min_share} is above max_share {quota.max_share}", f"allocation.constraints.{i}"
                )
            )
    return found
