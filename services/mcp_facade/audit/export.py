"""The audit trail as CSV (RFC 4180, one header row), safe to open in a spreadsheet.

A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`:
spreadsheets would otherwise run it as a formula (CSV injection), and tool names, client names and
opted-in payloads come from clients.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any, Final

from .records import FIELDS, AuditRecord

__all__ = ["CSV_CONTENT_TYPE", "csv_header", "csv_rows", "safe_cell"]

CSV_CONTENT_TYPE: Final = "text/csv"
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """One cell's text: None is empty, numbers as they are, text defused against formulas."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _line(cells: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(c) for c in cells])
    return buffer.getvalue()


def csv_header() -> str:
    """The header row."""
    return _line(FIELDS)


def csv_rows(records: Iterable[AuditRecord]) -> str:
    """The rows of `records`, in FIELDS order."""
    return "".join(_line(record.public()[name] for name in FIELDS) for record in records)
