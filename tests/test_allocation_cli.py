"""``grants allocate`` and ``grants simulate`` on files, as a call manager runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from api.cli import app
from rules.proposal import Evaluation
from tests.factories import call, partner, proposal

runner = CliRunner()
GRANTS = Path(sys.executable).parent / "grants"


def scored(id: str, score: float, requested: int, lead: str = "AT") -> dict[str, object]:
    """A proposal every evaluator scored ``score`` on each criterion."""
    sheet = {c: score for c in ("excellence", "impact", "implementation")}
    members = [partner("Lead", lead, role="lead"), partner("B", "SI"), partner("C", "HU")]
    evaluations = [Evaluation(evaluator=f"E{k}", scores=sheet) for k in range(3)]
    return proposal(id, members, requested, evaluations=evaluations).model_dump(mode="json")


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    cluster = call(budget={"total": 1_000_000, "max_grant": 500_000}, allocation={"max_grants": 3})
    call_path = tmp_path / "call.yaml"
    call_path.write_text(yaml.safe_dump(cluster.model_dump(mode="json", exclude_none=True)))
    proposals = [scored("A", 5, 450_000), scored("B", 4.5, 400_000), scored("C", 4, 300_000), scored("D", 3.5, 100_000)]
    proposals_path = tmp_path / "proposals.yaml"
    proposals_path.write_text(yaml.safe_dump(proposals))
    return call_path, proposals_path


def test_allocate_json_has_the_documented_keys_first(files: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["allocate", *map(str, files), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data)[:7] == ["status", "objective", "total_awarded", "budget_left", "grants", "reserve", "binding"]
    assert data["grants"] == [
        {"id": "A", "amount": "450000.00"},
        {"id": "B", "amount": "400000.00"},
        {"id": "D", "amount": "100000.00"},
    ]
    assert data["reserve"] == ["C"]
    assert (data["total_awarded"], data["budget_left"]) == ("950000.00", "50000.00")


def test_allocate_in_optimal_mode_with_another_budget(files: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["allocate", *map(str, files), "--mode", "optimal", "--budget", "700000", "--json"])
    data = json.loads(result.output)
    assert data["status"] == "optimal"
    assert [g["id"] for g in data["grants"]] == ["A", "D"] or sum(float(g["amount"]) for g in data["grants"]) <= 700_000


def test_allocate_prints_a_readable_table(files: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["allocate", *map(str, files)])
    assert result.exit_code == 0
    assert "450,000.00" in result.output and "reserve C" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["allocate", "--budget", "-5"], "--budget: a budget of -5: Input should be greater than 0"),
        (["allocate", "--budget", "1e30"], "--budget: a budget of 1e30: Input should be less than 1000000000000"),
        (["simulate", "--budgets", "5:1:x"], "--budgets: the number of steps must be a whole number"),
        (
            ["simulate", "--budgets", "1:5:-3"],
            "--budgets: the number of steps must be a whole number of at least 1, got '-3'",
        ),
        (["simulate", "--budgets", "5:1:3"], "the budget range goes down"),
        (["simulate", "--noise", "-1"], "--noise: the standard deviation must be zero or more"),
        (["simulate"], "choose one of"),
    ],
)
def test_bad_arguments_are_clear_errors_not_tracebacks(
    files: tuple[Path, Path], arguments: list[str], message: str
) -> None:
    command, *options = arguments
    done = subprocess.run([GRANTS, command, *map(str, files), *options], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_simulate_sweep_and_monte_carlo_as_json(files: tuple[Path, Path]) -> None:
    sweep = json.loads(
        runner.invoke(app, ["simulate", *map(str, files), "--budgets", "450000:950000:3", "--json"]).output
    )
    assert [p["grants"] for p in sweep] == [1, 2, 3]
    odds = json.loads(
        runner.invoke(app, ["simulate", *map(str, files), "--noise", "0.5", "--runs", "200", "--json", "--full"]).output
    )
    assert odds["runs"] == 200 and {o["id"] for o in odds["odds"]} == {"A", "B", "C", "D"}


def test_simulate_scenarios_from_a_file(files: tuple[Path, Path], tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text("- name: call\n- name: twice the money\n  budget: 2000000\n")
    result = runner.invoke(app, ["simulate", *map(str, files), "--scenarios", str(scenarios)])
    assert result.exit_code == 0, result.output
    assert "twice the money" in result.output and "+C" in result.output
