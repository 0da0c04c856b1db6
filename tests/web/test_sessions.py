"""Web sessions: what the cookie carries, when it stops working, and what a form needs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api import sessions
from api.app import create_app
from api.auth import Role
from api.db.models import TokenRow, WebSession
from api.db.session import Store
from api.tokens import grant, revoke


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store.open(f"sqlite:///{tmp_path / 'grants.db'}")
    yield made
    made.engine.dispose()


def finance_token(store: Store) -> str:
    with store.session(write=True) as session:
        token = grant(session, "test", Role.finance).token
        session.commit()
    return token


def sign_in(client: TestClient, token: str) -> str:
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/sign-in").text)
    assert csrf is not None
    response = client.post("/sign-in", data={"token": token, "csrf": csrf[1]}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["set-cookie"]


def test_the_session_cookie_is_http_only_strict_and_secure_over_https(store: Store) -> None:
    plain = sign_in(TestClient(create_app(store)), finance_token(store))
    assert "HttpOnly" in plain and "SameSite=strict" in plain and "Secure" not in plain
    secure = sign_in(TestClient(create_app(store), base_url="https://testserver"), finance_token(store))
    assert "HttpOnly" in secure and "SameSite=strict" in secure and "Secure" in secure


def test_an_unknown_token_is_told_on_the_form_and_makes_no_session(store: Store) -> None:
    client = TestClient(create_app(store))
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/sign-in").text)
    assert csrf is not None
    response = client.post("/sign-in", data={"token": "grants_guess", "csrf": csrf[1]})
    assert response.status_code == 401 and "unknown API token" in response.text
    assert sessions.COOKIE not in client.cookies


def test_a_sign_in_form_without_its_csrf_token_is_refused(store: Store) -> None:
    client = TestClient(create_app(store))
    client.get("/sign-in")
    response = client.post("/sign-in", data={"token": finance_token(store)})
    assert response.status_code == 403 and sessions.COOKIE not in client.cookies


def test_revoking_the_token_ends_its_browser_sessions(store: Store) -> None:
    client = TestClient(create_app(store))
    token = finance_token(store)
    sign_in(client, token)
    assert client.get("/finance").status_code == 200
    with store.session(write=True) as session:
        row = session.execute(select(TokenRow).order_by(TokenRow.id.desc())).scalars().first()
        assert row is not None
        revoke(session, "test", row.id)
        session.commit()
    assert client.get("/finance", follow_redirects=False).headers["location"].startswith("/sign-in")


def test_a_forged_cookie_and_an_idle_session_are_not_sessions(store: Store) -> None:
    client = TestClient(create_app(store))
    sign_in(client, finance_token(store))
    cookie = client.cookies[sessions.COOKIE]
    session_id, _, signature = cookie.partition(".")
    with store.session(write=False) as session:
        assert sessions.signed_in(session, cookie) is not None
        assert sessions.signed_in(session, f"{session_id}.{'0' * len(signature)}") is None
        later = dt.datetime.now(dt.UTC) + sessions.IDLE + dt.timedelta(seconds=1)
        assert sessions.signed_in(session, cookie, now=later) is None
        stored = session.execute(select(WebSession.id_hash)).scalars().all()
    assert session_id not in stored and cookie not in stored, "only a hash of the session id is kept"
