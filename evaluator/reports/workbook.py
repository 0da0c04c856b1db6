"""Workbooks and CSV files for people who open them in Excel.

Cells are typed: amounts are number cells with a currency format (openpyxl writes a
``Decimal`` digit for digit, so a column's sum is the total shown elsewhere, to the
cent), flags are booleans, dates are dates. Each sheet has a frozen header, filters
and widths fitted to its content. CSV files start with a UTF-8 byte-order mark,
which Excel on Windows needs to read "–" or "ș" as written (other readers skip it).
openpyxl is imported when a workbook is written, not when the command line starts.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from rules.money import exact_text

Kind = Literal["text", "money", "score", "share", "flag", "count", "date"]
BOM = "\ufeff"
MAX_WIDTH = 60
FORMATS = {"score": "0.0#", "share": "0.0%", "count": "0", "date": "yyyy-mm-dd"}


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind = "text"


@dataclass
class Sheet:
    """A table to write: typed columns and rows of Python values (Decimal, bool, date, str, None)."""

    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)


def _format(kind: Kind, currency: str) -> str:
    return f'#,##0.00 "{currency}"' if kind == "money" else FORMATS[kind]


def _shown(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value:,.2f} EUR"
    return "" if value is None else str(value)


def workbook_bytes(sheets: dict[str, Sheet], currency: str = "EUR") -> bytes:
    """The sheets as an XLSX file: typed cells, frozen header, filters, fitted widths."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    bold = Font(bold=True)
    for title, sheet in sheets.items():
        ws = book.create_sheet(title)
        ws.append([c.header for c in sheet.columns])
        for cell in ws[1]:
            cell.font = bold
        for row in sheet.rows:
            ws.append(row)
        for k, column in enumerate(sheet.columns, start=1):
            letter = get_column_letter(k)
            if column.kind in FORMATS or column.kind == "money":
                for (cell,) in ws.iter_rows(min_row=2, min_col=k, max_col=k):
                    cell.number_format = _format(column.kind, currency)
            longest = max([len(column.header), *(len(_shown(r[k - 1])) for r in sheet.rows)])
            ws.column_dimensions[letter].width = min(MAX_WIDTH, longest + 2)
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def csv_text(rows: Sequence[Sequence[Any]]) -> str:
    """Rows as CSV text with a byte-order mark: Excel then reads it as UTF-8 rather than the local code page."""
    out = io.StringIO()
    out.write(BOM)
    csv.writer(out, lineterminator="\r\n").writerows([[_csv_value(v) for v in row] for row in rows])
    return out.getvalue()


def sheet_rows(sheet: Sheet, cents: bool = True) -> list[list[Any]]:
    """The sheet as plain rows under its header; with ``cents``, amounts to the cent (``500000.00``) as in JSON.

    Without, amounts are written as they were given, so proposals read back digit for digit.
    """
    money = [cents and c.kind == "money" for c in sheet.columns]
    rows = [
        [exact_text(v) if m and isinstance(v, Decimal) else v for v, m in zip(r, money, strict=True)]
        for r in sheet.rows
    ]
    return [[c.header for c in sheet.columns], *rows]


def write_csv(path: Path, rows: Sequence[Sequence[Any]]) -> None:
    path.write_text(csv_text(rows), encoding="utf-8", newline="")
