"""Inputs that once reached the database or ``int()`` unchecked: each is a located 4xx, nothing stored."""

from __future__ import annotations

import json

import pytest

from api.request_bounds import MAX_CRITERIA_PER_SHEET, MAX_PARTNERS_PER_UPLOAD
from tests.api.conftest import CALL_ID, YAML, Actor, World, assign, sheet
from tests.api.test_hostile_requests import audit_entries, refused

SCORES = f"/calls/{CALL_ID}/proposals/P1/scores"
HUGE = "1" + "0" * 400  # an integer as JSON writes it: no float, no exponent


@pytest.fixture
def e1(world: World, agency: Actor, open_call: str) -> Actor:
    assign(agency, "P1", "E1")
    return world.evaluator("E1")


def test_a_lone_surrogate_in_a_score_comment_is_a_422_not_a_500(agency: Actor, e1: Actor) -> None:
    before = audit_entries(agency)
    body = {**sheet(), "comments": {"impact": "fine \udfff"}}
    response = e1.put(SCORES, content=json.dumps(body), headers={"content-type": "application/json"})
    assert "surrogate" in refused(response, 422)["detail"]
    assert e1.get(SCORES).json() == []
    assert audit_entries(agency) == before


@pytest.mark.parametrize("tag", ['"²"', '"' + "9" * 5000 + '"', '"1", "' + "9" * 19 + '"'])
def test_an_if_match_that_is_no_version_is_a_412(e1: Actor, tag: str) -> None:
    assert e1.put(SCORES, json=sheet(3)).status_code == 201
    response = e1.put(SCORES, json=sheet(4), headers={"If-Match": tag.encode("latin-1")})
    assert refused(response, 412)["current"]["version"] == 1


def test_a_min_load_past_any_call_is_refused_on_auto_assignment_and_policy(agency: Actor, open_call: str) -> None:
    before = audit_entries(agency)
    for field in ("min_load", "max_load"):
        raw = '{"%s": %s}' % (field, HUGE)  # noqa: UP031 - the integer written out, as no dict could send it
        headers = {"content-type": "application/json"}
        refused(agency.post(f"/calls/{CALL_ID}/assignments/auto", content=raw, headers=headers), 422)
        refused(agency.put(f"/calls/{CALL_ID}/policy", content=raw, headers=headers), 422)
    assert agency.get(f"/calls/{CALL_ID}/policy").json()["min_load"] == 0
    assert audit_entries(agency) == before
    assert agency.post(f"/calls/{CALL_ID}/assignments/auto", json={"min_load": 1}).status_code == 200


def test_a_score_sheet_of_a_million_criteria_is_refused_before_it_is_read(agency: Actor, e1: Actor) -> None:
    scores = ",".join(f'"c{i}": 1' for i in range(1_000_000))
    body = '{"scores": {' + scores + "}}"
    response = e1.put(SCORES, content=body, headers={"content-type": "application/json"})
    assert "at most 262144 are accepted here" in refused(response, 413)["detail"]


def test_a_score_sheet_of_more_criteria_than_any_call_has_is_a_422(e1: Actor) -> None:
    body = {"scores": {f"c{i}": 1 for i in range(MAX_CRITERIA_PER_SHEET + 1)}}
    assert refused(e1.put(SCORES, json=body), 422)["errors"][0]["path"] == "body.scores"


def test_an_upload_of_more_partners_than_allowed_is_refused_before_it_is_parsed(agency: Actor, open_call: str) -> None:
    before = audit_entries(agency)
    partners = "".join(f"  - {{name: Org {k}, country: AT}}\n" for k in range(MAX_PARTNERS_PER_UPLOAD + 1))
    text = f"- id: BIG\n  requested_amount: 1000\n  partners:\n{partners}"
    response = agency.post(f"/calls/{CALL_ID}/proposals", content=text, headers=YAML)
    assert "about 20,001 partners (at most 20,000)" in refused(response, 422)["detail"]
    assert audit_entries(agency) == before


def test_a_call_over_its_own_size_limit_is_a_413(agency: Actor) -> None:
    response = agency.post("/calls", content="#" * (3 * 1024 * 1024), headers=YAML)
    assert refused(response, 413)["status"] == 413
