"""The token life cycle: scope, expiry, revocation, last use, an agency's own grants, and guessing limited."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api import lockout
from api.app import create_app
from api.auth import Role
from api.db.models import AuditEntry, TokenRow
from api.db.session import Store
from api.lockout import MAX_FAILURES, FailedLogins
from tests.api.conftest import CALL_ID, Actor, World
from tests.grants_cli import grants


def test_grants_token_list_and_revoke_take_effect_on_the_next_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'grants.db'}"
    assert grants(capsys, monkeypatch, "init", "--database", url).code == 0
    created = grants(capsys, monkeypatch, "token", "create", "--role", "agency", "--agency", "acme", "--database", url)
    assert created.code == 0
    token = created.out.strip()
    client = TestClient(create_app(Store.open(url)))
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/calls", headers=headers).status_code == 200
    listed = grants(capsys, monkeypatch, "token", "list", "--json", "--database", url)
    [row] = json.loads(listed.out)
    assert (row["agency_id"], row["role"], row["call_id"], row["active"]) == ("acme", "agency", None, True)
    expires = dt.datetime.fromisoformat(row["expires_at"]) - dt.datetime.fromisoformat(row["created_at"])
    assert dt.timedelta(days=89) < expires <= dt.timedelta(days=90)
    assert row["last_used_at"] is not None
    assert token not in listed.out
    revoked = grants(capsys, monkeypatch, "token", "revoke", str(row["id"]), "--database", url)
    assert revoked.code == 0 and f"token {row['id']} revoked" in revoked.out
    refused = client.get("/calls", headers=headers)
    assert (refused.status_code, refused.json()["detail"]) == (401, f"API token {row['id']} was revoked")
    assert (
        json.loads(grants(capsys, monkeypatch, "token", "list", "--json", "--database", url).out)[0]["active"] is False
    )


def test_expires_takes_a_lifetime_a_date_or_never_and_refuses_the_past(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'grants.db'}"
    assert grants(capsys, monkeypatch, "init", "--database", url).code == 0
    for expires in ("12h", "2099-01-31", "never"):
        assert (
            grants(
                capsys, monkeypatch, "token", "create", "--role", "finance", "--expires", expires, "--database", url
            ).code
            == 0
        )
    expiries = [
        t["expires_at"]
        for t in json.loads(grants(capsys, monkeypatch, "token", "list", "--json", "--database", url).out)
    ]
    assert expiries[1].startswith("2099-01-31") and expiries[2] is None
    past = grants(
        capsys, monkeypatch, "token", "create", "--role", "finance", "--expires", "2001-01-01", "--database", url
    )
    assert (past.code, "expires: 2001-01-01 is already past" in past.err) == (2, True)
    wrong = grants(capsys, monkeypatch, "token", "create", "--role", "finance", "--expires", "soon", "--database", url)
    assert (wrong.code, "'soon' is not a date" in wrong.err) == (2, True)


def test_an_expired_token_is_refused(world: World) -> None:
    actor = world.actor(Role.agency)
    assert actor.get("/calls").status_code == 200
    with world.store.engine.begin() as conn:
        conn.execute(update(TokenRow).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    refused = actor.get("/calls")
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]


def test_an_agency_grants_lists_and_revokes_its_evaluators_tokens(world: World, agency: Actor, open_call: str) -> None:
    granted = agency.post(
        "/tokens", json={"role": "evaluator", "evaluator_id": "E1", "call_id": CALL_ID, "expires": "30d"}
    )
    assert granted.status_code == 201, granted.json()
    body = granted.json()
    assert (body["agency_id"], body["call_id"], body["evaluator_id"]) == ("main", CALL_ID, "E1")
    e1 = Actor(world.client, body["token"])
    assert e1.get(f"/calls/{CALL_ID}").status_code == 200
    assert [t["id"] for t in agency.get("/tokens").json()] == [1, body["id"]]
    assert "token" not in agency.get("/tokens").json()[1]
    rival = world.actor(Role.agency, agency="elsewhere")
    assert rival.delete(f"/tokens/{body['id']}").status_code == 404
    assert rival.post("/tokens", json={"role": "finance", "call_id": CALL_ID}).status_code == 404
    assert agency.post("/tokens", json={"role": "agency"}).status_code == 403
    assert agency.delete(f"/tokens/{body['id']}").status_code == 204
    assert e1.get(f"/calls/{CALL_ID}").status_code == 401
    assert any(e["action"] == "token.revoke" for e in agency.get("/audit", params={"limit": 500}).json()["items"])


def test_failed_authentications_are_limited_per_address_and_audited(world: World) -> None:
    agency = world.actor(Role.agency)
    guesser = Actor(world.client, "grants_guess")
    statuses = [guesser.get("/calls").status_code for _ in range(MAX_FAILURES + 2)]
    assert statuses == [401] * MAX_FAILURES + [429, 429]
    limited = agency.get("/calls")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    other_client = TestClient(world.client.app, client=("192.0.2.7", 50000))
    assert Actor(other_client, agency.headers["Authorization"].removeprefix("Bearer ")).get("/calls").status_code == 200
    with world.store.session(write=False) as session:
        actions = list(session.execute(select(AuditEntry.action).where(AuditEntry.action.like("auth.%"))).scalars())
    assert actions == ["auth.fail"] * (MAX_FAILURES - 1) + ["auth.lockout"]


def test_the_failure_count_forgets_addresses_whose_failures_left_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lockout, "MAX_ADDRESSES", 2)
    logins = FailedLogins(window=0.0)
    for n in range(50):
        logins.fail(f"192.0.2.{n}")
    assert len(logins._failures) <= 3
