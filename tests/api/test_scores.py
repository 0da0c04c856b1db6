"""Score sheets and consensus: validation, idempotent PUT, no lost update."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from api import audit
from api.db.models import Score
from tests.api.conftest import CALL_ID, Actor, World, assign, sheet

SCORES = f"/calls/{CALL_ID}/proposals/P1/scores"


@pytest.fixture
def e1(world: World, agency: Actor, open_call: str) -> Actor:
    assign(agency, "P1", "E1")
    return world.evaluator("E1")


def test_a_first_sheet_is_created_at_version_1(e1: Actor) -> None:
    response = e1.put(SCORES, json={**sheet(4.5, None, 3), "comments": {"excellence": "clear objectives"}})
    body = response.json()
    assert (response.status_code, response.headers["etag"], body["version"]) == (201, '"1"', 1)
    assert body["scores"] == {"excellence": "4.50", "impact": None, "implementation": "3.00"}
    assert body["comments"] == {"excellence": "clear objectives"}


def test_sending_the_same_sheet_again_is_a_no_op(e1: Actor) -> None:
    e1.put(SCORES, json=sheet())
    again = e1.put(SCORES, json=sheet("4.0", 4, 4))
    assert (again.status_code, again.json()["version"]) == (200, 1)


def test_replacing_a_sheet_needs_the_version_it_replaces(e1: Actor) -> None:
    e1.put(SCORES, json=sheet())
    blind = e1.put(SCORES, json=sheet(5))
    assert blind.status_code == 428
    assert blind.json()["current"]["scores"]["excellence"] == "4.00"
    replaced = e1.put(SCORES, json=sheet(5), headers={"If-Match": '"1"'})
    assert (replaced.status_code, replaced.headers["etag"]) == (200, '"2"')


def test_a_write_from_a_stale_version_gets_412_with_the_current_sheet(e1: Actor) -> None:
    e1.put(SCORES, json=sheet())
    e1.put(SCORES, json=sheet(5), headers={"If-Match": '"1"'})
    stale = e1.put(SCORES, json=sheet(3), headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert (stale.json()["current"]["version"], stale.json()["current"]["scores"]["excellence"]) == (2, "5.00")
    assert e1.put(SCORES, json=sheet(3), headers={"If-Match": "garbage"}).status_code == 412


def test_if_match_on_a_sheet_that_does_not_exist_yet_is_412(e1: Actor) -> None:
    assert e1.put(SCORES, json=sheet(), headers={"If-Match": '"3"'}).status_code == 412


def test_scores_off_the_scale_or_for_unknown_criteria_are_refused(e1: Actor) -> None:
    off = e1.put(SCORES, json=sheet(4.2)).json()
    assert off["status"] == 422
    assert off["errors"][0]["path"] == "scores.excellence"
    assert "4.2 is not on the 0–5 scale in steps of 0.5" in off["errors"][0]["message"]
    unknown = e1.put(SCORES, json={"scores": {**sheet()["scores"], "novelty": 4}}).json()
    assert "unknown criterion 'novelty'" in unknown["detail"]
    missing = e1.put(SCORES, json={"scores": {"excellence": 4}}).json()
    assert "no score for criterion" in missing["detail"]
    assert e1.put(SCORES, json={"scores": {"excellence": "four"}}).status_code == 422
    thousandths = e1.put(SCORES, json=sheet("4.125")).json()
    assert (
        thousandths["errors"][0]["message"]
        == "excellence: 4.125 has more than two decimals; scores are kept to the hundredth"
    )
    assert e1.put(SCORES, json=sheet("NaN")).status_code == 422


def test_the_agency_reads_every_sheet_and_an_evaluator_only_theirs(world: World, agency: Actor, e1: Actor) -> None:
    assign(agency, "P1", "E2")
    e2 = world.evaluator("E2")
    e1.put(SCORES, json=sheet(4))
    e2.put(SCORES, json=sheet(3))
    assert [s["evaluator_id"] for s in agency.get(SCORES).json()] in (["E1", "E2"], ["E2", "E1"])
    assert [s["evaluator_id"] for s in e2.get(SCORES).json()] == ["E2"]


def test_the_consensus_is_recorded_by_the_agency_with_the_same_versioning(agency: Actor, open_call: str) -> None:
    url = f"/calls/{CALL_ID}/proposals/P1/consensus"
    assert agency.get(url).status_code == 404
    assert agency.put(url, json=sheet(4, 4, 3.5)).status_code == 201
    assert agency.put(url, json=sheet(4, 4, 4)).status_code == 428
    assert agency.put(url, json=sheet(4, 4, 4), headers={"If-Match": '"1"'}).json()["version"] == 2
    assert agency.put(url, json=sheet(4, None, 4), headers={"If-Match": '"2"'}).status_code == 422
    assert agency.get(url).headers["etag"] == '"2"'


def test_a_consensus_off_the_scale_names_the_field_the_agency_sent(agency: Actor, open_call: str) -> None:
    off = agency.put(f"/calls/{CALL_ID}/proposals/P1/consensus", json=sheet(4, 7, 3)).json()
    assert (off["status"], [e["path"] for e in off["errors"]]) == (422, ["scores.impact"])
    message = "proposal P1, consensus, criterion impact: 7 is not on the 0–5 scale in steps of 0.5"
    assert off["errors"][0]["message"] == message


def test_if_match_star_or_a_list_of_versions_replaces_a_sheet_that_holds_one(e1: Actor) -> None:
    assert e1.put(SCORES, json=sheet(), headers={"If-Match": "*"}).status_code == 412
    e1.put(SCORES, json=sheet())
    assert e1.put(SCORES, json=sheet(5), headers={"If-Match": "*"}).json()["version"] == 2
    assert e1.put(SCORES, json=sheet(3), headers={"If-Match": '"1", "2"'}).json()["version"] == 3
    assert e1.put(SCORES, json=sheet(2), headers={"If-Match": '"1", "2"'}).status_code == 412


def test_a_sheet_whose_criteria_change_is_read_as_written_and_the_log_proves_its_rows(world: World, e1: Actor) -> None:
    """Criteria gained, kept and dropped across replacements: the read is the write, the audit replay matches.

    On PostgreSQL a criterion the sheet keeps keeps its value row (updated in place, in the
    replacement's one statement); SQLite replaces the rows. Either way the log's rows are the table's.
    """
    drafts: list[dict[str, Any]] = [
        {"scores": {"excellence": 5}, "state": "draft"},
        {"scores": {"excellence": 4, "impact": 3}, "comments": {"impact": "thin"}, "state": "draft"},
        {"scores": {"impact": 3}, "comments": {"impact": ""}, "state": "draft"},
        {"scores": {}, "state": "draft"},
        {**sheet(4, None, 2.5), "comments": {"excellence": "clear"}},
    ]
    ids: list[dict[str, int]] = []
    for version, body in enumerate(drafts, start=1):
        headers = {"If-Match": f'"{version - 1}"'} if version > 1 else {}
        written = e1.put(SCORES, json=body, headers=headers)
        assert (written.status_code, written.json()["version"]) == (201 if version == 1 else 200, version)
        assert e1.get(SCORES).json() == [written.json()]
        with world.store.session(write=False) as session:
            ids.append({criterion: key for criterion, key in session.execute(select(Score.criterion, Score.id))})
            assert set(ids[-1]) == set(body["scores"])
            assert audit.verify(session).ok
    if world.store.engine.dialect.name == "postgresql":
        assert ids[1]["excellence"] == ids[0]["excellence"]
        assert ids[2]["impact"] == ids[1]["impact"]
