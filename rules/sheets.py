"""Tables from CSV and XLSX files, every value with the cell it came from.

This is the part of spreadsheet reading that knows nothing of proposals: which
sheets a workbook has, where a header is, what a cell holds (a number cell, a
formula, a date) and how each kind of value is read exactly. openpyxl is imported
inside :func:`read_tables`, so the command line starts without it.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from rules.errors import GrantsError, Problem, ProposalError

XLSX = ".xlsx"
CSV = ".csv"
READABLE = (CSV, XLSX)
TOTAL_WORDS = frozenset({"total", "totals", "grand_total", "sum", "summe", "gesamt", "totale", "somme", "suma"})
NOT_APPLICABLE = frozenset({"n/a", "na", "-", "null", "not applicable"})


@functools.lru_cache(maxsize=4096)
def column_key(header: str) -> str:
    """A header as it is matched: case, accents, units in brackets and punctuation folded away.

    ``Requested amount (EUR)``, ``requested_amount`` and ``REQUESTED-AMOUNT`` meet as
    ``requested_amount``; ``Organisation name`` as ``organisation_name``.
    """
    text = re.sub(r"\([^)]*\)|\[[^]]*\]", " ", header)
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return "_".join(re.findall(r"[a-z0-9]+", ascii_text))


def column_letter(index: int) -> str:
    """``0 -> A``, ``26 -> AA``: the column as Excel names it."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


class Cell(NamedTuple):
    """Where a value is: file, sheet (none in a CSV), row and column as the spreadsheet numbers them.

    A tuple, because a reading makes one per filled cell (a frozen dataclass cost a fifth of the read).
    """

    file: str
    sheet: str | None
    row: int
    column: int

    @property
    def address(self) -> str:
        here = f"{column_letter(self.column)}{self.row}"
        return f"{self.sheet}!{here}" if self.sheet else here

    def problem(self, message: str) -> Problem:
        return Problem(message, file=self.file, cell=self.address)


@dataclass(frozen=True)
class Formula:
    """A formula cell: its text, never evaluated (the engine computes nothing from the spreadsheet)."""

    text: str


@dataclass
class Row:
    number: int
    values: list[Any]


@dataclass
class Table:
    """One sheet (or a CSV file): its header row, normalised, and the rows under it."""

    file: str
    sheet: str | None
    header_row: int
    header: list[str]
    rows: list[Row] = field(default_factory=list)

    def cell(self, row: int, column: int) -> Cell:
        return Cell(self.file, self.sheet, row, column)

    @property
    def keys(self) -> list[str]:
        return [column_key(h) for h in self.header]


@dataclass
class Workbook:
    """The tables read from a file, by normalised sheet name, and the sheets left out because hidden."""

    tables: dict[str, Table]
    hidden: list[str]


def read_tables(data: bytes, filename: str, error: type[GrantsError] = ProposalError) -> Workbook:
    """Every sheet of an XLSX file, or the one table of a CSV file; the suffix says which."""
    if filename.lower().endswith(XLSX):
        return _read_xlsx(data, filename, error)
    table = _read_csv(data, filename, error)
    return Workbook({"": table}, [])


def _read_csv(data: bytes, filename: str, error: type[GrantsError]) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"the file is not UTF-8 (byte 0x{data[exc.start]:02x}); in Excel save it as 'CSV UTF-8'"
        raise error([Problem(message, file=filename, line=line)]) from None
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return _table(filename, None, [[v.strip() for v in row] for row in rows])


def _read_xlsx(data: bytes, filename: str, error: type[GrantsError]) -> Workbook:
    from openpyxl import load_workbook  # a second's import, paid only when a workbook is read

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for a damaged file
        raise error([Problem(f"not a readable XLSX workbook ({type(exc).__name__})", file=filename)]) from None
    tables, hidden = {}, []
    try:
        for sheet in book.worksheets:
            if sheet.sheet_state != "visible":
                hidden.append(sheet.title)
                continue
            values = [[_xlsx_value(c) for c in row] for row in sheet.iter_rows()]
            tables[column_key(sheet.title)] = _table(filename, sheet.title, values)
    finally:
        book.close()
    return Workbook(tables, hidden)


def _xlsx_value(cell: Any) -> Any:
    value = cell.value
    if getattr(cell, "data_type", None) == "f" or (isinstance(value, str) and value.startswith("=")):
        return Formula(str(value))
    if isinstance(value, str):
        return value.strip()
    return value


def _table(filename: str, sheet: str | None, values: list[list[Any]]) -> Table:
    """The first non-empty row is the header; trailing empty rows and columns are dropped."""
    numbered = [(n, row) for n, row in enumerate(values, start=1)]
    while numbered and _blank(numbered[-1][1]):
        numbered.pop()
    start = next((k for k, (_, row) in enumerate(numbered) if not _blank(row)), len(numbered))
    if start == len(numbered):
        return Table(filename, sheet, 1, [])
    header_row, header = numbered[start]
    width = max(len(row) for _, row in numbered)
    header_text = [_text(v) if v is not None else "" for v in header] + [""] * (width - len(header))
    rows = [Row(n, list(row) + [None] * (width - len(row))) for n, row in numbered[start + 1 :]]
    return Table(filename, sheet, header_row, header_text, rows)


def _blank(row: list[Any]) -> bool:
    return all(v is None or v == "" for v in row)


def blank(row: Row) -> bool:
    return _blank(row.values)


def is_total_row(row: Row) -> str | None:
    """The word that makes a row a total row (``Total``, ``Summe``...), if its first filled cell is one."""
    first = next((v for v in row.values if v not in (None, "")), None)
    if not isinstance(first, str) or not first.replace(" ", "").replace("_", "").isalpha():
        return None  # ids have digits: skip the folding for them
    return first if column_key(first) in TOTAL_WORDS else None


# --- values -----------------------------------------------------------------------------------------------


class BadValue(ValueError):
    """A cell that cannot be read as its column needs; the message says what to write instead."""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f") if value == value else ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def as_text(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, Formula):
        raise BadValue(f"holds a formula ({value.text}); paste its value instead (Paste Special > Values)")
    return _text(value)


_GROUPED = re.compile(r"^\d{1,3}([.,' \u00a0\u202f])\d{3}(\1\d{3})*$")


def as_decimal(value: Any) -> Decimal:
    """A number exactly as written: a number cell through its shortest repr (Excel keeps 15 digits, so
    ``367649.99`` stays ``367649.99``), text with thousands separators or a decimal comma as it reads."""
    if isinstance(value, Formula):
        as_text(value)
    if isinstance(value, bool):
        raise BadValue(f"{_text(value)} is a yes/no value, not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dt.date):
        raise BadValue(f"{_text(value)} is a date, not a number: format the cell as a number")
    return _parse_number(_text(value))


_PLAIN = re.compile(r"-?\d+(\.\d+)?")


def _parse_number(text: str) -> Decimal:
    if _PLAIN.fullmatch(text):
        return Decimal(text)  # what CSV exports and our own files hold: no separators to read
    cleaned = re.sub(r"(?i)^(eur|€|\$|£|chf)\s*|\s*(eur|€|\$|£|chf)$", "", text.strip())
    sign = ""
    if cleaned.startswith(("-", "+")):
        sign, cleaned = cleaned[0].replace("+", ""), cleaned[1:].strip()
    if _GROUPED.match(cleaned):
        digits = re.sub(r"\D", "", cleaned)  # 1,234 or 1.234.567: three digits after a mark are never cents
    elif re.fullmatch(r"\d+([.,]\d+)?", cleaned):
        digits = cleaned.replace(",", ".")
    elif m := re.fullmatch(r"(\d{1,3}(?:([.,' \u00a0\u202f])\d{3})*)([.,])(\d+)", cleaned):
        if m.group(2) == m.group(3):
            raise BadValue(f"{text!r} uses {m.group(3)!r} both between thousands and before the decimals")
        digits = re.sub(r"\D", "", m.group(1)) + "." + m.group(4)
    else:
        raise BadValue(f"{text!r} is not a number")
    try:
        return Decimal(sign + digits)
    except InvalidOperation:
        raise BadValue(f"{text!r} is not a number") from None


def as_integer(value: Any) -> int:
    number = as_decimal(value)
    if number != number.to_integral_value():
        raise BadValue(f"{_text(value)} is not a whole number")
    return int(number)


def as_date(value: Any) -> dt.date:
    """A date cell, or text in ISO form; any other text is ambiguous (is 03/01/2021 March or January?)."""
    if isinstance(value, Formula):
        as_text(value)
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadValue(
            f"{text!r} is text, not a date: write it as YYYY-MM-DD (e.g. 2021-03-01) or make it a date cell"
        ) from None


def is_not_applicable(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in NOT_APPLICABLE


def months_between(start: dt.date, end: dt.date) -> int:
    """Months a project from ``start`` to ``end`` (both included) runs, a started month counting whole."""
    after = end + dt.timedelta(days=1)
    months = (after.year - start.year) * 12 + after.month - start.month
    return months + (1 if after.day > start.day else 0)
