"""The evaluator's web pages against the JSON endpoints doing the same work, on one ``grants serve``.

Run by hand from the root: ``python -m benchmarks.bench_web [--assignments 1000] [--rounds 40]``.
It starts ``grants serve`` on a fresh SQLite file with one call whose evaluator has
``--assignments`` proposals assigned, signs in through the sign-in form, and times,
one request at a time on loopback, each page next to its JSON twin in the same run:

* the assignment list (``GET /evaluate``) against ``GET /calls/{id}/assignments`` (paged
  by 500, all pages, as a client needs them all);
* a scoring page against ``GET .../proposals/{id}`` and ``GET .../scores``;
* submitting a sheet through the page's form (the POST, up to its redirect) against
  ``PUT .../scores``; each writes a first sheet on proposals of its own.

The targets (issue 10): pages at most 100 ms at p95; the form's submit at most 1.5
times the JSON PUT.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import yaml

from api.auth import Role
from api.db.session import Store
from api.tokens import grant
from benchmarks.bench_api import ROOT, free_port, grants, serving
from rules.proposal import Proposal
from tests.factories import call, partner, proposal

CALL_ID = "TEST-CALL"
EVALUATOR = "E001"
SHEET = {"excellence": "4", "impact": "3.5", "implementation": "4.5"}


def prepare(base: str, agency: str, proposals: list[Proposal], ids: list[str]) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {agency}"}, timeout=600) as http:
        text = yaml.safe_dump(call().model_dump(mode="json", exclude_none=True))
        http.post("/calls", content=text, headers={"content-type": "application/yaml"}).raise_for_status()
        body = [p.model_dump(mode="json", exclude_none=True) for p in proposals]
        http.post(f"/calls/{CALL_ID}/proposals", json=body).raise_for_status()
        http.post(f"/calls/{CALL_ID}/phase", json={"transition": "open_evaluation"}).raise_for_status()
        profile = {"id": EVALUATOR, "name": "Bench", "organisation": "Uni", "country": "FR"}
        http.post("/evaluators", json=profile).raise_for_status()
        auto = {"evaluators": [EVALUATOR], "evaluators_per_proposal": 1, "expertise": "ignored"}
        plan = http.post(f"/calls/{CALL_ID}/assignments/auto", json=auto)
        plan.raise_for_status()
        assert len(plan.json()["assigned"]) == len(ids), plan.json()["unfilled"][:3]


def timed(action: Callable[[int], httpx.Response], rounds: int) -> np.ndarray:
    seconds = []
    for n in range(rounds):
        start = time.perf_counter()
        response = action(n)
        seconds.append(time.perf_counter() - start)
        assert response.status_code < 400, (response.status_code, response.text[:300])
    return np.array(seconds) * 1000


def signed_in(base: str, token: str) -> tuple[httpx.Client, str]:
    browser = httpx.Client(base_url=base, timeout=60, follow_redirects=True)
    form = browser.get("/sign-in").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    browser.post("/sign-in", data={"token": token, "csrf": csrf[1]}).raise_for_status()
    page = browser.get("/evaluate").text
    session_csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert session_csrf is not None
    return browser, session_csrf[1]


def report(name: str, page: np.ndarray, twin: np.ndarray) -> None:
    p95, twin95 = np.percentile(page, 95), np.percentile(twin, 95)
    print(
        f"{name:<28} page p50 {np.median(page):7.1f} ms  p95 {p95:7.1f} ms   "
        f"JSON p50 {np.median(twin):7.1f} ms  p95 {twin95:7.1f} ms   ratio p50 {np.median(page) / np.median(twin):4.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignments", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    rounds = args.rounds
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'grants.db'}"
        store = Store.open(url)
        with store.session(write=True) as session:
            agency = grant(session, "bench", Role.agency).token
            session.commit()
        ids = [f"P{i:05d}" for i in range(args.assignments)]
        people = [partner("Lead", "AT", role="lead"), partner("B", "SI"), partner("C", "HU")]
        proposals = [proposal(i, people) for i in ids]
        port = free_port()
        command, env = grants(ROOT, "serve", "--port", str(port), "--database", url)
        with serving(command, port, env) as base:
            prepare(base, agency, proposals, ids)
            with store.session(write=True) as session:
                token = grant(session, "bench", Role.evaluator, evaluator_id=EVALUATOR).token
                session.commit()
            store.engine.dispose()
            browser, csrf = signed_in(base, token)
            api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
            print(f"one evaluator with {args.assignments} assignments, {rounds} requests each, one at a time")

            def listing(_: int) -> httpx.Response:
                response = api.get(f"/calls/{CALL_ID}/assignments", params={"limit": 500})
                for offset in range(500, response.json()["total"], 500):
                    response = api.get(f"/calls/{CALL_ID}/assignments", params={"limit": 500, "offset": offset})
                return response

            report("assignment list", timed(lambda _: browser.get("/evaluate"), rounds), timed(listing, rounds))

            def sheet_json(n: int) -> httpx.Response:
                api.get(f"/calls/{CALL_ID}/proposals/{ids[n]}")
                return api.get(f"/calls/{CALL_ID}/proposals/{ids[n]}/scores")

            page = timed(lambda n: browser.get(f"/evaluate/{CALL_ID}/{ids[n]}"), rounds)
            report("scoring page", page, timed(sheet_json, rounds))

            def submit_page(n: int) -> httpx.Response:
                form = {"csrf": csrf, "version": "", "action": "submit"}
                form |= {f"score.{c}": v for c, v in SHEET.items()}
                return browser.post(f"/evaluate/{CALL_ID}/{ids[n]}", data=form, follow_redirects=False)

            def submit_json(n: int) -> httpx.Response:
                body = {"scores": SHEET, "state": "submitted"}
                return api.put(f"/calls/{CALL_ID}/proposals/{ids[rounds + n]}/scores", json=body)

            report("submit a sheet", timed(submit_page, rounds), timed(submit_json, rounds))


if __name__ == "__main__":
    main()
