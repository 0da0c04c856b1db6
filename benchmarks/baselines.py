"""The best plain pipelines a competent analyst would write, run as whole processes like ``grants``.

Each reads the same call and proposal files as the command it is compared with and
prints one JSON line. They do only what the task needs (no validation, no rules, no
explanations), which is why they are the yardstick and not a straw man:

- ``pulp-cbc DIR`` / ``pulp-highs DIR``: the allocation model built the fast way in PuLP
  (each row one ``LpAffineExpression`` from (variable, coefficient) pairs, no ``+=`` or
  ``sum()`` loops), solved by CBC or by HiGHS at the same relative gap as ``grants``;
- ``montecarlo DIR RUNS NOISE``: argsort of noisy scores, cumsum of requests under the
  budget and the grant count, bincount of the funded. It keeps no country cap and no
  topic minimum (``grants`` keeps both), so it is a lower bound, not an equal pipeline;
- ``json DIR``: ``json.load`` of the proposals file.

Run as ``python -m benchmarks.baselines KIND DIR [...]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

GAP = 1e-4


def _instance(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]], np.ndarray, np.ndarray]:
    """The call, the proposals, each proposal's score (sum of the evaluators' mean per criterion) and request."""
    call = yaml.safe_load((folder / "call.yaml").read_text())
    with (folder / "proposals.json").open() as handle:
        proposals = json.load(handle)
    criteria = [c["id"] for c in call["criteria"]]
    scores = np.array([sum(np.mean([e["scores"][c] for e in p["evaluations"]]) for c in criteria) for p in proposals])
    requests = np.array([float(p["requested_amount"]) for p in proposals])
    return call, proposals, scores, requests


def allocation(folder: Path, solver: str) -> dict[str, Any]:
    import pulp

    call, proposals, score, request = _instance(folder)
    settings, budget = call["allocation"], float(call["budget"]["total"])
    partial = settings.get("partial_funding")
    n = len(proposals)
    problem = pulp.LpProblem("baseline", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{i}", cat="Binary") for i in range(n)]
    if partial:
        y = [pulp.LpVariable(f"y{i}", 0, float(request[i])) for i in range(n)]
        low = float(partial["min_share"])
        for i in range(n):
            problem.addConstraint(pulp.LpAffineExpression([(y[i], 1.0), (x[i], -request[i])]) <= 0)
            problem.addConstraint(pulp.LpAffineExpression([(y[i], 1.0), (x[i], -low * request[i])]) >= 0)
        amount: list[tuple[Any, float]] = [(y[i], 1.0) for i in range(n)]
    else:
        amount = [(x[i], float(request[i])) for i in range(n)]
    problem.setObjective(pulp.LpAffineExpression([(v, c * score[i]) for i, (v, c) in enumerate(amount)]))
    problem.addConstraint(pulp.LpAffineExpression(amount) <= budget)
    problem.addConstraint(pulp.LpAffineExpression([(v, 1.0) for v in x]) <= settings["max_grants"])
    groups = {
        "lead_country": [p["partners"][0]["country"] for p in proposals],
        "topic": [p["topic"] for p in proposals],
    }
    for quota in settings["constraints"]:
        keys = groups[quota["by"]]
        for key in [quota["key"]] if "key" in quota else sorted(set(keys)):
            terms = pulp.LpAffineExpression([amount[i] for i in range(n) if keys[i] == key])
            if "max_share" in quota:
                problem.addConstraint(terms <= float(quota["max_share"]) * budget)
            if "min_share" in quota:
                problem.addConstraint(terms >= float(quota["min_share"]) * budget)
    if solver == "cbc":
        chosen = pulp.PULP_CBC_CMD(msg=False, gapRel=GAP, threads=1)
    else:
        chosen = pulp.HiGHS(msg=False, gapRel=GAP)
    problem.solve(chosen)
    return {"status": pulp.LpStatus[problem.status], "objective": pulp.value(problem.objective)}


def montecarlo(folder: Path, runs: int, noise: float) -> dict[str, Any]:
    call, proposals, score, request = _instance(folder)
    budget, most = float(call["budget"]["total"]), int(call["allocation"]["max_grants"])
    sd = noise * np.sqrt(len(call["criteria"]) / len(proposals[0]["evaluations"]))
    rng = np.random.default_rng(0)
    funded = np.zeros(len(score), dtype=np.int64)
    for start in range(0, runs, 100):
        size = min(100, runs - start)
        order = np.argsort(-(score + rng.standard_normal((size, len(score))) * sd), axis=1)
        inside = (np.cumsum(request[order], axis=1) <= budget) & (np.arange(len(score)) < most)
        funded += np.bincount(order[inside], minlength=len(score))
    return {"uncertain": int(np.count_nonzero((funded > 0.05 * runs) & (funded < 0.95 * runs)))}


def load(folder: Path) -> dict[str, Any]:
    with (folder / "proposals.json").open() as handle:
        return {"proposals": len(json.load(handle))}


def main(argv: list[str]) -> None:
    kind, folder = argv[0], Path(argv[1])
    if kind in ("pulp-cbc", "pulp-highs"):
        result = allocation(folder, kind.removeprefix("pulp-"))
    elif kind == "montecarlo":
        result = montecarlo(folder, int(argv[2]), float(argv[3]))
    else:
        result = load(folder)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
