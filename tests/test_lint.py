"""Lint: figures that validate one by one but do not add up are warnings on their field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rules.lint import lint
from tests.factories import call
from tests.grants_cli import grants

CLUSTER_BUDGET = {"total": 6_000_000, "max_grant": 500_000, "expected_grants": 12}


def warnings(**call_extra: Any) -> dict[str, str]:
    return {p.path: p.message for p in lint(call(**call_extra))}


def test_a_consistent_call_has_no_warnings() -> None:
    assert warnings(budget=CLUSTER_BUDGET) == {}


def test_budget_typed_a_thousand_times_too_big_is_flagged() -> None:
    found = warnings(budget={**CLUSTER_BUDGET, "total": 6_000_000_000})
    assert found["budget.total"] == (
        "total budget EUR 6,000,000,000.00 is 1,000 times what 12 grants of at most EUR 500,000.00 can spend "
        "(EUR 6,000,000.00): a typo?"
    )


def test_min_grant_above_max_grant() -> None:
    found = warnings(budget={**CLUSTER_BUDGET, "min_grant": 600_000})
    assert found["budget.min_grant"] == "minimum grant EUR 600,000.00 is above the maximum EUR 500,000.00"
    assert "budget.expected_grants" in found  # 12 grants of at least 600,000 exceed 6,000,000


def test_max_grant_above_the_whole_budget() -> None:
    assert "budget.max_grant" in warnings(budget={"total": 400_000, "max_grant": 500_000})


def test_overall_threshold_that_never_decides() -> None:
    assert warnings(overall_threshold=8)["overall_threshold"] == (
        "overall threshold 8 is below the sum of the criterion thresholds (9), so it never decides anything"
    )


def test_threshold_at_the_top_of_the_scale() -> None:
    criteria = [{"id": "excellence", "name": "Excellence", "threshold": 5}]
    assert "criteria.0.threshold" in warnings(criteria=criteria, overall_threshold=None)


def test_fewer_grants_allowed_than_expected() -> None:
    assert "allocation.max_grants" in warnings(budget=CLUSTER_BUDGET, allocation={"max_grants": 10})


def test_topic_minimums_above_the_whole_budget() -> None:
    quotas = [{"by": "topic", "key": t, "min_share": 0.6} for t in ("innovation", "environment")]
    assert warnings(allocation={"constraints": quotas})["allocation.constraints"] == (
        "minimum shares add up to 120% of the budget"
    )


def test_zero_default_rate_warns_but_a_self_funded_country_does_not() -> None:
    assert "budget.cofinancing.default" in warnings(budget={**CLUSTER_BUDGET, "cofinancing": {"default": 0}})
    swiss = {"default": 0.85, "by_country": {"CH": 0}}
    assert warnings(budget={**CLUSTER_BUDGET, "cofinancing": swiss}) == {}


def test_validate_prints_the_warning_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = Path("calls/cosme_cluster_2020/call.yaml").read_text(encoding="utf-8")
    typo = tmp_path / "call.yaml"
    typo.write_text(text.replace("total: 6000000\n", "total: 6000000000\n"), encoding="utf-8")
    line = text.splitlines().index("  total: 6000000") + 1
    result = grants(capsys, monkeypatch, "validate", str(typo))
    assert result.code == 0
    assert f"warning {typo}:{line}: budget.total: total budget EUR 6,000,000,000.00 is 1,000 times" in result.out
