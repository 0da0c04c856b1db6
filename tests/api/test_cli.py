"""The server-side commands: tokens printed once and stored hashed, and a real ``grants serve``."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from api.auth import token_hash
from api.cli import app
from api.db.models import TokenRow
from api.db.session import Store
from tests.grants_cli import free_port

runner = CliRunner()
GRANTS = Path(sys.executable).parent / "grants"


def initialised(folder: Path) -> str:
    """A new database made by ``grants init``, as a user would make one."""
    url = f"sqlite:///{folder / 'grants.db'}"
    done = subprocess.run([GRANTS, "init", "--database", url], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return url


def test_a_token_is_printed_once_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    url = initialised(tmp_path)
    result = runner.invoke(app, ["token", "create", "--role", "finance", "--label", "treasury", "--database", url])
    token = result.output.strip()
    assert result.exit_code == 0 and token.startswith("grants_")
    with Store.open(url).session(write=False) as session:
        stored = session.execute(select(TokenRow)).scalar_one()
    assert (stored.token_hash, stored.role, stored.label) == (token_hash(token), "finance", "treasury")
    assert token not in stored.token_hash


def test_an_evaluator_token_needs_a_registered_evaluator(tmp_path: Path) -> None:
    url = initialised(tmp_path)
    unknown = runner.invoke(app, ["token", "create", "--role", "evaluator", "--evaluator", "E1", "--database", url])
    assert unknown.exit_code != 0
    assert "evaluator 'E1' is not registered" in str(unknown.exception)
    missing = runner.invoke(app, ["token", "create", "--role", "evaluator", "--database", url])
    assert "an evaluator token needs --evaluator ID" in str(missing.exception)


@pytest.mark.parametrize("command", [["audit", "verify"], ["token", "create", "--role", "finance"]])
def test_a_command_that_reads_the_store_refuses_a_database_that_does_not_exist(
    tmp_path: Path, command: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'nope.db'}"
    done = subprocess.run([GRANTS, *command, "--database", url], capture_output=True, text=True, check=False)
    assert done.returncode == 2, done.stdout
    assert f"no grants database at {url}; create it with: grants init --database {url}" in done.stderr
    assert not (tmp_path / "nope.db").exists()
    assert "Traceback" not in done.stderr


def test_a_command_that_reads_the_store_refuses_a_database_never_migrated(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    url = f"sqlite:///{empty}"
    done = subprocess.run([GRANTS, "audit", "verify", "--database", url], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert f"the database at {url} was never migrated" in done.stderr


def test_init_creates_the_database_that_audit_verify_then_reads(tmp_path: Path) -> None:
    url = initialised(tmp_path)
    done = subprocess.run([GRANTS, "audit", "verify", "--database", url], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout.strip()) == (
        0,
        "audit log intact: 0 entries, every hash chains, every governed row as logged",
    )


def test_grants_serve_migrates_a_new_database_and_answers(tmp_path: Path) -> None:
    port, db = free_port(), tmp_path / "served.db"
    command = [str(GRANTS), "serve", "--port", str(port), "--database", f"sqlite:///{db}"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/calls", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response.status_code == 401
        assert response.json()["title"] == "Missing or unknown API token"
        assert db.exists()
    finally:
        server.terminate()
        server.wait(timeout=10)
