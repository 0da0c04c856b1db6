"""The role x scope x endpoint matrix, generated from the routes and the permission table.

Every route of the OpenAPI document, and every web page, must have a row in
``PERMISSIONS`` and every row a route; each role is then sent to each route: a role
outside the row gets 403, a role inside it never gets 401 or 403; no token, or a wrong
one, gets 401 (a page sends the browser to sign in instead). Each role is sent again
with tokens of each scope: for the whole agency and for the call reach it; for another
agency, or another call of the same agency, the call does not exist.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response

from api import web
from api.auth import AGENCY_WIDE, PAGES, PERMISSIONS, PUBLIC_PAGES, Role
from api.lockout import FailedLogins
from tests.api.conftest import CALL_ID, YAML, Actor, World, assign, call_yaml, evaluator_profile, proposals_json
from tests.factories import partner, proposal

PATH_VALUES = {
    "call_id": CALL_ID,
    "proposal_id": "P1",
    "evaluator_id": "E1",
    "version": "1",
    "run_id": "1",
    "document": "index.html",
    "token_id": "999",
}
OTHER_CALL = "OTHER-CALL"
NOT_FOUND = f"no call {CALL_ID!r}"


def api_routes(world: World) -> set[tuple[str, str]]:
    paths = world.client.get("/openapi.json").json()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def concrete(path: str) -> str:
    return path.format(**PATH_VALUES)


def test_every_route_has_a_row_in_the_permission_table_and_every_row_a_route(world: World) -> None:
    routes = api_routes(world)
    assert routes - PERMISSIONS.keys() == set(), "routes without a permission row"
    assert PERMISSIONS.keys() - routes - PAGES.keys() == set(), "permission rows without a route"
    pages = page_routes()
    assert pages - PAGES.keys() - PUBLIC_PAGES == set(), "pages without a permission row"
    assert PAGES.keys() - pages == set(), "page rows without a page"


@pytest.fixture
def actors(world: World, agency: Actor, finance: Actor, open_call: str) -> dict[Role, Actor]:
    assign(agency, "P1", "E1")
    return {Role.agency: agency, Role.evaluator: world.evaluator("E1"), Role.finance: finance}


def test_each_role_reaches_exactly_the_endpoints_its_row_allows(world: World, actors: dict[Role, Actor]) -> None:
    wrong = []
    for method, path in sorted(api_routes(world)):
        for role, actor in actors.items():
            status = actor.request(method, concrete(path), json={}).status_code
            allowed = role in PERMISSIONS[(method, path)]
            if allowed and status in (401, 403) or not allowed and status != 403:
                wrong.append(f"{role} {method} {path}: {status} ({'allowed' if allowed else 'forbidden'})")
    assert wrong == []


def test_a_request_without_a_token_or_with_an_unknown_one_is_unauthorised(world: World, open_call: str) -> None:
    world.client.app.state.failed_logins = FailedLogins(max_failures=10**6)  # type: ignore[attr-defined]
    for method, path in sorted(api_routes(world)):
        anonymous = world.client.request(method, concrete(path), json={})
        forged = world.client.request(
            method, concrete(path), json={}, headers={"Authorization": "Bearer grants_forged"}
        )
        assert (anonymous.status_code, forged.status_code) == (401, 401), f"{method} {path}"
        assert anonymous.headers["content-type"] == "application/problem+json"
        assert anonymous.headers["www-authenticate"] == "Bearer"


def test_an_evaluator_cannot_see_a_proposal_assigned_to_someone_else(world: World, actors: dict[Role, Actor]) -> None:
    other = world.evaluator("E2")
    assert other.get(f"/calls/{CALL_ID}/proposals/P1").status_code == 404
    assert other.put(f"/calls/{CALL_ID}/proposals/P1/scores", json={"scores": {}}).status_code == 404
    assert other.get(f"/calls/{CALL_ID}/proposals").json()["total"] == 0
    assert actors[Role.evaluator].get(f"/calls/{CALL_ID}/proposals").json()["total"] == 1


def test_an_evaluator_reads_only_their_own_profile(world: World, actors: dict[Role, Actor]) -> None:
    assert actors[Role.evaluator].get("/evaluators/E1").status_code == 200
    assert actors[Role.evaluator].get("/evaluators/E2").status_code == 404


def _reached(response: Response) -> bool:
    """Not refused for the token: neither 401 nor 403, nor the 404 of a call that is not the caller's."""
    status = response.status_code
    return status not in (401, 403) and not (status == 404 and NOT_FOUND in response.json().get("detail", ""))


def test_each_token_scope_reaches_its_agency_and_its_call_and_nothing_else(
    world: World, agency: Actor, open_call: str
) -> None:
    assert agency.post("/calls", content=call_yaml(id=OTHER_CALL), headers=YAML).status_code == 201
    assign(agency, "P1", "E1")
    rival = world.actor(Role.agency, agency="elsewhere")
    assert rival.post("/evaluators", json=evaluator_profile("R1")).status_code == 201
    evaluators = {"main": "E1", "elsewhere": "R1"}
    scopes: dict[str, tuple[str, str | None]] = {
        "agency-wide": ("main", None),
        "this call": ("main", CALL_ID),
        "another call": ("main", OTHER_CALL),
        "another agency": ("elsewhere", None),
    }
    wrong = []
    for method, path in sorted(api_routes(world)):
        for role in PERMISSIONS[(method, path)]:
            for scope, (agency_id, call_id) in scopes.items():
                evaluator = evaluators[agency_id] if role is Role.evaluator else None
                actor = world.actor(role, evaluator, agency_id, call_id)
                response = actor.request(method, concrete(path), json={})
                if "{call_id}" in path:
                    expected = scope in ("agency-wide", "this call")
                    if _reached(response) != expected:
                        wrong.append(f"{role} ({scope}) {method} {path}: {response.status_code}")
                elif call_id and (method, path) in AGENCY_WIDE and response.status_code != 403:
                    wrong.append(f"{role} ({scope}) {method} {path}: {response.status_code}, not 403")
    assert wrong == []


def test_another_agency_cannot_change_or_read_a_call_it_did_not_create(world: World, open_call: str) -> None:
    rival = world.actor(Role.agency, agency="elsewhere")
    assert rival.get("/calls").json()["total"] == 0
    again = rival.post("/calls", content=call_yaml(title="Taken over"), headers=YAML)
    assert (again.status_code, NOT_FOUND in again.json()["detail"]) == (404, True)
    for method, path in [("PUT", "/policy"), ("GET", "/proposals/P1"), ("DELETE", "/assignments/P1/E1")]:
        assert rival.request(method, f"/calls/{CALL_ID}{path}", json={}).status_code == 404


def test_an_evaluator_token_for_one_call_does_not_reach_a_second_call_it_is_assigned_in(
    world: World, agency: Actor, open_call: str
) -> None:
    scoped = world.actor(Role.evaluator, "E1", call=CALL_ID)
    assert agency.post("/calls", content=call_yaml(id=OTHER_CALL), headers=YAML).status_code == 201
    assert [c["id"] for c in scoped.get("/calls").json()["items"]] == [CALL_ID]
    assert scoped.get(f"/calls/{OTHER_CALL}").status_code == 404
    assert world.actor(Role.evaluator, "E1").get(f"/calls/{OTHER_CALL}").status_code == 200


def test_an_agency_reads_only_the_audit_entries_of_its_own_calls_and_tokens(
    world: World, agency: Actor, open_call: str
) -> None:
    rival = world.actor(Role.agency, agency="elsewhere")
    assert rival.post("/calls", content=call_yaml(id="RIVAL_%"), headers=YAML).status_code == 201
    theirs = [e["target"] for e in rival.get("/audit", params={"limit": 500}).json()["items"]]
    ours = [e["target"] for e in agency.get("/audit", params={"limit": 500}).json()["items"]]
    assert theirs == ["token/2", "call/RIVAL_%/v1"]
    assert f"call/{CALL_ID}/v1" in ours and not any("RIVAL" in t for t in ours)


def test_each_agency_has_its_own_register_of_evaluators(world: World, agency: Actor, open_call: str) -> None:
    rival = world.actor(Role.agency, agency="elsewhere")
    assert rival.get("/evaluators").json()["total"] == 0
    assert rival.get("/evaluators/E1").status_code == 404
    taken = rival.post("/evaluators", json=evaluator_profile("E1"))
    assert taken.status_code == 409
    assert rival.post("/tokens", json={"role": "evaluator", "evaluator_id": "E1"}).status_code == 404
    assert rival.post("/calls", content=call_yaml(id=OTHER_CALL), headers=YAML).status_code == 201
    e1s_university = [proposal("R-P1", [partner("University E1", "AT", role="lead"), partner("Linz Net", "AT")])]
    assert rival.post(f"/calls/{OTHER_CALL}/proposals", json=proposals_json(*e1s_university)).status_code == 200
    assert rival.get(f"/calls/{OTHER_CALL}/conflicts").json()["total"] == 0
    assert agency.post("/calls", content=call_yaml(id="OURS"), headers=YAML).status_code == 201
    assert agency.post("/calls/OURS/proposals", json=proposals_json(*e1s_university)).status_code == 200
    assert [c["evaluator_id"] for c in agency.get("/calls/OURS/conflicts").json()["items"]] == ["E1"]
    assert agency.get("/evaluators").json()["total"] == 4


SIGN_OUT = ("POST", "/sign-out")


def page_routes() -> set[tuple[str, str]]:
    routes = [r for module in web.ROUTERS for r in module.router.routes if isinstance(r, APIRoute)]
    return {(method, route.path) for route in routes for method in route.methods or ()}


def signed_in(world: World, token: str) -> tuple[TestClient, str]:
    """A browser signed in with this token, and the CSRF token its forms carry."""
    browser = TestClient(world.client.app)
    form = browser.get("/sign-in").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    assert browser.post("/sign-in", data={"token": token, "csrf": csrf[1]}, follow_redirects=False).status_code == 303
    home = browser.get("/").text
    session_csrf = re.search(r'name="csrf" value="([^"]+)"', home)
    assert session_csrf is not None
    return browser, session_csrf[1]


def test_each_role_reaches_exactly_the_pages_its_row_allows(world: World, actors: dict[Role, Actor]) -> None:
    browsers = {role: signed_in(world, actor.headers["Authorization"].split()[1]) for role, actor in actors.items()}
    wrong = []
    for method, path in sorted(PAGES.keys() - {SIGN_OUT}):
        for role, (browser, csrf) in browsers.items():
            data = {"csrf": csrf} if method == "POST" else None
            response = browser.request(method, concrete(path), data=data, follow_redirects=False)
            allowed = role in PAGES[(method, path)]
            refused = response.status_code == 403 or response.headers.get("location", "").startswith("/sign-in")
            if allowed == refused:
                wrong.append(
                    f"{role} {method} {path}: {response.status_code} ({'allowed' if allowed else 'forbidden'})"
                )
    assert wrong == []
    for browser, csrf in browsers.values():
        assert browser.post("/sign-out", data={"csrf": csrf}, follow_redirects=False).status_code == 303
        assert browser.get("/", follow_redirects=False).headers["location"].startswith("/sign-in")


def test_a_page_without_a_session_sends_the_browser_to_sign_in(world: World, open_call: str) -> None:
    for method, path in sorted(PAGES):
        response = TestClient(world.client.app).request(method, concrete(path), follow_redirects=False)
        assert response.status_code == 303, f"{method} {path}"
        assert response.headers["location"].startswith("/sign-in?next="), f"{method} {path}"
