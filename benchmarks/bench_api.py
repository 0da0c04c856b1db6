"""Score writes against ``grants serve``, driven by wrk, next to a bare FastAPI endpoint in the same run.

Run by hand from the root: ``python -m benchmarks.bench_api [--connections 50] [--seconds 15] [--rounds 3]``.
It needs ``wrk`` (Debian: ``apt-get install wrk``): a Python client saturates near 220
requests/s on 2 cores, so it would measure itself rather than a fast server.

Each round starts ``grants serve`` as a subprocess on a fresh SQLite file, on a fresh
PostgreSQL schema (``--postgres``, default ``$DATABASE_URL`` or a ``grants_bench`` database
on 127.0.0.1, created if missing), and on PostgreSQL again with ``--workers 2``; seeds a
call with one evaluator per connection, each assigned ``SHEETS_PER_EVALUATOR`` proposals
with a first sheet written; then wrk's 50 connections replace those sheets with distinct
valid scores under each evaluator's own token (``If-Match: *``, so no write is refused
for a version race). The server's CPU (user + system of the serving process and its
workers, from ``/proc/<pid>/stat`` before and after) is divided by the requests wrk
completed. The yardstick in the same round is a bare FastAPI endpoint under the same
uvicorn and listeners (``api.listeners``), parsing the same body with the same pydantic model
(:class:`api.evaluation.SheetIn`) and returning it, driven by the same wrk script: flat out,
then paced to the server's own rate, since its CPU per request rises as its rate falls.

The server is this tree's code (``grants`` run with this tree first on the path, not whatever
the venv's ``grants`` script imports); ``--against TREE`` serves another tree's code (main's
checkout, say) beside it in each round, on its own fresh database, so a change is compared
with its base under the same load of the shared machine.

After each run the database is checked: every write wrk saw answered is stored (the sheets'
versions add up to it, give or take the requests in flight when wrk stopped), each
stored write has exactly one ``scores.put`` audit entry, and ``grants audit verify``
(the chain and its replay against the tables) passes.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from fastapi import FastAPI
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api import listeners  # noqa: E402
from api.auth import Role  # noqa: E402
from api.db.models import AuditEntry, ScoreSheet  # noqa: E402
from api.db.session import Store  # noqa: E402
from api.evaluation import SheetIn  # noqa: E402
from api.tokens import grant  # noqa: E402
from tests.factories import call, partner, proposal  # noqa: E402
from tests.grants_cli import free_port  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/grants_bench"
CALL_ID = "TEST-CALL"
SHEETS_PER_EVALUATOR = 4
WRK_THREADS = 2
WARM_UP_VISITS = 10_000  # more visits of each sheet than a warm-up makes
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SCORE_PATH = "/calls/" + CALL_ID + "/proposals/{proposal}/scores"

WRK_SCRIPT = """
-- One (token, proposal) pair per sheet; thread t sends the pairs i with i %% threads == t, so two
-- threads never write one sheet, and a sheet's successive writes carry different scores.
local sheets = {%(sheets)s}
local threads_started = 0
counter = 0

function setup(thread)
  thread:set("id", threads_started)
  thread:set("threads", %(threads)d)
  threads_started = threads_started + 1
end

function init(args)
  first_visit = tonumber(args[1])  -- each run starts at its own visit, so no write repeats an earlier one
end

function request()
  local i = id + counter * threads + first_visit * #sheets
  counter = counter + 1
  local sheet = sheets[(i %% #sheets) + 1]
  local visit = math.floor(i / #sheets)
  local body = string.format(
    '{"scores":{"excellence":%%d,"impact":%%s,"implementation":%%d},"comments":{"impact":"visit %%d"}}',
    visit %% 6, (visit %% 11) / 2, 5 - visit %% 6, visit)
  local headers = {
    ["Authorization"] = "Bearer " .. sheet[1],
    ["Content-Type"] = "application/json",
    ["If-Match"] = "*",
  }
  return wrk.format("PUT", sheet[2], headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRK {"requests":%%d,"seconds":%%f,"p50_us":%%d,"p99_us":%%d,"status_errors":%%d,"socket_errors":%%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""

bare_app = FastAPI()


@bare_app.put("/calls/{call_id}/proposals/{proposal_id}/scores")
def bare_put_scores(call_id: str, proposal_id: str, sheet: SheetIn) -> SheetIn:
    """The yardstick: FastAPI parsing and answering the same body with the same model, no store behind it."""
    return sheet


@dataclass(frozen=True)
class Run:
    """What one wrk run measured: throughput, latency, and the server's CPU per request."""

    requests: int
    answered: int  # the warm-up's requests and the measured ones: what the store must hold
    per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    failed: int


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
def serving(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """The server's base URL while ``command`` serves on ``port`` (bench_web uses it too)."""
    with serving_process(command, port, env) as (base, _):
        yield base


@contextmanager
def serving_process(
    command: list[str], port: int, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def process_tree_cpu(root: int) -> float:
    """Seconds of user + system CPU of ``root`` and every live descendant (uvicorn's workers)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0.0) for pid in tree)


def wrk(base: str, script: Path, connections: int, seconds: int, first_visit: int) -> dict[str, float]:
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s", str(script)]
    output = subprocess.run([*command, base, "--", str(first_visit)], capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK "))
    found: dict[str, float] = json.loads(line[4:])
    return found


def measure(base: str, pid: int, script: Path, args: argparse.Namespace) -> Run:
    """A short unmeasured warm-up, then ``args.seconds`` of wrk with the server's CPU read around it."""
    warm_up = wrk(base, script, args.connections, 2, first_visit=0)
    before = process_tree_cpu(pid)
    found = wrk(base, script, args.connections, args.seconds, first_visit=WARM_UP_VISITS)
    cpu = process_tree_cpu(pid) - before
    requests = int(found["requests"])
    return Run(
        requests=requests,
        answered=requests + int(warm_up["requests"]),
        per_second=requests / found["seconds"],
        p50_ms=found["p50_us"] / 1000,
        p99_ms=found["p99_us"] / 1000,
        cpu_ms=1000 * cpu / max(requests, 1),
        failed=int(sum(run[kind] for run in (warm_up, found) for kind in ("status_errors", "socket_errors"))),
    )


def write_script(folder: Path, sheets: list[tuple[str, str]], pause_ms: int = 0) -> Path:
    """wrk's script for these sheets; with ``pause_ms``, each connection waits that long before each request."""
    pairs = ",".join(f'{{"{token}","{SCORE_PATH.format(proposal=p)}"}}' for token, p in sheets)
    script = folder / f"scores-{pause_ms}.lua"
    pause = f"\nfunction delay()\n  return {pause_ms}\nend\n" if pause_ms else ""
    script.write_text(WRK_SCRIPT % {"sheets": pairs, "threads": WRK_THREADS} + pause)
    return script


def seed(base: str, url: str, evaluators: int) -> list[tuple[str, str]]:
    """A call, evaluators each assigned SHEETS_PER_EVALUATOR proposals with a first sheet; (token, proposal) pairs."""
    store = Store.open(url)
    with store.session(write=True) as session:
        agency = grant(session, "bench", Role.agency).token
        session.commit()
    n_proposals = max(evaluators * SHEETS_PER_EVALUATOR // 3, SHEETS_PER_EVALUATOR)  # three evaluators each
    proposals = [
        proposal(
            f"P{i:04d}", [partner(f"Lead {i}", "AT", role="lead"), partner(f"B {i}", "SI"), partner(f"C {i}", "HU")]
        )
        for i in range(n_proposals)
    ]
    sheets: list[tuple[str, str]] = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {agency}"}, timeout=60) as http:
        call_text = yaml.safe_dump(call().model_dump(mode="json", exclude_none=True))
        http.post("/calls", content=call_text, headers={"content-type": "application/yaml"}).raise_for_status()
        body = [p.model_dump(mode="json", exclude_none=True) for p in proposals]
        http.post(f"/calls/{CALL_ID}/proposals", json=body).raise_for_status()
        http.post(f"/calls/{CALL_ID}/phase", json={"transition": "open_evaluation"}).raise_for_status()
        for c in range(evaluators):
            evaluator = f"E{c:03d}"
            profile = {"id": evaluator, "name": evaluator, "organisation": f"Uni {c}", "country": "FR"}
            http.post("/evaluators", json=profile).raise_for_status()
            with store.session(write=True) as session:
                token = grant(session, "bench", Role.evaluator, evaluator_id=evaluator).token
                session.commit()
            for k in range(SHEETS_PER_EVALUATOR):
                code = proposals[(c * SHEETS_PER_EVALUATOR + k) % n_proposals].id  # distinct for one evaluator
                pair = {"proposal_id": code, "evaluator_id": evaluator}
                http.post(f"/calls/{CALL_ID}/assignments", json=pair).raise_for_status()
                first = {"scores": {"excellence": 3, "impact": 3, "implementation": 3}}
                own = {"Authorization": f"Bearer {token}"}
                http.put(SCORE_PATH.format(proposal=code), json=first, headers=own).raise_for_status()
                sheets.append((token, code))
    store.engine.dispose()
    return sheets


def grants(tree: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """A ``grants`` command line running ``tree``'s code, and the environment it needs for that.

    The venv's ``grants`` script imports the package it was installed from; ``-P`` and
    ``PYTHONPATH`` make ``tree`` the first place ``api`` is found, in uvicorn's workers too.
    """
    command = [sys.executable, "-P", "-c", "from api.cli import run; run()", *args]
    return command, {"PYTHONPATH": str(tree)}


def check_stored(url: str, run: Run, connections: int, sheets: int, tree: Path) -> str:
    """Every answered write stored once with one audit entry, and ``grants audit verify`` passes; else raise."""
    engine = create_engine(url)
    with engine.connect() as conn:
        versions = conn.execute(select(func.sum(ScoreSheet.version))).scalar_one()
        entries = conn.execute(select(func.count()).where(AuditEntry.action == "scores.put")).scalar_one()
    engine.dispose()
    stored = int(versions) - sheets  # each sheet's first version was the seed's
    problems = []
    if entries != int(versions):
        problems.append(f"{entries} scores.put audit entries for {versions} stored versions")
    if run.failed or not run.answered <= stored <= run.answered + 2 * connections:  # two wrk runs' last requests
        problems.append(f"wrk saw {run.answered} answered ({run.failed} failed), {stored} writes stored")
    command, env = grants(tree, "audit", "verify", "--database", url)
    verify = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
    if verify.returncode != 0:
        problems.append(f"grants audit verify: {verify.stdout.strip()[:500]}")
    if problems:
        raise RuntimeError("; ".join(problems))
    return f"{stored} writes stored, {entries} entries, {verify.stdout.strip()}"


def postgres_schema(base: str) -> tuple[str, str]:
    """A URL on a fresh schema of the PostgreSQL database ``base`` names (created if missing), and the schema."""
    database = make_url(base).database
    maintenance = make_url(base).set(database="postgres")
    with create_engine(maintenance, isolation_level="AUTOCOMMIT").connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
    schema = f"grants_bench_{secrets.token_hex(4)}"
    with create_engine(base, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_schema(base: str, schema: str) -> None:
    with create_engine(base, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def bench_grants(url: str, workers: int, folder: Path, args: argparse.Namespace, tree: Path) -> tuple[Run, str]:
    port = free_port()
    command, env = grants(tree, "serve", "--port", str(port), "--workers", str(workers), "--database", url)
    with serving_process(command, port, env) as (base, process):
        sheets = seed(base, url, args.connections)
        run = measure(base, process.pid, write_script(folder, sheets), args)
    return run, check_stored(url, run, args.connections, len(sheets), tree)


def bench_target(database: str, workers: int, args: argparse.Namespace, tree: Path) -> tuple[Run, str]:
    """``tree``'s server on a fresh store of ``database`` (a SQLite file, or a PostgreSQL schema dropped after)."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if database == "SQLite":
            return bench_grants(f"sqlite:///{folder}/bench.db", workers, folder, args, tree)
        url, schema = postgres_schema(args.postgres)
        try:
            return bench_grants(url, workers, folder, args, tree)
        finally:
            drop_schema(args.postgres, schema)


def bench_bare(workers: int, folder: Path, args: argparse.Namespace, rate: float) -> tuple[Run, Run]:
    """The bare endpoint driven flat out, then paced to about ``rate`` requests/s (the server's, same round).

    An asyncio server's CPU per request falls as its load rises (each wake-up reads more
    requests): the bare endpoint took 0.75 ms a request at 2,400 requests/s and 1.57 ms at
    265 on one machine. So it is measured at the server's own rate too, each connection
    pausing between requests. A connection's cycle is its pause and its answer's wait, so
    a first short run at a pause of the whole cycle measures the wait, and the pause is
    shortened by it; the row says how close to the rate it came.
    """
    port = free_port()
    sheets = [(f"bare-{c}", f"P{c:04d}") for c in range(args.connections * SHEETS_PER_EVALUATOR)]
    command = [sys.executable, "-m", "benchmarks.bench_api", "--bare-server", str(port), "--workers", str(workers)]
    cycle_ms = 1000 * args.connections / max(rate, 1.0)
    with serving_process(command, port) as (base, process):
        flat_out = measure(base, process.pid, write_script(folder, sheets), args)
        trial = wrk(base, write_script(folder, sheets, round(cycle_ms)), args.connections, 3, first_visit=0)
        wait_ms = 1000 * args.connections * trial["seconds"] / max(trial["requests"], 1) - round(cycle_ms)
        paced = measure(base, process.pid, write_script(folder, sheets, max(1, round(cycle_ms - wait_ms))), args)
    return flat_out, paced


TARGETS = (("SQLite", 1), ("PostgreSQL", 1), ("PostgreSQL", 2))


@dataclass(frozen=True)
class Round:
    """One target's runs in a round: the server, the bare endpoint (flat out, at the server's rate), the other tree."""

    run: Run
    bare: Run
    paced: Run
    against: Run | None


def one_round(args: argparse.Namespace) -> dict[str, Round]:
    """Each target beside the bare endpoint with the same worker count (and ``--against``'s server), in this round."""
    found: dict[str, Round] = {}
    for database, workers in TARGETS:
        label = f"{database}, {workers} worker{'s' if workers > 1 else ''}"
        run, stored = bench_target(database, workers, args, ROOT)
        print(f"  {label}: {run}\n    {stored}", flush=True)
        against = None
        if args.against is not None:
            against, stored = bench_target(database, workers, args, args.against)
            print(f"    against {args.against}: {against}\n    {stored}", flush=True)
        with tempfile.TemporaryDirectory() as name:
            bare, paced = bench_bare(workers, Path(name), args, run.per_second)
        print(f"    bare: {bare}\n    bare at the server's rate: {paced}", flush=True)
        found[label] = Round(run, bare, paced, against)
    return found


def spread(values: list[float], digits: int = 1) -> str:
    middle = statistics.median(values)
    return f"{middle:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50, help="wrk connections, one evaluator each")
    parser.add_argument("--seconds", type=int, default=15, help="measured seconds of wrk per server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("DATABASE_URL") or PG_DEFAULT)
    parser.add_argument("--against", type=Path, help="another tree whose server runs beside this one in each round")
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        sockets = listeners.worker_sockets("127.0.0.1", args.bare_server, args.workers)
        listeners.run("benchmarks.bench_api:bare_app", "127.0.0.1", args.bare_server, sockets, args.workers)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    rounds = []
    for n in range(args.rounds):
        print(f"round {n + 1} of {args.rounds}", flush=True)
        rounds.append(one_round(args))
    print(f"\nscore writes, wrk {WRK_THREADS} threads x {args.connections} connections, {args.seconds} s;")
    print(f"median (min-max) of {args.rounds} rounds, each server beside a bare endpoint measured in the same round")
    header = f"{'grants serve on':22} {'requests/s':>16} {'p50 ms':>18} {'p99 ms':>18}"
    print(f"{header} {'CPU ms/write':>16} {'bare CPU ms/req':>16} {'CPU ratio':>16}")
    for label in rounds[0]:
        found = [r[label] for r in rounds]
        print_row(label, [f.run for f in found], [f.bare for f in found])
        print_row("  bare at its rate", [f.paced for f in found], [f.paced for f in found], ratio=False)
        print_row("  ratio at that rate", [f.run for f in found], [f.paced for f in found], numbers=False)
        pairs = [(f.run, f.against) for f in found if f.against is not None]
        if pairs:
            print_row("  against", [against for _, against in pairs], [f.bare for f in found])
            ratios = [run.cpu_ms / against.cpu_ms for run, against in pairs]
            print(f"  {'CPU ms/write of this tree / against, same round':>60} {spread(ratios, 2):>16}")


def print_row(label: str, runs: list[Run], bares: list[Run], numbers: bool = True, ratio: bool = True) -> None:
    """A row of the table: the runs' figures (unless not ``numbers``), the bare's CPU and the ratio (if ``ratio``)."""
    ratios = spread([run.cpu_ms / bare.cpu_ms for run, bare in zip(runs, bares, strict=True)], 2) if ratio else ""
    figures = (
        f" {spread([r.per_second for r in runs], 0):>16} {spread([r.p50_ms for r in runs]):>18}"
        f" {spread([r.p99_ms for r in runs]):>18} {spread([r.cpu_ms for r in runs], 2):>16}"
    )
    print(f"{label:22}{figures if numbers else ' ' * 72} {spread([b.cpu_ms for b in bares], 2):>16} {ratios:>16}")


if __name__ == "__main__":
    main()
