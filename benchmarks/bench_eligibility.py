"""Eligibility at scale: load 100,000 proposals from JSON and run the SEE call's rules on them.

Run by hand: ``/work/venv/bin/python benchmarks/bench_eligibility.py [N]``. Prints each figure
next to a yardstick measured in the same run, as a ratio:

(a) loading + validating the JSON file (target <= 5 s) against bare ``json.loads`` of the file;
(b) once the proposals are compiled into columns, the rules alone (target >= 100,000 proposals/s,
    issue 12), then with the reasons of the failing, against a naive evaluation that resolves
    every partner's place again for every proposal, as a per-object engine would.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from rules.areas import call_areas
from rules.check import check, rule_verdicts
from rules.load import load_call, load_proposals
from rules.money import to_cents
from rules.proposal import Proposal, Role
from rules.regions import Location, resolve_country, resolve_location
from rules.table import ProposalTable, compile_proposals

SEE_CALL = Path(__file__).resolve().parent.parent / "calls" / "see_2007_2013_call4" / "call.yaml"
T = TypeVar("T")

# (country, region) as applicants write them: SEE countries, Italian and Ukrainian regions under
# several spellings and NUTS versions, and places outside the area (Lazio, Kyiv, Czechia).
PLACES = [
    ("IT", "Emilia-Romagna"),
    ("IT", "Emilia Romagna"),
    ("IT", "ITD5"),
    ("IT", "ITH3"),
    ("IT", "Veneto"),
    ("IT", "Marche"),
    ("IT", "ITF4"),
    ("IT", "Lazio"),
    ("IT", "Bozen"),
    ("UA", "Odessa"),
    ("UA", "UA-26"),
    ("UA", "Kyiv"),
    ("GR", None),
    ("EL", "EL30"),
    ("AT", None),
    ("SI", "SI04"),
    ("HU", None),
    ("BG", None),
    ("RO", None),
    ("SK", None),
    ("HR", None),
    ("RS", None),
    ("MD", None),
    ("AL", None),
    ("CZ", None),
    ("Greece", None),
    ("MK", None),
    ("ME", None),
    ("BA", None),
    ("AT", "AT22"),
    ("RO", None),
    ("BG", None),
    ("HU", "HU11"),
    ("GR", "GR12"),
    ("IT", "Puglia"),
    ("IT", "Friuli Venezia Giulia"),
    ("UA", "Zakarpatska"),
]
LEAD_PLACES = [("IT", "Emilia-Romagna"), ("GR", None), ("AT", None), ("SI", None), ("HU", None), ("BG", None)]
TYPES = [
    "public_authority",
    "body_governed_by_public_law",
    "university",
    "private_non_profit",
    "sme",
    "research_organisation",
]


def generated(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Realistic proposals as JSON data: ~5 partners each, mixed areas, budgets for most."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        size = rng.choice([3, 4, 5, 5, 6, 7])
        partners = []
        for k in range(size):
            country, region = rng.choice(LEAD_PLACES if k == 0 else PLACES)
            partner: dict[str, Any] = {
                "name": f"Organisation {i}-{k}",
                "country": country,
                "region": region,
                "type": "public_authority" if k == 0 else rng.choice(TYPES),
                "role": "lead" if k == 0 else "partner",
                "budget": str(rng.randrange(80_000, 400_000)),
            }
            if partner["type"] == "sme":
                partner.update(headcount=rng.randrange(2, 300), turnover=str(rng.randrange(100_000, 60_000_000)))
            partners.append(partner)
        total = sum(int(p["budget"]) for p in partners)
        out.append(
            {
                "id": f"P{i:06d}",
                "acronym": f"PRJ{i}",
                "topic": rng.choice(["innovation", "environment"]),
                "requested_amount": f"{total * rng.choice([0.8, 0.85, 0.85, 0.85, 0.86]):.2f}",
                "duration_months": rng.choice([24, 24, 30, 36, 36, 36, 36, 42]),
                "partners": partners,
            }
        )
    return out


def timed(run: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def timed_load(data: list[dict[str, Any]]) -> tuple[list[Proposal], float, float, float]:
    """Proposals loaded from a JSON file of ``data``: (proposals, load seconds, bare json.loads seconds, MB)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "proposals.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        text = path.read_text(encoding="utf-8")
        _, bare = timed(lambda: json.loads(text))
        proposals, loading = timed(lambda: load_proposals(path))
    return proposals, loading, bare, len(text.encode()) / 1e6


def naive_check(proposals: list[Proposal]) -> list[bool]:
    """One proposal at a time, every partner's place resolved again: the yardstick."""
    call = load_call(SEE_CALL)
    areas = call_areas(call.areas)
    see, eu = areas["see_2007_2013"], areas["eu27_2007_2013"]
    max_grant = to_cents(call.budget.max_grant or Decimal(0))
    verdicts = []
    for p in proposals:
        places: list[Location] = []
        for partner in p.partners:
            resolve_country.cache_clear()
            places.append(resolve_location(partner.country, partner.region))
        lead = places[[q.role for q in p.partners].index(Role.lead)]
        ok = all(see.contains(place) for place in places) and see.contains(lead) and eu.contains(lead)
        ok = ok and len(p.partners) >= 3 and len({place.country for place in places}) >= 3
        ok = ok and 500_000_00 <= to_cents(p.requested_amount) <= max_grant and 12 <= p.duration_months <= 36
        budgets = [to_cents(q.budget) for q in p.partners if q.budget is not None]
        verdicts.append(ok and to_cents(p.requested_amount) * 100 <= sum(budgets) * 85)
    return verdicts


def compiled(proposals: list[Proposal]) -> ProposalTable:
    """The table with the columns the SEE rules read: built on first use, they belong to compiling, not to the rules."""
    table = compile_proposals(proposals)
    for column in ("p_requested", "p_total_cost", "p_duration", "x_type", "x_budget"):
        getattr(table, column)
    return table


def main(n: int) -> None:
    call = load_call(SEE_CALL)
    proposals, loading, bare, size_mb = timed_load(generated(n))
    print(f"{n:,} proposals, {sum(len(p.partners) for p in proposals):,} partners, JSON {size_mb:.1f} MB")
    print(
        f"(a) load + validate: {loading:.2f} s (target <= 5 s); bare json.loads {bare:.2f} s; "
        f"ratio {loading / bare:.1f}x the yardstick"
    )

    table, compiling = timed(lambda: compiled(proposals))
    _, alone = timed(lambda: rule_verdicts(call, table))
    report, rules = timed(lambda: check(call, table))
    eligible = len(report.eligible_ids)
    sample = proposals[: min(n, 10_000)]
    naive, naive_time = timed(lambda: naive_check(sample))
    fast_rate, naive_rate = n / rules, len(sample) / naive_time
    agree = sum(r.eligible == v for r, v in zip(report.results, naive, strict=False))
    print(f"(b) compile columns (places resolved once per distinct place, amounts in cents): {compiling:.2f} s")
    print(f"    the rules alone: {alone:.3f} s = {n / alone:,.0f} proposals/s (target >= 100,000)")
    print(
        f"    rules + reasons for the failing: {rules:.2f} s = {fast_rate:,.0f} proposals/s (target >= 50,000); "
        f"{eligible:,} eligible"
    )
    print(
        f"    naive per-proposal yardstick: {naive_rate:,.0f} proposals/s on {len(sample):,}; "
        f"ratio {fast_rate / naive_rate:.0f}x; end to end (compile + rules) "
        f"{n / (compiling + rules):,.0f} proposals/s = {n / (compiling + rules) / naive_rate:.0f}x"
    )
    print(f"    verdicts agree with the yardstick on {agree:,} of {len(sample):,}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
