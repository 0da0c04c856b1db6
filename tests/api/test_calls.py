"""Calls over HTTP: upload, validation errors with lines, versions kept, policy."""

from __future__ import annotations

from pathlib import Path

from api.routers.common import MAX_BODY_BYTES
from tests.api.conftest import CALL_ID, YAML, Actor, World, assign, call_yaml, sheet

COSME = Path(__file__).resolve().parents[2] / "calls" / "cosme_cluster_2020" / "call.yaml"


def test_the_cosme_cluster_call_uploads_as_version_1(agency: Actor) -> None:
    response = agency.post("/calls", content=COSME.read_text(encoding="utf-8"), headers=YAML)
    assert response.status_code == 201
    body = response.json()
    assert (body["id"], body["version"], response.headers["etag"]) == ("COS-CLUSTER-2020-3-03", 1, '"1"')
    assert body["call"]["budget"]["total"] == "6000000.00"
    assert body["text"] == COSME.read_text(encoding="utf-8")


def test_a_threshold_above_the_scale_is_a_problem_at_its_line(agency: Actor) -> None:
    text = call_yaml().replace("threshold: '3'", "threshold: '7'", 1)
    response = agency.post("/calls", content=text, headers=YAML)
    problem = response.json()
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["title"] == "Invalid call"
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "- id: excellence" in row)
    assert problem["errors"][0]["path"] == "criteria.0"
    assert "threshold 7 is outside the scale" in problem["errors"][0]["message"]
    assert problem["errors"][0]["line"] == line
    assert f"<request body>:{line}: criteria.0: threshold 7" in problem["detail"]


def test_malformed_yaml_and_non_utf8_bodies_are_422_not_500(agency: Actor) -> None:
    assert agency.post("/calls", content="id: [unclosed", headers=YAML).status_code == 422
    assert agency.post("/calls", content=b"\xff\xfe", headers=YAML).status_code == 422
    assert agency.post("/calls", content="- a list", headers=YAML).status_code == 422
    assert agency.post("/calls", content="id: x", headers={"content-type": "image/png"}).status_code == 415


def test_uploading_the_same_call_again_changes_nothing(agency: Actor) -> None:
    agency.post("/calls", content=call_yaml(), headers=YAML)
    again = agency.post("/calls", content=call_yaml(), headers=YAML)
    assert (again.status_code, again.json()["version"]) == (200, 1)


def test_a_changed_call_becomes_version_2_and_version_1_is_kept(agency: Actor) -> None:
    agency.post("/calls", content=call_yaml(), headers=YAML)
    changed = agency.post("/calls", content=call_yaml(title="Test call, corrected"), headers=YAML)
    assert (changed.status_code, changed.json()["version"]) == (201, 2)
    assert agency.get(f"/calls/{CALL_ID}").json()["call"]["title"] == "Test call, corrected"
    assert agency.get(f"/calls/{CALL_ID}/versions/1").json()["call"]["title"] == "Test call"
    assert agency.get(f"/calls/{CALL_ID}/versions/3").status_code == 404


def test_an_upload_based_on_a_stale_version_is_refused(agency: Actor) -> None:
    agency.post("/calls", content=call_yaml(), headers=YAML)
    agency.post("/calls", content=call_yaml(title="v2"), headers={**YAML, "If-Match": '"1"'})
    stale = agency.post("/calls", content=call_yaml(title="v3"), headers={**YAML, "If-Match": '"1"'})
    assert (stale.status_code, stale.json()["current"]) == (412, 2)


def whole_points_call() -> str:
    """The same call scored in whole points: a half-point score given before is off its scale."""
    criteria = [{"id": c, "name": c.title(), "step": 1} for c in ("excellence", "impact", "implementation")]
    return call_yaml(criteria=criteria)


def test_a_version_that_cannot_read_the_scores_given_is_refused(world: World, agency: Actor, open_call: str) -> None:
    assign(agency, "P1", "E1")
    world.evaluator("E1").put(f"/calls/{CALL_ID}/proposals/P1/scores", json=sheet(4.5, 4, 4))
    response = agency.post("/calls", content=whole_points_call(), headers=YAML)
    assert response.status_code == 409
    assert "P1/E1: excellence score 4.50 is off the new scale" in response.json()["detail"]
    assert agency.get(f"/calls/{CALL_ID}").json()["version"] == 1


def test_calls_are_listed_a_page_at_a_time(agency: Actor) -> None:
    for n in range(3):
        agency.post("/calls", content=call_yaml(id=f"CALL-{n}"), headers=YAML)
    page = agency.get("/calls", params={"limit": 2, "offset": 1}).json()
    assert ([c["id"] for c in page["items"]], page["total"]) == (["CALL-1", "CALL-2"], 3)
    assert agency.get("/calls", params={"limit": 0}).status_code == 422


def test_the_assignment_policy_is_set_per_call_and_checked(agency: Actor, open_call: str) -> None:
    policy = {"same_country_conflict": True, "evaluators_per_proposal": 2, "max_load": 5}
    assert agency.put(f"/calls/{CALL_ID}/policy", json=policy).status_code == 200
    assert agency.get(f"/calls/{CALL_ID}/policy").json()["evaluators_per_proposal"] == 2
    bad = agency.put(f"/calls/{CALL_ID}/policy", json={"min_load": 6, "max_load": 5})
    assert bad.status_code == 422
    assert "min_load 6 is above max_load 5" in bad.json()["detail"]


def test_a_body_over_the_size_limit_is_refused_before_it_is_read(agency: Actor) -> None:
    response = agency.post("/calls", content=b"#" * (MAX_BODY_BYTES + 1), headers=YAML)
    assert (response.status_code, response.headers["content-type"]) == (413, "application/problem+json")


def test_a_chunked_body_over_the_size_limit_is_refused_once_read(agency: Actor) -> None:
    chunks = (b"#" * (1024 * 1024) for _ in range(MAX_BODY_BYTES // (1024 * 1024) + 1))
    response = agency.post("/calls", content=chunks, headers=YAML)
    assert (response.status_code, response.json()["title"]) == (413, "Body too large")


def test_a_version_adding_a_criterion_the_given_scores_lack_is_refused(
    world: World, agency: Actor, finance: Actor, open_call: str
) -> None:
    assign(agency, "P1", "E1")
    world.evaluator("E1").put(f"/calls/{CALL_ID}/proposals/P1/scores", json=sheet(4, 4, 4))
    criteria = call_yaml().split("criteria:\n", 1)[1].split("overall_threshold")[0]
    added = call_yaml().replace(criteria, criteria + "- {id: dissemination, name: Dissemination}\n")
    response = agency.post("/calls", content=added, headers=YAML)
    assert response.status_code == 409
    assert "P1/E1: no score for the new criterion 'dissemination'" in response.json()["detail"]
    assert finance.get(f"/calls/{CALL_ID}/ranking").status_code == 200


def test_a_version_that_cannot_read_the_consensus_given_is_refused(agency: Actor, open_call: str) -> None:
    agency.put(f"/calls/{CALL_ID}/proposals/P2/consensus", json=sheet(4.5, 4, 4))
    response = agency.post("/calls", content=whole_points_call(), headers=YAML)
    assert response.status_code == 409
    assert "P2/consensus: excellence score 4.50 is off the new scale" in response.json()["detail"]


def test_times_are_given_in_utc_on_every_database(agency: Actor) -> None:
    created = agency.post("/calls", content=call_yaml(), headers=YAML).json()["created_at"]
    listed = agency.get("/calls").json()["items"][0]["created_at"]
    read = agency.get(f"/calls/{CALL_ID}").json()["created_at"]
    assert all(t.endswith(("Z", "+00:00")) for t in (created, listed, read)), (created, listed, read)
