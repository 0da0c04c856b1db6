"""Finance officers' pages: the ranking, allocation runs and their comparison, simulations.

Runs are made by the JSON routes' use cases (one snapshot, computed outside any
write transaction, stored and audited) and shown from what was stored, so a run's
page shows it as it was. Finance sees consolidated scores only: no evaluator's id,
score or comment appears on these pages.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from starlette.datastructures import FormData

from api.auth import Db
from api.db import queries
from api.problems import Conflict
from api.routers import allocations, calls, reports, simulations
from api.routers.common import Pagination
from api.routers.rankings import ranked_snapshot
from api.web.pages import Posted, Seen, form_model, money_in, page_router, render, see_other
from evaluator.reports import charts, funding_chart
from rules.errors import GrantsError
from rules.yamlio import parse_yaml

router = page_router(prefix="/finance")
RUNS = Pagination(limit=500)
DOCUMENTS = ("index.html", "ranking.csv", "allocation.csv", "report.xlsx")


@router.get("")
def calls_page(request: Request, session: Db, who: Seen) -> Response:
    return render(request, "finance/calls.html", who, calls=calls.list_calls(session, who.principal, RUNS).items)


@router.get("/calls/{call_id}")
def ranking_page(request: Request, call_id: str, who: Seen) -> Response:
    """The ranking on consolidated scores: thresholds, totals, positions, reasons and flags."""
    snap = ranked_snapshot(request.app.state.store, call_id)
    return render(
        request, "finance/ranking.html", who, call=snap.call, ranking=snap.ranking, money=money_in(snap.call.currency)
    )


def _amount(text: str) -> str | None:
    """An amount as typed (``6,000,000`` or ``6 000 000``), for the use case's model to check."""
    cleaned = text.replace(",", "").replace(" ", "").replace("_", "").replace("\u00a0", "")
    return cleaned or None


def _scenario(form: FormData) -> dict[str, Any]:
    """The allocation form as the API's scenario: only what was filled in overrides the call."""
    text = {key: str(form.get(key, "")).strip() for key in form}
    scenario: dict[str, Any] = {"name": text.get("name") or "web"}
    for key in ("budget", "max_grant"):
        if amount := _amount(text.get(key, "")):
            scenario[key] = amount
    if text.get("max_grants"):
        scenario["max_grants"] = text["max_grants"]
    if text.get("mode") in ("rank", "optimal"):
        scenario["mode"] = text["mode"]
    if text.get("partial") == "allow":
        scenario["partial_funding"] = {
            "min_share": text.get("min_share") or "0.8",
            "max_share": text.get("max_share") or "1",
        }
    elif text.get("partial") == "forbid":
        scenario["partial_funding"] = False
    if text.get("quotas"):
        scenario["constraints"] = _quotas(text["quotas"])
        scenario["replace_constraints"] = bool(form.get("replace_constraints"))
    return scenario


def _quotas(text: str) -> Any:
    """The quotas box, read by the same bounded YAML reader as every file and upload."""
    quotas = parse_yaml(text, "quotas", GrantsError)
    return quotas if isinstance(quotas, list) else [quotas]


def _allocations_page(
    request: Request, session: Db, who: Seen, call_id: str, status: int = 200, **extra: Any
) -> Response:
    runs = allocations.list_allocations(call_id, session, RUNS)
    return _runs_page(request, session, who, call_id, "finance/allocations.html", runs.items, status, **extra)


def _runs_page(
    request: Request,
    session: Db,
    who: Seen,
    call_id: str,
    template: str,
    runs: list[Any],
    status: int,
    **extra: Any,
) -> Response:
    """A call's saved runs, newest first, beside the form that makes another."""
    call, _ = queries.current_call(session, call_id)
    return render(
        request,
        template,
        who,
        status,
        call=call,
        runs=list(reversed(runs)),
        money=money_in(call.currency),
        typed=extra.pop("typed", {}),
        **extra,
    )


@router.get("/calls/{call_id}/allocations")
def allocations_page(request: Request, call_id: str, session: Db, who: Seen) -> Response:
    return _allocations_page(request, session, who, call_id)


@router.post("/calls/{call_id}/allocations")
async def run_allocation(request: Request, call_id: str, who: Posted) -> Response:
    """Run an allocation on the form's scenario; its page shows the portfolio and the reserve list."""
    form = await request.form()
    typed = {key: str(value) for key, value in form.items() if key != "csrf"}
    try:
        fields = {"scenario": _scenario(form), "decision": bool(form.get("decision"))}
        body = form_model(allocations.AllocationRequest, fields)
        run = allocations.run_allocation(call_id, request, who.principal, body)
    except (GrantsError, Conflict) as exc:
        with request.app.state.store.session(write=False) as session:
            problems = [str(p) for p in exc.problems]
            return _allocations_page(request, session, who, call_id, 422, problems=problems, typed=typed)
    return see_other(f"/finance/calls/{call_id}/allocations/{run.id}")


@router.get("/calls/{call_id}/allocations/{run_id}")
def allocation_page(request: Request, call_id: str, run_id: int, session: Db, who: Seen) -> Response:
    run = allocations.get_allocation(call_id, run_id, session, who.principal)
    decision = reports.decision(session, who.principal, call_id, run_id, bayes=False)
    entries = {e.id: e for e in run.ranking.entries}
    return render(
        request,
        "finance/allocation.html",
        who,
        call=decision.call,
        run=run,
        allocation=run.allocation,
        entries=entries,
        chart=funding_chart(decision),
        documents=DOCUMENTS,
        money=money_in(decision.call.currency),
        runs=list(reversed(allocations.list_allocations(call_id, session, RUNS).items)),
    )


@router.get("/calls/{call_id}/compare")
def compare_page(request: Request, call_id: str, session: Db, who: Seen, a: int = 0, b: int = 0) -> Response:
    """Two runs side by side: who is funded in one and not the other, and where the money differs."""
    first, second = (allocations.get_allocation(call_id, run_id, session, who.principal) for run_id in (a, b))
    one, other = ({g.id: g.amount for g in run.allocation.grants} for run in (first, second))
    ids = [e.id for e in first.ranking.entries if e.id in one or e.id in other]
    ids += [i for i in {**one, **other} if i not in ids]
    rows = [(i, one.get(i), other.get(i)) for i in ids]
    call, _ = queries.current_call(session, call_id)
    return render(
        request,
        "finance/compare.html",
        who,
        call=call,
        first=first,
        second=second,
        rows=rows,
        only_first=[i for i in ids if i in one and i not in other],
        only_second=[i for i in ids if i in other and i not in one],
        money=money_in(call.currency),
    )


def _simulations_page(
    request: Request, session: Db, who: Seen, call_id: str, status: int = 200, **extra: Any
) -> Response:
    runs = simulations.list_simulations(call_id, session, RUNS)
    return _runs_page(request, session, who, call_id, "finance/simulations.html", runs.items, status, **extra)


@router.get("/calls/{call_id}/simulations")
def simulations_page(request: Request, call_id: str, session: Db, who: Seen) -> Response:
    return _simulations_page(request, session, who, call_id)


def _simulation(form: FormData) -> dict[str, Any]:
    text = {key: str(form.get(key, "")).strip() for key in form}
    asked: dict[str, Any] = {}
    if text.get("low") or text.get("high"):
        asked["sweep"] = {"low": _amount(text.get("low", "")), "high": _amount(text.get("high", ""))}
        asked["sweep"]["steps"] = text.get("steps") or 11
    if text.get("runs"):
        asked["odds"] = {"runs": text["runs"], "seed": text.get("seed") or 0, "resample": bool(form.get("resample"))}
        if text.get("noise"):
            asked["odds"]["noise"] = text["noise"]
    return asked


@router.post("/calls/{call_id}/simulations")
async def run_simulation(request: Request, call_id: str, who: Posted) -> Response:
    """A budget sweep, funding odds under score noise, or both; stored and shown with their charts."""
    form = await request.form()
    typed = {key: str(value) for key, value in form.items() if key != "csrf"}
    try:
        body = form_model(simulations.SimulationRequest, _simulation(form))
        run = simulations.run_simulation(call_id, body, request, who.principal)
    except GrantsError as exc:
        with request.app.state.store.session(write=False) as session:
            problems = [str(p) for p in exc.problems]
            return _simulations_page(request, session, who, call_id, 422, problems=problems, typed=typed)
    return see_other(f"/finance/calls/{call_id}/simulations/{run.id}")


@router.get("/calls/{call_id}/simulations/{run_id}")
def simulation_page(request: Request, call_id: str, run_id: int, session: Db, who: Seen) -> Response:
    run = simulations.get_simulation(call_id, run_id, session)
    call, _ = queries.current_call(session, call_id)
    result = run.result
    sweep_chart = charts.sweep([(p.budget, p.grants) for p in result.sweep], call.currency)
    odds = result.odds.odds if result.odds else []
    odds_chart = charts.funding_odds([(o.id, o.probability, o.funded_now) for o in odds])
    return render(
        request,
        "finance/simulation.html",
        who,
        call=call,
        run=run,
        result=result,
        sweep_chart=sweep_chart,
        odds_chart=odds_chart,
        money=money_in(call.currency),
        percent=lambda share: f"{Decimal(share) * 100:.1f}%",
    )
