"""``grants check`` on thousands of proposals: the same verdicts and reasons as the plain yardstick.

Bulk instances are drawn from the five calls' own samples: consortia reshuffled from
every call's partners (places inside and outside each area, in every spelling the
samples use), leads moved, types, SME figures, budgets, requests and durations varied,
so that every rule of every call passes and fails many times. The columns the fast
compiler builds must equal the reference loop's (``tests.table_reference``), and the
installed ``grants check`` must print the verdicts the reference columns give.
"""

from __future__ import annotations

import gc
import json
import os
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from api.cli import main
from api.commands.ending import HELD
from api.commands.screen import SCREEN_ROWS
from rules.check import EligibilityReport, check
from rules.columns import ParsedColumns
from rules.load import load_call, load_proposals
from rules.table import compile_proposals
from tests.table_reference import reference_table

GRANTS = str(Path(sys.executable).with_name("grants"))
LAZY_COLUMNS = ("p_requested", "p_total_cost", "p_duration", "x_type", "x_sme_class", "x_budget")
ROOT = Path(__file__).resolve().parents[1]
CALLS = sorted(p.parent for p in (ROOT / "calls").glob("*/call.yaml"))
TYPES = ["sme", "university", "public_authority", "private_for_profit", "cluster_organisation", "large_enterprise"]


def _samples(folder: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load((folder / "proposals.yaml").read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = data["proposals"] if isinstance(data, dict) else data
    return found


PARTNERS = [dict(p, role="partner") for folder in CALLS for s in _samples(folder) for p in s["partners"]]


def _amount(rng: random.Random, around: Decimal) -> str:
    return f"{around * Decimal(rng.choice(['0.4', '0.85', '0.9', '1', '1', '1', '1.03', '1.5'])):.2f}"


def _partner(rng: random.Random, own: list[dict[str, Any]]) -> dict[str, Any]:
    partner = dict(rng.choice(own if rng.random() < 0.9 else PARTNERS))
    if rng.random() < 0.1:
        partner["type"] = rng.choice(TYPES)
    if partner.get("type") == "sme" and rng.random() < 0.7:
        partner["headcount"] = rng.choice([3, 9, 10, 49, 120, 249, 250, 400])
        partner[rng.choice(["turnover", "balance_sheet"])] = rng.choice(["900000", "10000000", "48000000", "6e7"])
    return partner


def bulk(folder: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` proposals for the call in ``folder``, varied from its samples."""
    rng = random.Random(seed)
    samples = _samples(folder)
    own = [dict(p, role="partner") for s in samples for p in s["partners"]]
    out = []
    for i in range(n):
        proposal = dict(rng.choice(samples), id=f"B{i:05d}")
        partners = [_partner(rng, own) for _ in range(rng.choice([1, 2, 3, 3, 4, 5, 6, 8]))]
        lead = dict(next(p for p in proposal["partners"] if p.get("role") == "lead"))
        partners[0] = lead if rng.random() < 0.8 else dict(partners[0], role="lead")
        proposal["partners"] = partners
        requested = Decimal(_amount(rng, Decimal(str(proposal["requested_amount"]))))
        proposal["requested_amount"] = str(requested)
        if rng.random() < 0.5:  # partner budgets around what the request needs at 85%
            for partner in partners:
                partner["budget"] = (
                    f"{requested / Decimal('0.75') / len(partners) * Decimal(rng.uniform(0.9, 1.3)):.2f}"
                )
        if rng.random() < 0.3:
            proposal["duration_months"] = rng.choice([6, 12, 18, 24, 30, 36, 48])
        if "total_cost" in proposal and rng.random() < 0.3:
            del proposal["total_cost"]
        out.append(proposal)
    return out


def verdicts(report: EligibilityReport) -> list[dict[str, Any]]:
    """What ``grants check --json`` prints for a report."""
    return [
        {"id": r.id, "eligible": r.eligible, "failures": [{"rule": f.rule, "reason": f.reason} for f in r.failures]}
        for r in report.results
    ]


def grants(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GRANTS, *args], capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": "200"}
    )


@pytest.fixture(scope="module", params=CALLS, ids=[p.name for p in CALLS])
def instance(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder: Path = request.param
    path = tmp_path_factory.mktemp(folder.name) / "proposals.json"
    path.write_text(json.dumps(bulk(folder, 3000, seed=len(folder.name))), encoding="utf-8")
    return folder / "call.yaml", path


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("folder", CALLS, ids=[p.name for p in CALLS])
def test_columns_equal_the_reference_loop_on_random_instances(folder: Path, seed: int, tmp_path: Path) -> None:
    path = tmp_path / "proposals.json"
    path.write_text(json.dumps(bulk(folder, 400, seed)), encoding="utf-8")
    proposals = load_proposals(path)
    fast, slow = compile_proposals(proposals), reference_table(proposals)
    for name in [*fast.__dataclass_fields__, *LAZY_COLUMNS]:
        ours, theirs = getattr(fast, name), getattr(slow, name)
        if isinstance(ours, np.ndarray):
            assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), name
        else:
            assert ours == theirs, name


def test_grants_check_json_gives_the_reference_verdicts_and_reasons(instance: tuple[Path, Path]) -> None:
    call_path, path = instance
    expected = verdicts(check(load_call(call_path), reference_table(load_proposals(path))))
    done = grants("check", str(call_path), str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected
    eligible = sum(v["eligible"] for v in expected)
    assert 0.05 * len(expected) < eligible < 0.95 * len(expected), "the instance should pass and fail the rules"
    assert len({f["rule"] for v in expected for f in v["failures"]}) >= 3


def test_the_table_shows_a_screen_of_the_ineligible_and_counts_each_failed_rule_and_those_failing_only_it(
    instance: tuple[Path, Path],
) -> None:
    call_path, path = instance
    expected = verdicts(check(load_call(call_path), reference_table(load_proposals(path))))
    out = grants("check", str(call_path), str(path)).stdout
    shown = [v for v in expected if f" {v['id']} " in out]
    assert len(shown) == SCREEN_ROWS and not any(v["eligible"] for v in shown)
    assert f"… and {len(expected) - SCREEN_ROWS:,} more rows not shown" in out
    assert f"{sum(v['eligible'] for v in expected):,} of {len(expected):,} proposals are eligible" in out
    for rule in {f["rule"] for v in expected for f in v["failures"]}:
        failing = [
            {f["rule"] for f in v["failures"]} for v in expected if any(f["rule"] == rule for f in v["failures"])
        ]
        only = sum(rules == {rule} for rules in failing)
        assert f"  {rule}: {len(failing):,} proposals fail it, {only:,} fail only it" in out


def test_every_row_on_request(instance: tuple[Path, Path]) -> None:
    call_path, path = instance
    out = grants("check", str(call_path), str(path), "--all").stdout
    assert all(f" B{i:05d} " in out for i in range(3000))


def test_bad_places_and_a_repeated_id_deep_in_a_bulk_file_are_reported_at_their_lines(tmp_path: Path) -> None:
    folder = ROOT / "calls" / "see_2007_2013_call4"
    data = bulk(folder, 2000, seed=5)
    data[1234]["partners"][0]["region"] = "Atlantis"
    data[1500]["id"] = data[7]["id"]
    path = tmp_path / "proposals.json"
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    lines = path.read_text(encoding="utf-8").splitlines()
    done = grants("check", str(folder / "call.yaml"), str(path), "--json")
    assert done.returncode == 2 and done.stdout == ""
    region_line = next(n for n, line in enumerate(lines, 1) if '"Atlantis"' in line)
    assert f"{path}:{region_line}: 1234.partners.0.region: unknown region 'Atlantis'" in done.stderr
    assert (
        f"{path}:" in done.stderr
        and "1500.id: proposal id 'B00007' is used 2 times (entries 7 and 1500)" in done.stderr
    )


def test_check_holds_its_data_and_leaves_the_collector_off_only_when_the_process_ends_right_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = CALLS[0]
    path = tmp_path / "proposals.json"
    plain = [{k: v for k, v in p.items() if k not in ("consensus", "gender_balance")} for p in bulk(folder, 50, seed=1)]
    path.write_text(json.dumps(plain), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["grants", "check", str(folder / "call.yaml"), str(path), "--json"])
    try:
        for exiting in (False, True):
            with pytest.raises(SystemExit):
                main(exiting=exiting)
            printed = json.loads(capsys.readouterr().out)
            assert gc.isenabled() is not exiting, "the collector stays off only for a process on its way out"
            if exiting:
                columns, rows = HELD
                assert isinstance(columns, ParsedColumns) and columns.ids == [row["id"] for row in printed]
                assert rows == printed
            else:
                assert HELD == [], "an in-process caller gets the memory back"
    finally:
        HELD.clear()
        gc.enable()
