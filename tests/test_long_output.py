"""Long results on a terminal: a screen of rows and what was left out, every row on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks.instances import call_data, proposal_data

GRANTS = str(Path(sys.executable).with_name("grants"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("long")
    (folder / "call.yaml").write_text(yaml.safe_dump(call_data(120), sort_keys=False))
    (folder / "proposals.json").write_text(json.dumps(proposal_data(120)))
    return [str(folder / "call.yaml"), str(folder / "proposals.json")]


def grants(*args: str) -> str:
    done = subprocess.run(
        [GRANTS, *args], capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"}
    )
    return done.stdout


def test_a_table_longer_than_a_screen_shows_a_screen_and_says_how_many_more(files: list[str]) -> None:
    out = grants("rank", *files)
    assert "… and 80 more rows not shown" in out
    assert sum(f"P{i:05d}" in out for i in range(120)) < 120
    assert sum(f"P{i:05d}" in grants("rank", *files, "--all") for i in range(120)) == 120


def test_allocate_lists_a_screen_of_grants_and_of_reserve_proposals(files: list[str]) -> None:
    out = grants("allocate", *files, "--explain-share", "0")
    assert "more reserve proposals not shown" in out
    assert "kept out by" in out and "not in the optimal portfolio" not in out
    assert "objective" in out and "score × EUR granted" in out


def test_check_summarises_by_failed_rule(files: list[str]) -> None:
    out = grants("check", *files)
    assert "… and 80 more rows not shown" in out
    assert "120 of 120 proposals are eligible" in out


def test_simulate_shows_the_screen_nearest_even_odds(files: list[str]) -> None:
    odds = json.loads(grants("simulate", *files, "--noise", "1", "--runs", "200", "--json"))
    assert len(odds["odds"]) > 40
    out = grants("simulate", *files, "--noise", "1", "--runs", "200")
    assert f"… and {len(odds['odds']) - 40} more rows not shown (shown: the 40 nearest even odds" in out
    nearest = sorted(odds["odds"], key=lambda o: abs(float(o["probability"]) - 0.5))
    assert all(o["id"] in out for o in nearest[:30])
    assert not any(o["id"] in out for o in nearest[50:])
    everything = grants("simulate", *files, "--noise", "1", "--runs", "200", "--all")
    assert all(o["id"] in everything for o in odds["odds"])
