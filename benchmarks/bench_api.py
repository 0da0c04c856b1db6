"""Score submissions per second against ``grants serve``, next to a bare FastAPI endpoint.

Run by hand: ``python benchmarks/bench_api.py [--clients 50] [--requests 40] [--workers 1]``.
It starts ``grants serve`` on a fresh SQLite file and, when PostgreSQL answers at
``DATABASE_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), on
a fresh schema there (dropped afterwards); then a bare FastAPI endpoint that parses
the same body, served by the same uvicorn, as the yardstick. Each of the clients is
one evaluator replacing their own score sheets with If-Match (no contention, so
every write must succeed); the loops are bounded in count and time, on loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import numpy as np
import uvicorn
import yaml
from fastapi import FastAPI
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.auth import Role  # noqa: E402
from api.db.session import Store  # noqa: E402
from api.tokens import grant  # noqa: E402
from tests.factories import call, partner, proposal  # noqa: E402

GRANTS = Path(sys.executable).parent / "grants"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CALL_ID = "TEST-CALL"
SHEETS_PER_CLIENT = 4
TIME_LIMIT_SECONDS = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(f"{base}/openapi.json", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start within 60 s")


@contextmanager
def serving(command: list[str], port: int) -> Iterator[str]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


class BareSheet(BaseModel):
    scores: dict[str, Decimal | None]
    comments: dict[str, str] = {}


bare_app = FastAPI()


@bare_app.put("/calls/{call_id}/proposals/{proposal_id}/scores")
def bare_put_scores(call_id: str, proposal_id: str, sheet: BareSheet) -> BareSheet:
    """The yardstick: FastAPI parsing and answering the same body, with no store behind it."""
    return sheet


def seed(url: str, clients: int) -> dict[str, list[str]]:
    """A call, one evaluator per client each assigned SHEETS_PER_CLIENT proposals; returns token -> proposals."""
    store = Store.open(url)
    with store.session(write=True) as session:
        agency = grant(session, "bench", Role.agency).token
        session.commit()
    headers = {"Authorization": f"Bearer {agency}"}
    n_proposals = clients * SHEETS_PER_CLIENT // 3 + 1
    proposals = [
        proposal(
            f"P{i:04d}", [partner(f"Lead {i}", "AT", role="lead"), partner(f"B {i}", "SI"), partner(f"C {i}", "HU")]
        )
        for i in range(n_proposals)
    ]
    plan: dict[str, list[str]] = {}
    with httpx.Client(base_url=store_base(url), headers=headers, timeout=60) as http:
        call_text = yaml.safe_dump(call().model_dump(mode="json", exclude_none=True))
        http.post("/calls", content=call_text, headers={"content-type": "application/yaml"}).raise_for_status()
        body = [p.model_dump(mode="json", exclude_none=True) for p in proposals]
        http.post(f"/calls/{CALL_ID}/proposals", json=body).raise_for_status()
        http.post(f"/calls/{CALL_ID}/phase", json={"transition": "open_evaluation"}).raise_for_status()
        for c in range(clients):
            profile = {"id": f"E{c:03d}", "name": f"E{c}", "organisation": f"Uni {c}", "country": "FR"}
            http.post("/evaluators", json=profile).raise_for_status()
            mine = [proposals[(c * SHEETS_PER_CLIENT + k) // 3].id for k in range(SHEETS_PER_CLIENT)]
            mine = list(dict.fromkeys(mine))
            for proposal_id in mine:
                pair = {"proposal_id": proposal_id, "evaluator_id": f"E{c:03d}"}
                http.post(f"/calls/{CALL_ID}/assignments", json=pair).raise_for_status()
            with store.session(write=True) as session:
                token = grant(session, "bench", Role.evaluator, evaluator_id=f"E{c:03d}").token
                session.commit()
            plan[token] = mine
    store.engine.dispose()
    return plan


_BASES: dict[str, str] = {}


def store_base(url: str) -> str:
    return _BASES[url]


async def evaluator_client(
    base: str, token: str, versions: dict[str, int | None], requests: int, latencies: list[float]
) -> int:
    """Replace this evaluator's sheets round-robin, holding each sheet's version; returns failures."""
    proposals = list(versions)
    failures = 0
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        for n in range(requests):
            if time.monotonic() > deadline:
                break
            proposal_id = proposals[n % len(proposals)]
            version = versions[proposal_id]
            headers = {"If-Match": f'"{version}"'} if version else {}
            body = {"scores": {"excellence": 4, "impact": (n % 10) / 2, "implementation": 3}}
            start = time.perf_counter()
            response = await http.put(f"/calls/{CALL_ID}/proposals/{proposal_id}/scores", json=body, headers=headers)
            latencies.append(time.perf_counter() - start)
            if response.status_code in (200, 201):
                versions[proposal_id] = int(response.headers.get("etag", '"0"').strip('"')) or None
            else:
                failures += 1
    return failures


async def load(
    base: str, versions: dict[str, dict[str, int | None]], requests: int
) -> tuple[int, float, list[float], int]:
    latencies: list[float] = []
    start = time.perf_counter()
    failures = await asyncio.gather(
        *(evaluator_client(base, token, sheets, requests, latencies) for token, sheets in versions.items())
    )
    return len(latencies), time.perf_counter() - start, latencies, sum(failures)


def measure(label: str, base: str, plan: dict[str, list[str]], requests: int) -> tuple[str, float, float, float, int]:
    """One unmeasured pass that creates every sheet, then the measured submissions."""
    versions = {token: dict.fromkeys(proposals) for token, proposals in plan.items()}
    asyncio.run(load(base, versions, SHEETS_PER_CLIENT))
    count, elapsed, latencies, failures = asyncio.run(load(base, versions, requests))
    ms = np.array(latencies) * 1000
    return label, count / elapsed, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), failures


def postgres_schema_url() -> tuple[str, str] | None:
    """A URL on a fresh schema of the PostgreSQL server, or None when none answers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = os.environ.get("DATABASE_URL") or PG_DEFAULT
    if not base.startswith("postgresql"):
        return None
    schema = f"grants_bench_{secrets.token_hex(4)}"
    try:
        with create_engine(base, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL to measure
        print(f"PostgreSQL skipped: {exc.__class__.__name__}")
        return None
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    with create_engine(os.environ.get("DATABASE_URL") or PG_DEFAULT, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def bench_grants(label: str, url: str, args: argparse.Namespace) -> tuple[str, float, float, float, int]:
    port = free_port()
    command = [str(GRANTS), "serve", "--port", str(port), "--workers", str(args.workers), "--database", url]
    with serving(command, port) as base:
        _BASES[url] = base
        plan = seed(url, args.clients)
        return measure(label, base, plan, args.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40, help="score submissions per client")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        uvicorn.run(bare_app, host="127.0.0.1", port=args.bare_server, log_level="warning")
        return
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        rows.append(bench_grants("grants serve, SQLite", f"sqlite:///{folder}/bench.db", args))
    pg = postgres_schema_url()
    if pg is not None:
        try:
            rows.append(bench_grants("grants serve, PostgreSQL", pg[0], args))
        finally:
            drop_schema(pg[1])
    port = free_port()
    with serving([sys.executable, __file__, "--bare-server", str(port)], port) as base:
        plan = {f"bare-{c}": [f"P{c:04d}-{k}" for k in range(SHEETS_PER_CLIENT)] for c in range(args.clients)}
        bare = measure("bare FastAPI endpoint (yardstick)", base, plan, args.requests)
    print(f"{args.clients} concurrent clients x {args.requests} score submissions, uvicorn workers: {args.workers}")
    print(f"{'server':36} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7} {'vs bare':>8}")
    for label, rate, p50, p99, failed in [*rows, bare]:
        print(f"{label:36} {rate:11.0f} {p50:8.1f} {p99:8.1f} {failed:7d} {rate / bare[1]:8.2f}")


if __name__ == "__main__":
    main()
