"""Many clients scoring at once against a real uvicorn server: no write lost, none doubled.

Sixteen clients (two per score sheet) each read their sheet and replace it eight
times with If-Match. Every accepted write must be in the store and in the audit log
exactly once, with versions 1..n per sheet and no gap; every refused one must have
been told so (412/428) and must appear nowhere.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.auth import Role
from tests.api.conftest import (
    CALL_ID,
    YAML,
    Actor,
    World,
    assign,
    call_yaml,
    evaluator_profile,
    proposals_json,
    three_proposals,
)
from tests.api.test_cli import free_port

CLIENTS, ATTEMPTS = 16, 8
EVALUATORS, PROPOSALS = ("E1", "E2", "E3", "E4"), ("P1", "P2")


@dataclass
class Outcome:
    accepted: list[tuple[str, str, int, str]] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


@pytest.fixture
def server(world: World) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(world.store), host="127.0.0.1", port=port, log_level="warning")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    while not served.started:
        thread.join(0.05)
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    thread.join(10)


def scoring_client(base: str, token: str, evaluator: str, proposal: str, client_no: int, outcome: Outcome) -> None:
    url = f"{base}/calls/{CALL_ID}/proposals/{proposal}/scores"
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        for attempt in range(ATTEMPTS):
            mine = http.get(url).json()
            headers = {"If-Match": f'"{mine[0]["version"]}"'} if mine else {}
            note = f"client {client_no} attempt {attempt}"
            body = {"scores": {"excellence": 4, "impact": 3.5, "implementation": 4}, "comments": {"impact": note}}
            response = http.put(url, json=body, headers=headers)
            if response.status_code in (200, 201):
                outcome.accepted.append((evaluator, proposal, response.json()["version"], note))
            elif response.status_code in (412, 428) and "current" in response.json():
                outcome.refused.append((evaluator, proposal, note))
            else:
                outcome.unexpected.append(f"{response.status_code} {response.text}")


def test_concurrent_score_writes_are_each_kept_once_or_refused(
    world: World, agency: Actor, open_call: str, server: str
) -> None:
    for evaluator in EVALUATORS:
        for proposal in PROPOSALS:
            assign(agency, proposal, evaluator)
    tokens = {e: world.token(Role.evaluator, e) for e in EVALUATORS}
    outcome = Outcome()
    with ThreadPoolExecutor(CLIENTS) as pool:
        for n in range(CLIENTS):
            evaluator, proposal = EVALUATORS[n % 4], PROPOSALS[(n // 4) % 2]
            pool.submit(scoring_client, server, tokens[evaluator], evaluator, proposal, n, outcome)
    assert outcome.unexpected == []
    assert len(outcome.accepted) + len(outcome.refused) == CLIENTS * ATTEMPTS
    assert outcome.refused, "two clients per sheet never collided; the test proves nothing"
    versions = Counter((e, p) for e, p, _, _ in outcome.accepted)
    for (evaluator, proposal), accepted in versions.items():
        got = sorted(v for e, p, v, _ in outcome.accepted if (e, p) == (evaluator, proposal))
        assert got == list(range(1, accepted + 1)), f"{evaluator}/{proposal} versions {got}"
    audited = [
        e["after"]["comments"]["impact"]
        for e in agency.get("/audit", params={"limit": 500}).json()["items"]
        if e["action"] == "scores.put"
    ]
    assert Counter(audited) == Counter(note for *_, note in outcome.accepted)
    assert not {note for *_, note in outcome.refused} & set(audited)
    assert agency.get("/audit/verify").json()["ok"]


def test_the_same_upload_sent_at_once_by_eight_clients_is_stored_once_and_nobody_is_told_to_retry(
    world: World, agency: Actor, server: str
) -> None:
    token = world.token(Role.agency)
    agency.post("/calls", content=call_yaml(), headers=YAML)
    proposals = proposals_json(*three_proposals())
    profile = evaluator_profile("E9")

    def upload(_: int) -> tuple[int, int]:
        with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            return (
                http.post(f"/calls/{CALL_ID}/proposals", json=proposals).status_code,
                http.post("/evaluators", json=profile).status_code,
            )

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(upload, range(8)))
    assert [p for p, _ in answers] == [200] * 8, answers
    assert sorted(e for _, e in answers) == [200] * 7 + [201], answers
    actions = Counter(e["action"] for e in agency.get("/audit", params={"limit": 500}).json()["items"])
    assert (actions["proposal.upload"], actions["evaluator.register"]) == (3, 1)
