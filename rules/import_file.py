"""An import file: where a call's proposals and evaluations are, and what their columns are called.

A submission system's export has its own column names and often comes with the
evaluators' score sheets as separate files. An import file, given to any command
in place of a proposals file, names them once::

    proposals: export.xlsx          # or .csv, .yaml, .json
    evaluations: [scores.csv]       # optional: one row per proposal and evaluator
    columns:                        # optional: header in the file -> field
      Projektakronym: acronym
      Land: country
      Interne Nummer: ignore

Paths are read from the import file's folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rules.errors import Problem, ProposalError
from rules.model import Call
from rules.proposal import Proposal
from rules.sheets import READABLE
from rules.yamlio import parse_yaml

if TYPE_CHECKING:
    from rules.spreadsheet import Source

IMPORT_FILE = re.compile(r"^proposals:[ \t]*[^\s\[{#|>&*-]", re.MULTILINE)


def is_import_file(text: str) -> bool:
    """A YAML file whose ``proposals:`` names a file, not a list.

    The substring test comes first: the line-anchored pattern alone takes 0.3 s on a
    50 MB JSON file, where a key is written ``"proposals":`` and never matches.
    """
    return "proposals:" in text and bool(IMPORT_FILE.search(text))


class ImportFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proposals: str = Field(min_length=1, description="the proposals' file: .xlsx, .csv, .yaml or .json")
    evaluations: list[str] = Field(default_factory=list, description="score spreadsheets, .xlsx or .csv")
    columns: dict[str, str] = Field(default_factory=dict, description="header as written -> field, or 'ignore'")

    @field_validator("evaluations", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


def import_file(text: str, source: str) -> ImportFile:
    data = parse_yaml(text, source, ProposalError)
    try:
        return ImportFile.model_validate(data)
    except ValidationError as exc:
        from rules.load import validation_problems

        raise ProposalError(validation_problems(exc, text, source, data)) from None


def _bytes(path: Path) -> bytes:
    from rules.load import read_bytes

    return read_bytes(path, ProposalError)


def _inputs(path: Path, text: str) -> tuple[ImportFile, Source | list[Proposal], list[Source]]:
    """The import file, its proposals (a spreadsheet's bytes, or proposals read from YAML or JSON) and
    its score spreadsheets."""
    from rules.load import load_proposals
    from rules.spreadsheet import Source

    spec = import_file(text, str(path))
    bad = [name for name in spec.evaluations if Path(name).suffix.lower() not in READABLE]
    if bad:
        message = f"evaluations are read from .xlsx or .csv files, not {', '.join(bad)}"
        raise ProposalError([Problem(message, "evaluations", str(path))])
    evaluations = [Source(_bytes(path.parent / name), str(path.parent / name)) for name in spec.evaluations]
    proposals_path = path.parent / spec.proposals
    if proposals_path.suffix.lower() in READABLE:
        return spec, Source(_bytes(proposals_path), str(proposals_path)), evaluations
    return spec, load_proposals(proposals_path), evaluations


def load_import(
    path: Path, text: str, call: Call | None, also: Callable[[list[Proposal]], None] | None
) -> list[Proposal]:
    """The proposals an import file points to, with its evaluations and column names."""
    from rules.spreadsheet import read_proposals

    spec, proposals, evaluations = _inputs(path, text)
    return read_proposals(proposals, call=call, columns=spec.columns, evaluations=evaluations, also=also)


def locate_import(problems: list[Problem], path: Path, text: str, call: Call | None) -> list[Problem]:
    """Problems found after loading, at their cells in the spreadsheets the import file names."""
    from rules.spreadsheet import locate_later

    spec, proposals, evaluations = _inputs(path, text)
    return locate_later(problems, proposals, call=call, columns=spec.columns, evaluations=evaluations)
