"""Evaluators write scores to a real server, which is killed with SIGKILL at a random moment and restarted.

Every acknowledged write must then be stored exactly once (its sheet at that version
or, if a write was in flight at the kill, the one after), every refused one absent,
the audit chain intact and the tables exactly what the log says. Runs on SQLite and
PostgreSQL; the writers stop at the kill, so the whole test takes seconds.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from api import audit
from api.auth import Role
from api.db.models import AuditEntry, ProposalRow, Score, ScoreSheet
from api.db.session import Store
from tests.api.conftest import (
    CALL_ID,
    YAML,
    World,
    assign,
    call_yaml,
    evaluator_profile,
    move,
    proposals_json,
    three_proposals,
)

KEY = "crash-test audit key"
PORT = 8213
GRANTS = Path(sys.executable).parent / "grants"
EVALUATORS = ("E1", "E2", "E3", "E4")
PROPOSALS = ("P1", "P2", "P3")
REFUSED_MARK = "refused-"
VALUES = [Decimal(v) / 2 for v in range(11)]
WARM_UP_WRITES = 12  # acknowledged before the random moment of the kill is drawn


@dataclass
class Ledger:
    """What the writers were told: acknowledged versions with their scores, refusals, writes cut off by the kill."""

    acknowledged: dict[tuple[str, str], dict[int, str]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    in_flight: set[tuple[str, str]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def server(url: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, audit.KEY_VARIABLE: KEY}
    command = [str(GRANTS), "serve", "--port", str(PORT), "--database", url]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            try:
                httpx.get(f"http://127.0.0.1:{PORT}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def prepared(store: Store) -> dict[str, str]:
    """The test call open for evaluation, every evaluator on every proposal; their tokens."""
    world = World(Store(store.engine, audit_key=KEY.encode()))
    agency = world.actor(Role.agency)
    assert agency.post("/calls", content=call_yaml(), headers=YAML).status_code == 201
    assert agency.post(f"/calls/{CALL_ID}/proposals", json=proposals_json(*three_proposals())).status_code == 200
    for evaluator in EVALUATORS:
        assert agency.post("/evaluators", json=evaluator_profile(evaluator)).status_code == 201
    move(agency, "open_evaluation")
    for proposal in PROPOSALS:
        for evaluator in EVALUATORS:
            assign(agency, proposal, evaluator)
    return {evaluator: world.token(Role.evaluator, evaluator) for evaluator in EVALUATORS}


def body(value: Decimal, comment: str = "") -> dict[str, Any]:
    scores = {"excellence": str(value), "impact": "3", "implementation": "3"}
    return {"scores": scores, "comments": {"impact": comment} if comment else {}}


def write_until_killed(evaluator: str, token: str, ledger: Ledger, seed: int) -> None:
    """Replace this evaluator's sheets in turn; every other write first tries a stale version, which must fail."""
    rng = random.Random(seed)
    versions = dict.fromkeys(PROPOSALS, 0)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", headers=headers, timeout=10) as client:
        for n in range(100_000):
            proposal = PROPOSALS[n % len(PROPOSALS)]
            url = f"/calls/{CALL_ID}/proposals/{proposal}/scores"
            key = (proposal, evaluator)
            try:
                if versions[proposal] and n % 2 == 1:
                    mark = f"{REFUSED_MARK}{evaluator}-{n}"
                    stale = client.put(url, json=body(VALUES[0], mark), headers={"If-Match": '"999"'})
                    assert stale.status_code == 412, stale.text
                    with ledger.lock:
                        ledger.refused.append(mark)
                value = rng.choice(VALUES)
                if_match = {"If-Match": f'"{versions[proposal]}"'} if versions[proposal] else {}
                with ledger.lock:
                    ledger.in_flight.add(key)
                answer = client.put(url, json=body(value), headers=if_match)
            except httpx.TransportError:
                return
            assert answer.status_code in (200, 201), answer.text
            versions[proposal] = int(answer.headers["ETag"].strip('"'))
            with ledger.lock:
                ledger.in_flight.discard(key)
                ledger.acknowledged.setdefault(key, {})[versions[proposal]] = str(value.quantize(Decimal("0.01")))


def stored(store: Store) -> tuple[dict[tuple[str, str], tuple[int, str]], list[AuditEntry]]:
    with store.session(write=False) as session:
        rows = session.execute(
            select(ProposalRow.code, ScoreSheet.evaluator_id, ScoreSheet.version, Score.value)
            .join(ScoreSheet, ScoreSheet.proposal_id == ProposalRow.id)
            .join(Score, Score.sheet_id == ScoreSheet.id)
            .where(Score.criterion == "excellence")
        )
        sheets = {(code, evaluator): (version, str(value)) for code, evaluator, version, value in rows}
        entries = list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
    return sheets, entries


def test_every_acknowledged_score_survives_a_kill_9_exactly_once(store: Store) -> None:
    started = time.monotonic()
    tokens = prepared(store)
    url = store.engine.url.render_as_string(hide_password=False)
    store.engine.dispose()
    ledger = Ledger()
    with server(url) as process:
        writers = [
            threading.Thread(target=write_until_killed, args=(e, tokens[e], ledger, i))
            for i, e in enumerate(EVALUATORS)
        ]
        for writer in writers:
            writer.start()
        warm_up = time.monotonic() + 20
        while sum(len(v) for v in ledger.acknowledged.values()) < WARM_UP_WRITES and time.monotonic() < warm_up:
            time.sleep(0.05)
        time.sleep(random.uniform(0, 1))
        process.send_signal(signal.SIGKILL)
        for writer in writers:
            writer.join(timeout=30)
    assert sum(len(v) for v in ledger.acknowledged.values()) > 0, "no write was acknowledged before the kill"
    with server(url):
        pass  # restarted: the store opens, recovers and migrates as after any crash
    sheets, entries = stored(store)
    for key, versions in ledger.acknowledged.items():
        version, value = sheets[key]
        last = max(versions)
        assert version in (last, last + 1), f"{key}: stored version {version}, acknowledged up to {last}"
        if version == last:
            assert value == versions[last], f"{key}: {value} stored, {versions[last]} acknowledged"
        else:
            assert key in ledger.in_flight, f"{key}: version {version} was never sent"
        target = f"call/{CALL_ID}/proposal/{key[0]}/evaluator/{key[1]}"
        logged = [(e.after or {})["version"] for e in entries if e.action == "scores.put" and e.target == target]
        assert logged == list(range(1, version + 1)), f"{key}: the log holds versions {logged}"
    text = json.dumps([e.after for e in entries])
    assert ledger.refused and not any(mark in text for mark in ledger.refused)
    with Store(store.engine, audit_key=KEY.encode()).session(write=False) as session:
        report = audit.verify(session)
    assert report.ok and report.keyed, report.problems
    elapsed = time.monotonic() - started
    acknowledged = sum(len(v) for v in ledger.acknowledged.values())
    counts = f"{acknowledged} acknowledged, {len(ledger.refused)} refused, {len(ledger.in_flight)} in flight"
    print(f"{counts}; {elapsed:.1f} s")
    assert elapsed < 60
