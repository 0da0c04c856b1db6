"""Reading calls and proposals from files, with errors that point at the line.

Data is parsed with libyaml (fast); only when validation fails is the file composed
again into a node tree to find the line of each failing field, so loading large
proposal files costs nothing extra when they are right.
"""

from __future__ import annotations

import codecs
import datetime as dt
import difflib
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from rules.areas import call_areas
from rules.bulk import gc_paused
from rules.columns import ParsedColumns, read_columns, read_json_columns
from rules.errors import AreaError, CallError, GrantsError, Problem, ProposalError
from rules.import_file import is_import_file
from rules.model import Call
from rules.proposal import Proposal
from rules.yamlio import PathKey, jiter_json, line_map, locate, parse_json, parse_yaml, path_key, read_json

M = TypeVar("M", bound=BaseModel)
PROPOSALS = TypeAdapter(list[Proposal])
SHEET_SUFFIXES = frozenset({".csv", ".xlsx"})
SPREADSHEETS = frozenset({".tsv", ".xls", ".ods"})
"""Read as YAML, these fail as 'malformed YAML' or 'not UTF-8': say what to do instead (.csv and .xlsx are read)."""


def read_bytes(path: Path, error: type[GrantsError]) -> bytes:
    """The file's bytes; a missing file or a folder is a located error."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise error([Problem("file not found", file=str(path))]) from None
    except IsADirectoryError:
        raise error([Problem("is a folder, not a file", file=str(path))]) from None
    except OSError as exc:
        raise error([Problem(f"cannot read the file: {exc.strerror or exc}", file=str(path))]) from None


def read_text(path: Path, error: type[GrantsError]) -> str:
    """The file as text; a missing file, a folder or another encoding than UTF-8 is a located error."""
    return decoded(read_bytes(path, error), path, error)


def decoded(data: bytes, path: Path, error: type[GrantsError]) -> str:
    """A file's bytes as text; another encoding than UTF-8 is a located error."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8"
        raise error([Problem(message, file=str(path), line=line)]) from None


def _readable_path(loc: Sequence[str | int]) -> PathKey:
    """Drop pydantic's union-branch tags (``function-after[...]``, ``literal[False]``...) that are not YAML keys."""
    return tuple(part for part in loc if not (isinstance(part, str) and (part.startswith("tagged-") or "[" in part)))


def _is_type_mismatch(err: Any) -> bool:
    return str(err["type"]).endswith("_type") or err["type"] == "literal_error"


def _relevant(errors: list[Any]) -> list[Any]:
    """Drop a union branch's "should be False" where another branch took the input and found what is wrong.

    A value given as a mapping for ``partial_funding: {range} | false`` fails the ``false``
    branch too; only the mapping branch's complaint says anything.
    """
    telling = [_readable_path(e["loc"]) for e in errors if not _is_type_mismatch(e)]

    def superseded(err: Any) -> bool:
        here = _readable_path(err["loc"])
        return _is_type_mismatch(err) and any(path[: len(here)] == here for path in telling)

    return [e for e in errors if not superseded(e)]


def validation_problems(exc: ValidationError, text: str, source: str, data: Any, prefix: PathKey = ()) -> list[Problem]:
    """Pydantic's errors as problems on the file's lines; ``prefix`` is where the validated data sits."""
    lines = line_map(text)
    problems = []
    errors = _relevant(exc.errors())
    hints = _did_you_mean(errors)
    for err in errors:
        path = _yaml_path((*prefix, *_readable_path(err["loc"])), data, missing=err["type"] == "missing")
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            hint = hints.get(tuple(err["loc"]))
            message = f"unknown field {err['loc'][-1]!r}" + (f"; did you mean {hint!r}?" if hint else "")
        if err["type"] == "string_type" and isinstance(err["input"], (bool, int, float, dt.date)):
            message = f"Input should be text, not {_read_as(err['input'])}: put it in quotes"
        if err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            path = (*path, "rule")
            kind = err["input"].get("rule") if isinstance(err["input"], dict) else None
            message = f"unknown rule kind {kind!r}" if kind else "missing 'rule:', the kind of rule"
        problems.append(Problem(message, ".".join(map(str, path)), source, locate(lines, path)))
    return problems


def _read_as(value: bool | int | float | dt.date) -> str:
    """What YAML made of an unquoted id or name (``001`` is the number 1, ``2021-03-04`` a date)."""
    kind = "boolean" if isinstance(value, bool) else "date" if isinstance(value, dt.date) else "number"
    return f"the {kind} {value}"


def _yaml_path(loc: PathKey, data: Any, missing: bool = False) -> PathKey:
    """The parts of a pydantic location that are keys in the data, plus a ``missing`` field's name.

    Pydantic adds union tags and model names (``min_partners``, ``datetime``) that are not
    keys in the file; they are dropped so the path reads like the YAML.
    """
    path: list[str | int] = []
    node = data
    for k, part in enumerate(loc):
        in_mapping = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_mapping or in_list:
            node = node[part]
            path.append(part)
        elif missing and isinstance(node, dict) and k == len(loc) - 1:
            path.append(part)
    return tuple(path)


def _did_you_mean(errors: list[Any]) -> dict[PathKey, str]:
    """For each misspelt key, the required key it most likely stands for (``budjet`` -> ``budget``)."""
    missing: dict[PathKey, list[str]] = {}
    for err in errors:
        if err["type"] == "missing":
            missing.setdefault(tuple(err["loc"][:-1]), []).append(str(err["loc"][-1]))
    hints = {}
    for err in errors:
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(err["loc"][-1]), missing.get(tuple(err["loc"][:-1]), []), n=1)
            if close:
                hints[tuple(err["loc"])] = close[0]
    return hints


def _area_references(data: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "area":
                yield (*path, key), value
            yield from _area_references(value, (*path, key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _area_references(item, (*path, i))


def call_from_text(text: str, source: str = "<call>") -> Call:
    """Validate a call and resolve its areas; CallError lists every problem found."""
    data = parse_yaml(text, source, CallError)
    if not isinstance(data, dict):
        message = "the file is empty" if data is None else "a call file must be a YAML mapping"
        raise CallError([Problem(message, file=source, line=1)])
    try:
        call = Call.model_validate(data)
    except ValidationError as exc:
        raise CallError(validation_problems(exc, text, source, data)) from None
    lines = line_map(text)
    try:
        areas = call_areas(call.areas)
    except AreaError as exc:
        raise CallError(
            [Problem(p.message, p.path, source, locate(lines, path_key(p.path))) for p in exc.problems]
        ) from None
    unknown = [
        Problem(
            f"unknown area {name!r}; known: {', '.join(sorted(areas))}",
            ".".join(map(str, path)),
            source,
            locate(lines, path),
        )
        for path, name in _area_references(data.get("eligibility"), ("eligibility",))
        if name not in areas
    ]
    if unknown:
        raise CallError(unknown)
    return call


def load_call(path: str | Path) -> Call:
    path = Path(path)
    return call_from_text(read_text(path, CallError), str(path))


def proposals_from_text(text: str, source: str = "<proposals>", fmt: str = "yaml") -> list[Proposal]:
    """Proposals from a YAML or JSON list, or a mapping with a ``proposals`` list; both read the same way."""
    proposals = _from_text(lambda: text, source, fmt, as_columns=False)
    assert isinstance(proposals, list)
    return proposals


@dataclass
class _JsonBytes:
    """A JSON file's bytes after any byte order mark, and what jiter read of them; ``refused`` if it refused them."""

    raw: bytes
    data: Any = None
    refused: bool = False

    @classmethod
    def read(cls, raw: bytes) -> _JsonBytes:
        body = raw.removeprefix(codecs.BOM_UTF8)  # RFC 8259 lets a parser ignore it; editors on Windows write it
        try:
            with gc_paused():
                return cls(body, jiter_json(body))
        except ValueError:
            return cls(body, refused=True)


def _from_text(
    text: Callable[[], str], source: str, fmt: str, as_columns: bool, read: _JsonBytes | None = None
) -> list[Proposal] | ParsedColumns:
    """The proposals; ``as_columns``: as columns without the models when ``rules.columns`` vouches for the data.

    ``text`` gives the file's text, decoded only when needed (to explain a mistake); ``read``
    is what jiter read of a JSON file's bytes, if the caller had it read them.
    """
    if fmt == "json":
        whole = text
        text = functools.cache(lambda: whole().removeprefix("\ufeff"))  # RFC 8259 lets a parser ignore it
    read_by_jiter = read is not None and not read.refused
    if read is not None and read_by_jiter:
        data, read.data = read.data, None  # held here only, to be freed before validation from the text
    elif fmt == "json":
        with gc_paused():
            data, read_by_jiter = read_json(text(), source, ProposalError, jiter_first=read is None)
    else:
        data = parse_yaml(text(), source, ProposalError)
    prefix: PathKey = ()
    if isinstance(data, dict) and "proposals" in data:
        data, prefix = data["proposals"], ("proposals",)
    if not isinstance(data, list):
        message = "a proposal file must be a list of proposals, or a mapping with a 'proposals' list"
        raise ProposalError([Problem("the file is empty" if data is None else message, file=source, line=1)])
    if as_columns:
        with gc_paused():
            columns = read_columns(data, read_by_jiter)
        if columns is not None:
            return columns
    from_text = fmt == "json" and not prefix
    if from_text:
        # Validated from the text again: pydantic's own parser is faster than from objects, and
        # the objects (several times the file's size) are freed first, read again only to explain an error.
        del data
    try:
        with gc_paused():
            if not from_text:
                return PROPOSALS.validate_python(data)
            return PROPOSALS.validate_json(read.raw if read is not None else text())
    except ValidationError as exc:
        data = parse_json(text(), source, ProposalError) if from_text else data
        problems = validation_problems(exc, text(), source, {"proposals": data} if prefix else data, prefix)
        raise ProposalError(problems) from None


def load_proposals(
    path: str | Path, call: Call | None = None, also: Callable[[list[Proposal]], None] | None = None
) -> list[Proposal]:
    """A file's proposals; a file with none is a mistake (the wrong file, an export that failed), not a call.

    CSV and XLSX files, and import files naming them (``rules.import_file``), are read by
    ``rules.spreadsheet``; for those ``call`` names the criteria of score columns and ``also``
    adds further checks whose problems are reported with the file's own, at their cells.
    """
    proposals = _load(Path(path), call, also, as_columns=False)
    assert isinstance(proposals, list)
    return proposals


def load_for_rules(
    path: str | Path, call: Call | None = None, also: Callable[[list[Proposal]], None] | None = None
) -> list[Proposal] | ParsedColumns:
    """A file's proposals, as :func:`load_proposals` reads them, or as the rules' columns where they are plain JSON.

    For ``grants check``, which needs only the columns: validating 100,000 proposals through
    the models was half of its time (``rules.columns``).
    """
    return _load(Path(path), call, also, as_columns=True)


def _load(
    path: Path, call: Call | None, also: Callable[[list[Proposal]], None] | None, as_columns: bool
) -> list[Proposal] | ParsedColumns:
    suffix = path.suffix.lower()
    if suffix in SHEET_SUFFIXES:
        from rules.spreadsheet import Source, read_proposals

        return read_proposals(Source(read_bytes(path, ProposalError), str(path)), call=call, also=also)
    if suffix in SPREADSHEETS:
        message = f"proposals are read from XLSX, CSV, YAML or JSON, not {path.suffix}: save the file as .xlsx or .csv"
        raise ProposalError([Problem(message, file=str(path))])
    raw = read_bytes(path, ProposalError)
    fmt = "json" if suffix == ".json" else "yaml"
    if as_columns and fmt == "json":
        with gc_paused():
            columns = read_json_columns(raw.removeprefix(codecs.BOM_UTF8))
        if columns is not None:
            return columns
    read = _JsonBytes.read(raw) if fmt == "json" else None
    text = functools.cache(lambda: decoded(raw, path, ProposalError))
    # What jiter reads is UTF-8 JSON, never an import file (whose line starts ``proposals:``):
    # only another file is decoded (84 MB of text for 100,000 proposals) and looked into first.
    if (read is None or read.refused) and is_import_file(text()):
        from rules.import_file import load_import

        return load_import(path, text(), call, also)
    proposals = _from_text(text, str(path), fmt, as_columns, read)
    if not len(proposals.ids if isinstance(proposals, ParsedColumns) else proposals):
        raise ProposalError([Problem("the file holds no proposals", file=str(path), line=1)])
    return proposals


def locate_in_file(problems: list[Problem], path: Path, call: Call | None = None) -> list[Problem]:
    """Problems found after loading, at their line in a YAML or JSON file or at their cell in a spreadsheet."""
    suffix = path.suffix.lower()
    if suffix in SHEET_SUFFIXES:
        from rules.spreadsheet import Source, locate_later

        return locate_later(problems, Source(read_bytes(path, ProposalError), str(path)), call=call)
    text = read_text(path, ProposalError)
    if is_import_file(text):
        from rules.import_file import locate_import

        return locate_import(problems, path, text, call)
    return locate_problems(problems, text)


def locate_problems(problems: list[Problem], text: str) -> list[Problem]:
    """Add line numbers to problems found after loading (e.g. unresolved regions).

    Their paths count from the list of proposals; under a ``proposals:`` key they get that
    prefix, so they read like the loader's own (``proposals.0.partners.1.region``).
    """
    lines = line_map(text)
    prefix: PathKey = ("proposals",) if ("proposals",) in lines else ()
    located = []
    for p in problems:
        path = (*prefix, *path_key(p.path))
        located.append(Problem(p.message, ".".join(map(str, path)), p.file, locate(lines, path)))
    return located


def json_schema(kind: str) -> dict[str, Any]:
    models: dict[str, Any] = {"call": Call, "proposal": Proposal}
    if kind not in models:
        raise GrantsError(f"unknown schema {kind!r}; choose one of {', '.join(models)}")
    schema: dict[str, Any] = models[kind].model_json_schema()
    return schema
