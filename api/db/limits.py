"""What the store can hold, checked before a write so the client hears which field is wrong.

SQLite keeps whatever it is given; PostgreSQL refuses text with a NUL character,
ids longer than their column, amounts beyond ``Numeric(14, 2)`` and integers beyond
64 bits. Checking here, against the column types of :mod:`api.db.models`, gives the
same located 422 on both databases instead of a driver error on one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from api.db.models import MONEY, CallRow, ProposalRow, Score, TokenRow
from rules.errors import Problem
from rules.model import Call
from rules.money import CENT
from rules.proposal import Proposal

MAX_AMOUNT = Decimal(10) ** (MONEY.precision - MONEY.scale) - CENT  # type: ignore[operator]
MAX_ROW_ID = 2**31 - 1  # ids are INTEGER columns
MAX_OFFSET = 2**63 - 1  # OFFSET is a 64-bit integer on both databases
NUL = "\x00"
NUL_ESCAPES = ("\\0", "\\x00", "\\u0000", "\\U00000000")
SURROGATE_ESCAPE = re.compile(r"\\(?:u|U0000)[dD][89a-fA-F]")
BIG_NUMBER = re.compile(r"\d{13}|\d[eE]\+?\d")


def _length(column: Any) -> int:
    return int(column.type.length)


CALL_ID_LENGTH = _length(CallRow.__table__.c.id)
CRITERION_LENGTH = _length(Score.__table__.c.criterion)
TOKEN_LABEL_LENGTH = _length(TokenRow.__table__.c.label)
PROPOSAL_ID_LENGTH = _length(ProposalRow.__table__.c.code)
PROPOSAL_TEXT_LENGTH = {field: _length(ProposalRow.__table__.c[field]) for field in ("acronym", "topic")}


def _joined(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def unstorable(value: Any, path: str = "") -> Iterator[Problem]:
    """Every text with a NUL character and every number beyond the largest amount, with its path."""
    if isinstance(value, BaseModel):
        value = dict(value)
    if isinstance(value, str) and NUL in value:
        yield Problem("text cannot contain the NUL character (\\u0000)", path)
    elif isinstance(value, str) and not _encodable(value):
        yield Problem("text holds a lone surrogate (\\ud800-\\udfff), which is no character: send UTF-8 text", path)
    elif isinstance(value, Decimal) and value.is_finite() and abs(value) > MAX_AMOUNT:
        yield Problem(f"{value} is beyond the largest number the store holds, {MAX_AMOUNT:,}", path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from unstorable(key, path)
            yield from unstorable(item, _joined(path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from unstorable(item, _joined(path, index))


def _encodable(text: str) -> bool:
    """Whether the text is characters at all: JSON's ``"\\udfff"`` decodes to half a pair, which no database stores."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def too_long(value: str | None, path: str, length: int) -> Iterator[Problem]:
    if value is not None and len(value) > length:
        yield Problem(f"{len(value)} characters; at most {length} characters are kept", path)


def id_problems(value: str, path: str, length: int) -> Iterator[Problem]:
    """An id must fit its column and, being a segment of URLs, hold no '/'."""
    yield from too_long(value, path, length)
    if "/" in value:
        yield Problem(f"{value!r} contains '/', so no URL could reach it", path)


def call_problems(call: Call) -> list[Problem]:
    """What in a call the store could not keep: its id, its criteria ids, its text and amounts."""
    found = [*unstorable(call.model_dump()), *id_problems(call.id, "id", CALL_ID_LENGTH)]
    for index, criterion in enumerate(call.criteria):
        found += too_long(criterion.id, f"criteria.{index}.id", CRITERION_LENGTH)
    return found


def may_hold_unstorable_values(text: str) -> bool:
    """Whether a YAML or JSON text could hold a NUL or a number past :data:`MAX_AMOUNT` at all.

    Neither format lets a raw NUL or a lone surrogate through, so one needs an escape;
    a number that large needs thirteen digits or an exponent. Most uploads have neither, and skip the walk.
    """
    return (
        any(escape in text for escape in NUL_ESCAPES)
        or BIG_NUMBER.search(text) is not None
        or SURROGATE_ESCAPE.search(text) is not None
    )


def proposal_problems(proposals: list[Proposal], text: str | None) -> list[Problem]:
    """What in an upload the store could not keep, including a second proposal with an id already used.

    ``text`` is the upload as YAML or JSON; None (a spreadsheet) walks every value.
    """
    found: list[Problem] = []
    first: dict[str, int] = {}
    walk = text is None or may_hold_unstorable_values(text)
    for index, proposal in enumerate(proposals):
        if walk:
            found += unstorable(proposal.model_dump(exclude={"evaluations", "consensus"}), str(index))
        found += id_problems(proposal.id, f"{index}.id", PROPOSAL_ID_LENGTH)
        for field, length in PROPOSAL_TEXT_LENGTH.items():
            found += too_long(getattr(proposal, field), f"{index}.{field}", length)
        if proposal.id in first:
            found.append(Problem(f"proposal {proposal.id!r} is also entry {first[proposal.id]}", f"{index}.id"))
        first.setdefault(proposal.id, index)
    return found


def findable(key: str) -> bool:
    """Whether a looked-up id could have been stored at all (a NUL never is)."""
    return NUL not in key


class Storable(BaseModel):
    """A request body the store will keep: unknown fields and values it could not hold are refused.

    An unknown field is refused rather than dropped, so a typo (``budjet``) is an error
    and not a silent run under the call's own budget.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        problem = next(unstorable(value), None)
        if problem is not None:
            raise ValueError(f"{problem.path}: {problem.message}" if problem.path else problem.message)
        return value
