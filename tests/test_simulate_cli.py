"""``grants simulate --noise`` on the sample calls, run as a finance officer runs it: summarised unless ``--full``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.commands.allocation import _show
from evaluator.simulation import FundingOdds, Odds

GRANTS = str(Path(sys.executable).with_name("grants"))
CALLS = sorted(Path(__file__).resolve().parent.parent.glob("calls/*/call.yaml"))


def grants(*args: str) -> str:
    done = subprocess.run(
        [GRANTS, *args], capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"}
    )
    return done.stdout


def odds(call: Path, *extra: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        grants("simulate", str(call), str(call.with_name("proposals.yaml")), "--noise", "0.5", "--runs", "300", *extra)
    )
    return document


@pytest.mark.parametrize("call", CALLS, ids=[c.parent.name for c in CALLS])
def test_the_odds_list_who_is_in_doubt_and_count_the_safe_and_the_out(call: Path) -> None:
    summary, full = odds(call, "--json"), odds(call, "--json", "--full")
    assert not summary["full"] and full["full"]
    assert len(full["odds"]) == summary["proposals"] == full["proposals"]
    in_doubt = {o["id"]: o for o in full["odds"] if o["probability"] not in ("0.0000", "1.0000")}
    assert {o["id"]: o for o in summary["odds"]} == in_doubt
    assert [o["id"] for o in summary["odds"]] == [o["id"] for o in full["odds"] if o["id"] in in_doubt], "rank order"
    assert summary["always_funded"] == sum(o["probability"] == "1.0000" for o in full["odds"])
    assert summary["never_funded"] == sum(o["probability"] == "0.0000" for o in full["odds"])
    assert 0 < len(in_doubt) < summary["proposals"]


@pytest.mark.parametrize("call", CALLS, ids=[c.parent.name for c in CALLS])
def test_the_table_says_how_many_are_safe_out_and_in_doubt(call: Path) -> None:
    document = odds(call, "--json")
    files = [str(call), str(call.with_name("proposals.yaml"))]
    out = grants("simulate", *files, "--noise", "0.5", "--runs", "300")
    between = document["proposals"] - document["always_funded"] - document["never_funded"]
    assert (
        f"{document['always_funded']} proposals are funded in every draw, {document['never_funded']} in none "
        f"(--full lists them); {between} in some draws but not all, {document['uncertain']} of them in 5% to 95%"
    ) in " ".join(out.split())
    listed = {o["id"] for o in document["odds"]}
    assert len(listed) <= 40, "a screen holds every proposal in doubt in these calls"
    everyone = [o["id"] for o in odds(call, "--json", "--full")["odds"]]
    assert [id for id in everyone if id in out] == [id for id in everyone if id in listed]
    full = grants("simulate", *files, "--noise", "0.5", "--runs", "300", "--full", "--all")
    assert all(id in full for id in everyone) and "(--full lists them)" not in full


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ids=st.lists(st.text(st.characters(exclude_categories=["Cs"])), max_size=5),
    numbers=st.lists(st.decimals(allow_nan=False, allow_infinity=False), min_size=2, max_size=2),
)
def test_an_odds_document_is_the_text_json_dumps_writes(
    ids: list[str], numbers: list[Decimal], capsys: pytest.CaptureFixture[str]
) -> None:
    """Pydantic writes the odds: the text json.dumps writes of their dump (quotes, controls, any letter, decimals)."""
    score, noise = numbers
    document = FundingOdds(
        method="noise",
        noise=noise,
        runs=1,
        seed=0,
        proposals=len(ids),
        always_funded=0,
        never_funded=0,
        uncertain=0,
        full=True,
        odds=[Odds(id=i, score=score, funded_now=k % 2 == 0, probability=Decimal("0.5000")) for k, i in enumerate(ids)],
    )
    capsys.readouterr()
    _show(document, True, print)
    compact = json.dumps(document.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)
    assert capsys.readouterr().out == compact + "\n"  # stdout is not a terminal here: compact, as for a pipe
