"""Proposals written as files a person edits: XLSX, CSV (with its evaluations beside it), YAML or JSON.

What ``grants template`` and ``grants convert`` write; kept apart from the command module so
the command line loads openpyxl, pydantic and the schemas only when one of them runs.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import yaml

from evaluator.reports.proposal_sheets import criteria_of, evaluations_sheet, one_row_per_partner, proposal_sheets
from evaluator.reports.workbook import sheet_rows, workbook_bytes, write_csv
from rules.areas import call_areas
from rules.errors import GrantsError, OutputError, Problem
from rules.model import Call
from rules.proposal import Evaluation, OrganisationType, Partner, Proposal, Role

DEFAULT_REQUEST = Decimal("100000")


def example_proposal(call: Call) -> Proposal:
    """A filled-in proposal showing each column's form: a lead and a partner in the call's first area."""
    countries = sorted(next(iter(call_areas(call.areas).values())).whole) or ["DE"]
    request = call.budget.max_grant or min(DEFAULT_REQUEST, call.budget.total)
    lead = Partner(name="Example Cluster Association", country=countries[0], city="", role=Role.lead)
    partner = Partner(
        name="Example University", country=countries[-1], type=OrganisationType.university, budget=request / 2
    )
    scores: dict[str, Decimal | None] = {c.id: c.scale[1] for c in call.criteria}
    return Proposal(
        id="EXAMPLE-001",
        acronym="EXAMPLE",
        title="An example proposal: replace this row with yours",
        requested_amount=request,
        duration_months=24,
        partners=[lead, partner],
        evaluations=[Evaluation(evaluator="ev01", scores=scores, comments={})],
    )


def _write(path: Path, data: bytes | str) -> None:
    try:
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise OutputError([Problem(f"cannot write the file: {exc.strerror or exc}", file=str(path))]) from None


def evaluations_path(path: Path) -> Path:
    """Where a CSV's evaluations go: beside it, ``proposals.csv`` -> ``proposals_evaluations.csv``."""
    return path.with_name(f"{path.stem}_evaluations.csv")


def write_proposals(proposals: list[Proposal], path: Path, call: Call | None = None) -> list[Path]:
    """Proposals as XLSX, CSV (and its evaluations file), YAML or JSON, by the path's suffix; the files written."""
    suffix = path.suffix.lower()
    currency = call.currency if call else "EUR"
    if suffix == ".xlsx":
        _write(path, workbook_bytes(proposal_sheets(proposals, call), currency))
        return [path]
    if suffix == ".csv":
        written = [path]
        write_csv(path, sheet_rows(one_row_per_partner(proposals), cents=False))
        criteria = criteria_of(proposals, call)
        if criteria:
            write_csv(evaluations_path(path), sheet_rows(evaluations_sheet(proposals, criteria)))
            written.append(evaluations_path(path))
        return written
    data = [p.model_dump(mode="json", exclude_none=True, exclude_defaults=True) for p in proposals]
    if suffix == ".json":
        import json

        _write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    elif suffix in {".yaml", ".yml"}:
        _write(path, yaml.safe_dump({"proposals": data}, allow_unicode=True, sort_keys=False))
    else:
        raise GrantsError([Problem("write .xlsx, .csv, .yaml or .json", file=str(path))])
    return [path]
