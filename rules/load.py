"""Reading calls and proposals from files, with errors that point at the line.

Data is parsed with libyaml (fast); only when validation fails is the file composed
again into a node tree to find the line of each failing field, so loading large
proposal files costs nothing extra when they are right.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from rules.areas import call_areas
from rules.bulk import gc_paused
from rules.errors import AreaError, CallError, GrantsError, Problem, ProposalError
from rules.model import Call
from rules.proposal import Proposal
from rules.yamlio import PathKey, line_map, locate, parse_yaml, path_key

M = TypeVar("M", bound=BaseModel)
PROPOSALS = TypeAdapter(list[Proposal])


def read_text(path: Path, error: type[GrantsError]) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error([Problem("file not found", file=str(path))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error([Problem(f"cannot read the file: {exc}", file=str(path))]) from None


def _readable_path(loc: Sequence[str | int]) -> PathKey:
    """Drop pydantic's union-branch tags (``partner_area``...) that are not YAML keys."""
    return tuple(part for part in loc if not (isinstance(part, str) and part.startswith(("function-", "tagged-"))))


def validation_problems(exc: ValidationError, text: str, source: str, data: Any, prefix: PathKey = ()) -> list[Problem]:
    """Pydantic's errors as problems on the file's lines; ``prefix`` is where the validated data sits."""
    lines = line_map(text)
    problems = []
    errors = exc.errors()
    hints = _did_you_mean(errors)
    for err in errors:
        path = _yaml_path((*prefix, *_readable_path(err["loc"])), data)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            hint = hints.get(tuple(err["loc"]))
            message = f"unknown field {err['loc'][-1]!r}" + (f"; did you mean {hint!r}?" if hint else "")
        if err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            path = (*path, "rule")
            kind = err["input"].get("rule") if isinstance(err["input"], dict) else None
            message = f"unknown rule kind {kind!r}" if kind else "missing 'rule:', the kind of rule"
        problems.append(Problem(message, ".".join(map(str, path)), source, locate(lines, path)))
    return problems


def _yaml_path(loc: PathKey, data: Any) -> PathKey:
    """The parts of a pydantic location that are keys in the data, plus a missing field's name.

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
        elif isinstance(node, dict) and k == len(loc) - 1:
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
        raise CallError([Problem("a call file must be a YAML mapping", file=source, line=1)])
    try:
        call = Call.model_validate(data)
    except ValidationError as exc:
        raise CallError(validation_problems(exc, text, source, data)) from None
    lines = line_map(text)
    try:
        areas = call_areas(call.areas)
    except AreaError as exc:
        raise CallError(
            [Problem(p.message, p.path, source, locate(lines, tuple(p.path.split(".")))) for p in exc.problems]
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
    """Proposals from a YAML or JSON list (a mapping with a ``proposals`` key is accepted)."""
    if fmt == "json":
        try:
            return _unwrap_json(text, source)
        except ValidationError as exc:
            data = json.loads(text)
            raise ProposalError(validation_problems(exc, text, source, data)) from None
    data = parse_yaml(text, source, ProposalError)
    if isinstance(data, dict) and "proposals" in data:
        data = data["proposals"]
        prefix: PathKey = ("proposals",)
    else:
        prefix = ()
    if not isinstance(data, list):
        raise ProposalError([Problem("a proposal file must be a list of proposals", file=source, line=1)])
    try:
        with gc_paused():
            return PROPOSALS.validate_python(data)
    except ValidationError as exc:
        problems = validation_problems(exc, text, source, {"proposals": data} if prefix else data, prefix)
        raise ProposalError(problems) from None


def _unwrap_json(text: str, source: str) -> list[Proposal]:
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProposalError([Problem(f"malformed JSON: {exc.msg}", file=source, line=exc.lineno)]) from None
        return PROPOSALS.validate_python(data.get("proposals", data))
    try:
        with gc_paused():
            return PROPOSALS.validate_json(text)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            try:
                json.loads(text)
            except json.JSONDecodeError as bad:
                raise ProposalError([Problem(f"malformed JSON: {bad.msg}", file=source, line=bad.lineno)]) from None
        raise


def load_proposals(path: str | Path) -> list[Proposal]:
    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    return proposals_from_text(read_text(path, ProposalError), str(path), fmt)


def locate_problems(problems: list[Problem], text: str) -> list[Problem]:
    """Add line numbers to problems found after loading (e.g. unresolved regions)."""
    lines = line_map(text)
    prefix: PathKey = ("proposals",) if ("proposals",) in lines else ()
    return [Problem(p.message, p.path, p.file, locate(lines, (*prefix, *path_key(p.path)))) for p in problems]


def json_schema(kind: str) -> dict[str, Any]:
    models: dict[str, Any] = {"call": Call, "proposal": Proposal}
    if kind not in models:
        raise GrantsError(f"unknown schema {kind!r}; choose one of {', '.join(models)}")
    schema: dict[str, Any] = models[kind].model_json_schema()
    return schema
