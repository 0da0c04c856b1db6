"""Proposals and evaluations from CSV and XLSX, in the layout docs/spreadsheets.md describes.

A submission system's export rarely has our field names or our shape, so the
reader takes two shapes (one row per partner with the proposal's columns repeated
or filled down; or a ``proposals`` sheet and a ``partners`` sheet joined by proposal
id), matches headers without regard to case, accents or units, and takes a mapping
for other names. Every problem names its cell and all are reported at once; the
same pydantic models as YAML then validate what was read, and their messages are
put back on the cells the values came from.

The entry points take bytes and a file name, so the command line, the HTTP API and
the web pages read a spreadsheet the same way.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from rules.errors import GrantsError, Problem, ProposalError
from rules.model import Call
from rules.proposal import OrganisationType, Proposal
from rules.sheets import (
    BadValue,
    Cell,
    Row,
    Table,
    Workbook,
    as_date,
    as_decimal,
    as_integer,
    as_text,
    blank,
    column_key,
    is_not_applicable,
    is_total_row,
    months_between,
    read_tables,
)
from rules.yamlio import PathKey, path_key

Reader = Callable[[Any], Any]
PROPOSAL_FIELDS: dict[str, Reader] = {
    "id": as_text,
    "acronym": as_text,
    "title": as_text,
    "topic": as_text,
    "requested_amount": as_decimal,
    "total_cost": as_decimal,
    "duration_months": as_integer,
    "start_date": as_date,
    "end_date": as_date,
    "gender_balance": as_decimal,
}
PARTNER_FIELDS: dict[str, Reader] = {
    "partner": as_text,
    "country": as_text,
    "region": as_text,
    "city": as_text,
    "type": as_text,
    "role": as_text,
    "headcount": as_decimal,
    "turnover": as_decimal,
    "balance_sheet": as_decimal,
    "budget": as_decimal,
}
EVALUATION_FIELDS: dict[str, Reader] = {"id": as_text, "evaluator": as_text}
ALIASES = {
    "proposal_id": "id",
    "proposal": "id",
    "requested": "requested_amount",
    "requested_grant": "requested_amount",
    "grant_requested": "requested_amount",
    "duration": "duration_months",
    "name": "partner",
    "partner_name": "partner",
    "organisation": "partner",
    "organization": "partner",
    "organisation_name": "partner",
    "organization_name": "partner",
    "organisation_type": "type",
    "organization_type": "type",
    "partner_type": "type",
    "partner_role": "role",
    "partner_country": "country",
    "partner_region": "region",
    "partner_budget": "budget",
    "expert": "evaluator",
    "reviewer": "evaluator",
}
ROLES = {"lead": "lead", "lead_partner": "lead", "lp": "lead", "coordinator": "lead", "applicant": "lead"}
ROLES |= {"partner": "partner", "pp": "partner", "project_partner": "partner", "": "partner"}
TYPES = {column_key(t.value): t.value for t in OrganisationType} | {"sme": "sme", "university": "university"}
IGNORE = "ignore"
CONSENSUS = "consensus"
SHEETS = ("proposals", "partners", "evaluations")

Located = dict[PathKey, Cell]
UNREAD = object()
"""A cell whose value could not be read: its problem is reported once, not again as a missing field."""


@dataclass
class Reading:
    """What a spreadsheet gave: proposal data in schema form, where each value came from, what was wrong."""

    data: list[dict[str, Any]] = field(default_factory=list)
    cells: list[Located] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)


# --- columns ----------------------------------------------------------------------------------------------


def _columns(
    table: Table, fields: Mapping[str, Reader], mapping: Mapping[str, str], problems: list[Problem]
) -> dict[str, int]:
    """Field name -> column index; unknown, repeated and unnamed columns are problems at the header."""
    found: dict[str, int] = {}
    known = [*fields, *(a for a, f in ALIASES.items() if f in fields)]
    for k, (header, key) in enumerate(zip(table.header, table.keys, strict=True)):
        cell = table.cell(table.header_row, k)
        name = mapping.get(key) or ALIASES.get(key, key)
        if name == IGNORE:
            continue
        if not key:
            if any(row.values[k] not in (None, "") for row in table.rows):
                message = "this column has data but no header (a merged header cell?): unmerge it and name the column"
                problems.append(cell.problem(message))
            continue
        if name not in fields:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
            hint = f"did you mean {close[0]!r}? " if close else ""
            message = f"unknown column {header!r}; {hint}rename it, or map it in a columns file (or to 'ignore')"
            problems.append(cell.problem(message))
        elif name in found:
            other = table.cell(table.header_row, found[name]).address
            problems.append(cell.problem(f"column {header!r} repeats column {other} ({name})"))
        else:
            found[name] = k
    return found


def _normalised_mapping(columns: Mapping[str, str] | None) -> dict[str, str]:
    return {column_key(header): name for header, name in (columns or {}).items()}


# --- rows -------------------------------------------------------------------------------------------------


def _data_rows(table: Table, problems: list[Problem]) -> list[Row]:
    """The rows to read: an empty row in the middle and a total row are problems, not data."""
    rows = []
    last = max((k for k, row in enumerate(table.rows) if not blank(row)), default=-1)
    for row in table.rows[: last + 1]:
        if blank(row):
            message = f"row {row.number} is empty, with data below it: delete the empty row"
            problems.append(table.cell(row.number, 0).problem(message))
        elif word := is_total_row(row):
            message = f"row {row.number} is a total row ({word!r}): delete it; the engine adds up the amounts itself"
            problems.append(table.cell(row.number, 0).problem(message))
        else:
            rows.append(row)
    return rows


def _values(
    table: Table, row: Row, columns: dict[str, int], fields: Mapping[str, Reader], problems: list[Problem]
) -> dict[str, tuple[Any, Cell]]:
    """The row's filled cells read as their fields need, each with its cell."""
    values = {}
    for name, k in columns.items():
        raw = row.values[k]
        if raw is None or raw == "":
            continue
        cell = table.cell(row.number, k)
        try:
            values[name] = (fields[name](raw), cell)
        except BadValue as exc:
            problems.append(dataclasses.replace(cell.problem(str(exc)), path=name))
            values[name] = (UNREAD, cell)
    return values


def _proposal_fields(values: dict[str, tuple[Any, Cell]], located: Located, problems: list[Problem]) -> dict[str, Any]:
    data = {name: value for name, (value, _) in values.items() if name in PROPOSAL_FIELDS and value is not UNREAD}
    for name, (_, cell) in values.items():
        located[(name,)] = cell
    start, end = data.pop("start_date", None), data.pop("end_date", None)
    for date in ("start_date", "end_date"):
        if date in values and values[date][0] is UNREAD:
            located.setdefault(("duration_months",), values[date][1])
    if start is not None and end is not None and "duration_months" not in data:
        if end < start:
            problems.append(values["end_date"][1].problem(f"end date {end} is before the start date {start}"))
        else:
            data["duration_months"] = months_between(start, end)
            located[("duration_months",)] = values["end_date"][1]
    return data


def _partner(values: dict[str, tuple[Any, Cell]], where: PathKey, located: Located) -> dict[str, Any] | None:
    picked = {name: value for name, (value, _) in values.items() if name in PARTNER_FIELDS and value is not UNREAD}
    if not picked:
        return None
    for name, (_, cell) in values.items():
        if name in PARTNER_FIELDS:
            located[(*where, "name" if name == "partner" else name)] = cell
    if "partner" in picked:
        picked["name"] = picked.pop("partner")
    if "role" in picked:
        picked["role"] = ROLES.get(column_key(picked["role"]), picked["role"])
    if "type" in picked:
        picked["type"] = TYPES.get(column_key(picked["type"]), picked["type"])
    return picked


def _differs(
    data: dict[str, Any], values: dict[str, tuple[Any, Cell]], located: Located, problems: list[Problem]
) -> None:
    """On a proposal's later rows, its own columns are empty or repeat the first row's."""
    for name, (value, cell) in values.items():
        if name in PROPOSAL_FIELDS and name != "id" and name in data and value is not UNREAD and data[name] != value:
            first = located[(name,)].address
            problems.append(
                cell.problem(f"{name} {value!r} differs from {data[name]!r} in {first} for the same proposal")
            )


def _start(reading: Reading, pid: str, row: Row, cell: Cell) -> bool:
    """Open a new proposal; a proposal id seen before is a duplicate."""
    if pid in reading.index:
        first = reading.cells[reading.index[pid]][("id",)].address
        message = (
            f"proposal id {pid!r} is used again (first in {first}): a duplicate id? keep a proposal's rows together"
        )
        reading.problems.append(dataclasses.replace(cell.problem(message), path="id"))
        return False
    reading.index[pid] = len(reading.data)
    reading.data.append({"partners": []})
    reading.cells.append({("id",): cell, (): cell})
    return True


def _one_sheet(table: Table, mapping: Mapping[str, str], reading: Reading) -> None:
    """One row per partner; a proposal's own columns are repeated on each row or filled in on its first."""
    fields = PROPOSAL_FIELDS | PARTNER_FIELDS
    if not table.header:
        where = f"{table.sheet}!A1" if table.sheet else ""
        reading.problems.append(Problem("the file holds no proposals", file=table.file, cell=where))
        return
    columns = _columns(table, fields, mapping, reading.problems)
    if "id" not in columns:
        reading.problems.append(table.cell(table.header_row, 0).problem("no proposal id column ('id')"))
        return
    current: str | None = None
    for row in _data_rows(table, reading.problems):
        values = _values(table, row, columns, fields, reading.problems)
        pid_cell = values.get("id")
        if pid_cell is not None and pid_cell[0] != current:
            current = pid_cell[0] if _start(reading, pid_cell[0], row, pid_cell[1]) else None
            if current is None:
                continue
            at = reading.index[current]
            reading.data[at] |= _proposal_fields(values, reading.cells[at], reading.problems)
        elif current is None:
            if pid_cell is None:
                message = "no proposal id, and no proposal above this row to continue"
                reading.problems.append(table.cell(row.number, columns["id"]).problem(message))
            continue
        else:
            at = reading.index[current]
            _differs(reading.data[at], values, reading.cells[at], reading.problems)
        _add_partner(reading, reading.index[current], values)


def _add_partner(reading: Reading, at: int, values: dict[str, tuple[Any, Cell]]) -> None:
    partners = reading.data[at]["partners"]
    partner = _partner(values, ("partners", len(partners)), reading.cells[at])
    if partner is not None:
        partners.append(partner)


def _two_sheets(proposals: Table, partners: Table, mapping: Mapping[str, str], reading: Reading) -> None:
    """A proposals sheet (one row each) and a partners sheet whose rows name their proposal's id."""
    columns = _columns(proposals, PROPOSAL_FIELDS, mapping, reading.problems)
    for row in _data_rows(proposals, reading.problems):
        values = _values(proposals, row, columns, PROPOSAL_FIELDS, reading.problems)
        if "id" not in values:
            reading.problems.append(proposals.cell(row.number, columns.get("id", 0)).problem("no proposal id"))
        elif _start(reading, values["id"][0], row, values["id"][1]):
            at = len(reading.data) - 1
            reading.data[at] |= _proposal_fields(values, reading.cells[at], reading.problems)
    partner_fields = {"id": as_text} | PARTNER_FIELDS
    columns = _columns(partners, partner_fields, mapping, reading.problems)
    for row in _data_rows(partners, reading.problems):
        values = _values(partners, row, columns, partner_fields, reading.problems)
        pid = values.pop("id", None)
        if pid is None or pid[0] not in reading.index:
            where = pid[1] if pid else partners.cell(row.number, columns.get("id", 0))
            known = f"proposal {pid[0]!r} is not in the proposals sheet" if pid else "no proposal id"
            reading.problems.append(where.problem(known))
            continue
        _add_partner(reading, reading.index[pid[0]], values)


# --- evaluations ------------------------------------------------------------------------------------------


def _criteria_columns(call: Call | None) -> dict[str, str]:
    """Header key -> criterion id: the call's ids and names; without a call, any header is an id."""
    if call is None:
        return {}
    return {column_key(c.name): c.id for c in call.criteria} | {column_key(c.id): c.id for c in call.criteria}


def _comment_of(key: str) -> str | None:
    for affix in ("_comments", "_comment"):
        if key.endswith(affix):
            return key.removesuffix(affix)
    for affix in ("comments_", "comment_"):
        if key.startswith(affix):
            return key.removeprefix(affix)
    return None


def _evaluation_columns(
    table: Table, call: Call | None, mapping: Mapping[str, str], problems: list[Problem]
) -> tuple[dict[str, int], dict[int, tuple[str, bool]]]:
    """The id and evaluator columns, and per other column its criterion and whether it is a comment."""
    criteria = _criteria_columns(call)
    fixed: dict[str, int] = {}
    scored: dict[int, tuple[str, bool]] = {}
    for k, (header, key) in enumerate(zip(table.header, table.keys, strict=True)):
        name = mapping.get(key) or ALIASES.get(key, key)
        if name in EVALUATION_FIELDS:
            fixed[name] = k
            continue
        if name == IGNORE or not key:
            continue
        comment = _comment_of(name)
        base = comment if comment is not None else name
        criterion = criteria.get(base, base if call is None else None)
        if criterion is None:
            known = ", ".join(c.id for c in call.criteria) if call else ""
            message = f"column {header!r} is not a criterion of the call ({known}) nor a comment on one"
            problems.append(table.cell(table.header_row, k).problem(message))
        else:
            scored[k] = (criterion, comment is not None)
    for name in EVALUATION_FIELDS:
        if name not in fixed:
            problems.append(table.cell(table.header_row, 0).problem(f"no {name!r} column"))
    return fixed, scored


def _score(raw: Any) -> Decimal | None:
    return None if is_not_applicable(raw) else as_decimal(raw)


def _evaluations(table: Table, call: Call | None, mapping: Mapping[str, str], reading: Reading) -> None:
    """One row per proposal and evaluator; an evaluator named ``consensus`` records the panel's consensus."""
    fixed, scored = _evaluation_columns(table, call, mapping, reading.problems)
    if len(fixed) < len(EVALUATION_FIELDS):
        return
    for row in _data_rows(table, reading.problems):
        values = _values(table, row, fixed, EVALUATION_FIELDS, reading.problems)
        if "id" not in values or "evaluator" not in values:
            continue
        (pid, id_cell), (evaluator, who_cell) = values["id"], values["evaluator"]
        if pid not in reading.index:
            reading.problems.append(id_cell.problem(f"proposal {pid!r} is not among the proposals"))
            continue
        at = reading.index[pid]
        consensus = evaluator.casefold() == CONSENSUS
        where: PathKey = ("consensus",)
        if not consensus:
            where = ("evaluations", len(reading.data[at].setdefault("evaluations", [])))
            reading.cells[at][(*where, "evaluator")] = who_cell
        reading.cells[at][where] = who_cell
        sheet = _sheet(table, row, scored, where, reading.cells[at], reading.problems)
        if consensus:
            reading.data[at]["consensus"] = sheet["scores"]
        else:
            reading.data[at]["evaluations"].append({"evaluator": evaluator, **sheet})


def _sheet(
    table: Table,
    row: Row,
    scored: dict[int, tuple[str, bool]],
    where: PathKey,
    located: Located,
    problems: list[Problem],
) -> dict[str, dict[str, Any]]:
    """One row's scores and comments; an empty cell is no score, ``n/a`` is "not applicable"."""
    scores: dict[str, Any] = {}
    comments: dict[str, str] = {}
    for k, (criterion, is_comment) in scored.items():
        raw = row.values[k]
        if raw is None or raw == "":
            continue
        cell = table.cell(row.number, k)
        try:
            if is_comment:
                comments[criterion] = as_text(raw)
            else:
                scores[criterion] = _score(raw)
        except BadValue as exc:
            problems.append(dataclasses.replace(cell.problem(str(exc)), path=criterion))
            continue
        if where == ("consensus",):
            located[(*where, criterion)] = cell
        else:
            located[(*where, "comments" if is_comment else "scores", criterion)] = cell
    return {"scores": scores, "comments": comments} if comments else {"scores": scores}


# --- the workbook as a whole ------------------------------------------------------------------------------


def _hidden(workbook: Workbook, filename: str) -> list[Problem]:
    """A hidden sheet is never read; one named like a sheet the reader needs is surely a mistake."""
    return [
        Problem(
            f"sheet {name!r} is hidden, and hidden sheets are not read: unhide it (or delete it)",
            file=filename,
            cell=f"{name}!A1",
        )
        for name in workbook.hidden
        if column_key(name) in SHEETS
    ]


def _proposal_tables(workbook: Workbook, filename: str, mapping: Mapping[str, str], reading: Reading) -> None:
    tables = workbook.tables
    if "proposals" in tables and "partners" in tables:
        _two_sheets(tables["proposals"], tables["partners"], mapping, reading)
        return
    others = [t for key, t in tables.items() if key != "evaluations"]
    table = tables.get("proposals") or (others[0] if len(others) == 1 else None)
    if table is None:
        names = ", ".join(repr(t.sheet) for t in others) or "none"
        message = f"no sheet named 'proposals' (and several others: {names}); name the sheet that holds them"
        reading.problems.append(Problem(message, file=filename))
        return
    _one_sheet(table, mapping, reading)


def _evaluation_table(workbook: Workbook) -> Table | None:
    tables = workbook.tables
    return tables.get("evaluations") or (next(iter(tables.values())) if len(tables) == 1 else None)


@dataclass(frozen=True)
class Source:
    """A spreadsheet as bytes and the name it is known by (a path, or an upload's file name)."""

    data: bytes
    name: str


def _reading(
    proposals: Source | Sequence[Proposal],
    call: Call | None,
    columns: Mapping[str, str] | None,
    evaluations: Sequence[Source],
) -> Reading:
    mapping = _normalised_mapping(columns)
    reading = Reading()
    if isinstance(proposals, Source):
        workbook = read_tables(proposals.data, proposals.name)
        reading.problems += _hidden(workbook, proposals.name)
        _proposal_tables(workbook, proposals.name, mapping, reading)
        if "evaluations" in workbook.tables:
            _evaluations(workbook.tables["evaluations"], call, mapping, reading)
    else:
        for proposal in proposals:
            reading.index[proposal.id] = len(reading.data)
            reading.data.append(proposal.model_dump(exclude_none=True))
            reading.cells.append({})
    for source in evaluations:
        workbook = read_tables(source.data, source.name)
        reading.problems += _hidden(workbook, source.name)
        table = _evaluation_table(workbook)
        if table is None:
            reading.problems.append(Problem("no sheet named 'evaluations'", file=source.name))
        else:
            _evaluations(table, call, mapping, reading)
    return reading


def _readable(loc: Sequence[str | int]) -> PathKey:
    """Pydantic's location without its union and model tags (``function-after[...]``)."""
    return tuple(part for part in loc if not (isinstance(part, str) and "[" in part))


def locate_at(cells: Located, path: PathKey, problem: Problem, fallback: str, named: bool = False) -> Problem:
    """The problem at the cell of ``path``, or of the nearest enclosing part that has one.

    ``named`` adds the field's name, for messages (pydantic's) that do not say which field they are about.
    """
    for end in range(len(path), -1, -1):
        cell = cells.get(path[:end])
        if cell is not None:
            field_name = next((str(p) for p in reversed(path) if isinstance(p, str)), "") if named else ""
            return Problem(problem.message, field_name, cell.file, None, cell.address)
    return dataclasses.replace(problem, file=problem.file or fallback)


def _validated(reading: Reading, fallback: str) -> tuple[list[Proposal], list[int]]:
    """Each proposal validated on its own, so one wrong proposal does not hide the others' problems."""
    valid, where = [], []
    for k, data in enumerate(reading.data):
        try:
            valid.append(Proposal.model_validate(data))
            where.append(k)
        except ValidationError as exc:
            for err in exc.errors():
                path = _readable(err["loc"])
                if err["type"] == "missing" and path in reading.cells[k]:
                    continue  # the cell that should have given it is already reported
                message = err["msg"].removeprefix("Value error, ")
                if err["type"] == "too_short" and path == ("partners",):
                    message = "the proposal has no partner rows"
                problem = locate_at(reading.cells[k], path, Problem(message), fallback, named=True)
                reading.problems.append(problem)
    return valid, where


def relocated(problems: Sequence[Problem], reading: Reading, where: Sequence[int], fallback: str) -> list[Problem]:
    """Problems found later (places, scores), whose paths count from the list of valid proposals."""
    located = []
    for p in problems:
        path = path_key(p.path)
        if path and isinstance(path[0], int) and path[0] < len(where):
            k = where[path[0]]
            located.append(locate_at(reading.cells[k], path[1:], p, fallback))
        else:
            located.append(dataclasses.replace(p, file=p.file or fallback))
    return located


Check = Callable[[list[Proposal]], None]


def read_proposals(
    proposals: Source | Sequence[Proposal],
    *,
    call: Call | None = None,
    columns: Mapping[str, str] | None = None,
    evaluations: Sequence[Source] = (),
    also: Check | None = None,
) -> list[Proposal]:
    """Proposals from a spreadsheet (or given), with evaluations from spreadsheets; ProposalError lists
    every problem at its cell.

    ``call`` lets criterion names head score columns; ``also`` runs further checks (places,
    scores against the call's scale) on the proposals that read well, so that their problems
    come in the same list, at their cells, instead of one round later.
    """
    name = proposals.name if isinstance(proposals, Source) else ""
    reading = _reading(proposals, call, columns, evaluations)
    valid, where = _validated(reading, name)
    if also is not None and valid:
        try:
            also(valid)
        except GrantsError as exc:
            reading.problems += relocated(exc.problems, reading, where, name)
    if reading.problems:
        raise ProposalError(reading.problems)
    if not valid:
        raise ProposalError([Problem("the file holds no proposals", file=name)])
    return valid


def locate_later(
    problems: Sequence[Problem],
    proposals: Source | Sequence[Proposal],
    *,
    call: Call | None = None,
    columns: Mapping[str, str] | None = None,
    evaluations: Sequence[Source] = (),
) -> list[Problem]:
    """Put problems found after loading (paths from the list of proposals) on their cells."""
    reading = _reading(proposals, call, columns, evaluations)
    fallback = proposals.name if isinstance(proposals, Source) else ""
    return relocated(problems, reading, range(len(reading.data)), fallback)
