"""Allocation runs over HTTP: run on a snapshot, stored, listed, and reported as pages."""

from __future__ import annotations

import pytest

from tests.api.conftest import CALL_ID, Actor, World, scored_alike, sheet

SCORES = {"P1": (4, 4, 4), "P2": (5, 4.5, 4), "P3": (4.5, 4, 4.5)}
RUNS = f"/calls/{CALL_ID}/allocations"


@pytest.fixture
def scored(world: World, agency: Actor, open_call: str) -> None:
    scored_alike(world, agency, SCORES)


def test_finance_runs_an_allocation_down_the_funding_line(finance: Actor, scored: None) -> None:
    response = finance.post(RUNS, json={"scenario": {"name": "tight", "budget": "700000"}})
    run = response.json()
    assert response.status_code == 201
    assert [g["id"] for g in run["allocation"]["grants"]] == ["P2", "P3"]
    assert run["allocation"]["total_awarded"] == "550000.00"
    assert run["allocation"]["reserve"] == ["P1"]
    assert (run["kind"], run["call_version"], run["request"]["scenario"]["name"]) == ("allocation", 1, "tight")


def test_a_stored_run_reads_back_unchanged_after_scores_change(world: World, finance: Actor, scored: None) -> None:
    first = finance.post(RUNS, json={}).json()
    world.evaluator("E1").put(f"/calls/{CALL_ID}/proposals/P1/scores", json=sheet(0, 0, 0), headers={"If-Match": '"1"'})
    assert finance.get(f"{RUNS}/{first['id']}").json()["allocation"] == first["allocation"]
    listed = finance.get(RUNS).json()
    assert [r["id"] for r in listed["items"]] == [first["id"]]
    assert finance.get(f"{RUNS}/999").status_code == 404


def test_an_allocation_run_is_audited(agency: Actor, finance: Actor, scored: None) -> None:
    run = finance.post(RUNS, json={}).json()
    last = agency.get("/audit", params={"offset": agency.get("/audit").json()["total"] - 1}).json()["items"][0]
    assert (last["action"], last["target"]) == ("allocation.run", f"call/{CALL_ID}/allocation/{run['id']}")
    assert last["actor"].startswith("finance")


def test_the_report_of_a_run_is_served_as_linked_pages(finance: Actor, scored: None) -> None:
    run = finance.post(RUNS, json={}).json()
    base = f"/calls/{CALL_ID}/reports/allocations/{run['id']}"
    index = finance.get(f"{base}/index.html")
    assert index.headers["content-type"].startswith("text/html")
    assert 'href="proposals/P2.html"' in index.text
    page = finance.get(f"{base}/proposals/P2.html")
    assert page.status_code == 200 and "P2" in page.text
    assert finance.get(f"{base}/ranking.csv").text.splitlines()[0].startswith("\ufeffposition,list,id")
    assert finance.get(f"{base}/report.xlsx").content[:2] == b"PK"
    assert finance.get(f"{base}/proposals/P404.html").status_code == 404
    assert finance.get(f"{base}/secrets.txt").status_code == 422


def test_a_simulation_compares_scenarios_sweeps_the_budget_and_gives_funding_odds(finance: Actor, scored: None) -> None:
    body = {
        "scenarios": [{"name": "call"}, {"name": "half", "budget": "500000"}],
        "sweep": {"low": "300000", "high": "1000000", "steps": 3},
        "odds": {"noise": "0.5", "runs": 200, "seed": 7},
    }
    response = finance.post(f"/calls/{CALL_ID}/simulations", json=body)
    result = response.json()["result"]
    assert response.status_code == 201
    assert [s["scenario"] for s in result["scenarios"]] == ["call", "half"]
    assert result["scenarios"][1]["not_here"] == ["P1", "P3"]
    assert [p["grants"] for p in result["sweep"]] == [1, 2, 3]
    assert {o["id"] for o in result["odds"]["odds"]} == {"P1", "P2", "P3"}
    again = finance.get(f"/calls/{CALL_ID}/simulations/{response.json()['id']}").json()
    assert again["result"] == result


def test_a_simulation_that_asks_nothing_or_too_much_is_refused(finance: Actor, scored: None) -> None:
    assert finance.post(f"/calls/{CALL_ID}/simulations", json={}).status_code == 422
    too_many = {"odds": {"noise": "0.5", "runs": 10_000_000}}
    assert finance.post(f"/calls/{CALL_ID}/simulations", json=too_many).status_code == 422
    backwards = {"sweep": {"low": "900000", "high": "100000"}}
    response = finance.post(f"/calls/{CALL_ID}/simulations", json=backwards)
    assert (response.status_code, response.json()["title"]) == (422, "Invalid simulation")


def test_the_served_report_shows_ranks_with_credible_intervals_when_asked(finance: Actor, scored: None) -> None:
    run = finance.post(RUNS, json={}).json()
    base = f"/calls/{CALL_ID}/reports/allocations/{run['id']}"
    index = finance.get(f"{base}/index.html", params={"bayes": "true"}).text
    assert "Ranks with credible intervals" in index
    assert 'aria-label="expected rank with 50% and 90% credible intervals, list main"' in index
    assert "Ranks with credible intervals" not in finance.get(f"{base}/index.html").text
