"""What finance sees: the panel's conclusion, never who scored what or what they wrote."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import CALL_ID, YAML, Actor, World, assign, call_yaml, sheet

CONFIDENTIAL = "the coordinator lacks experience"
CONSENSUS_TEXT = "the panel agreed the impact is regional"
RUNS = f"/calls/{CALL_ID}/allocations"


@pytest.fixture
def run(world: World, agency: Actor, open_call: str) -> dict[str, Any]:
    """P1 scored by E1 and E2 with a confidential comment, a consensus with its text, on a calibrated call."""
    assert agency.post("/calls", content=call_yaml(scoring={"calibration": True}), headers=YAML).status_code == 201
    for evaluator in ("E1", "E2"):
        assign(agency, "P1", evaluator)
        comment = {"excellence": f"{CONFIDENTIAL} ({evaluator})"}
        response = world.evaluator(evaluator).put(
            f"/calls/{CALL_ID}/proposals/P1/scores", json={**sheet(4 if evaluator == "E1" else 5), "comments": comment}
        )
        assert response.status_code == 201, response.json()
    consensus = {**sheet(4.5, 4, 4), "comments": {"impact": CONSENSUS_TEXT}}
    assert agency.put(f"/calls/{CALL_ID}/proposals/P1/consensus", json=consensus).status_code == 201
    response = agency.post(RUNS, json={})
    assert response.status_code == 201, response.json()
    return dict(response.json())


def pages(actor: Actor, run_id: int) -> dict[str, str]:
    base = f"/calls/{CALL_ID}/reports/allocations/{run_id}"
    names = ["index.html", "proposals/P1.html", "ranking.json", "ranking.csv", "allocation.json"]
    return {name: actor.get(f"{base}/{name}").text for name in names}


def test_finance_reads_the_consensus_and_consolidated_scores_but_no_evaluator(
    finance: Actor, run: dict[str, Any]
) -> None:
    served = pages(finance, run["id"])
    page = served["proposals/P1.html"]
    assert CONSENSUS_TEXT in page
    assert "4.50" in page or "4.5" in page
    for name, text in served.items():
        assert CONFIDENTIAL not in text, name
        assert "E1" not in text and "E2" not in text, name


def test_the_agency_keeps_the_panel_s_detail(agency: Actor, run: dict[str, Any]) -> None:
    page = pages(agency, run["id"])["proposals/P1.html"]
    assert f"{CONFIDENTIAL} (E1)" in page and f"{CONFIDENTIAL} (E2)" in page
    assert CONSENSUS_TEXT in page


def test_the_json_finance_reads_names_no_evaluator(agency: Actor, finance: Actor, run: dict[str, Any]) -> None:
    assert agency.get(f"{RUNS}/{run['id']}").json()["ranking"]["calibration"]["offsets"]
    for url in (f"{RUNS}/{run['id']}", f"/calls/{CALL_ID}/ranking"):
        text = finance.get(url).text
        assert '"E1"' not in text and '"E2"' not in text, url
    assert finance.post(RUNS, json={}).json()["ranking"]["calibration"] is None
