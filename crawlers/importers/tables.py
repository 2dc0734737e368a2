"""Read an exported table (CSV, XLSX or XLS) into a header and rows with their line numbers.

The file type comes from its first bytes, not its name (问卷星 and Excel users rename files).
Line numbers are 1-based with the header as line 1 for CSV (a quoted multi-line cell keeps the
line its row starts on) and the sheet row number for XLSX/XLS, so a reported line is the one a
person sees in an editor or in Excel. Every cell comes back as a stripped string; spreadsheet
dates become `YYYY-MM-DD HH:MM:SS` (naive: the caller decides the zone).
"""

from __future__ import annotations

import csv
import io
import struct
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from crawlers.errors import ImportFileError
from crawlers.importers.encoding import decode_lines

_DELIMITERS = ",\t;|"
_NOT_TABLES = (
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
)


@dataclass
class Row:
    line: int
    cells: list[str]
    last: int = 0  # the last line a (multi-line, quoted) CSV row spans; 0 = `line`


@dataclass
class Table:
    """A header and its data rows. `fmt` is csv|xlsx|xls; `encoding` is set for CSV."""

    path: Path
    header: list[str]
    header_line: int
    rows: list[Row] = field(default_factory=list)
    fmt: str = "csv"
    encoding: str | None = None
    bad_lines: list[int] = field(default_factory=list)  # CSV lines whose bytes did not decode


def read_table(path: str | Path) -> Table:
    """Read `path`; raises ImportFileError when it is missing, empty, binary or unreadable."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    if not data.strip():
        raise ImportFileError(f"{path} is empty")
    for magic, what in _NOT_TABLES:
        if data.startswith(magic):
            raise ImportFileError(f"{path}: not a survey export, it looks like {what}")
    if data.startswith(b"PK\x03\x04"):
        return _from_rows(path, _xlsx_rows(path, data), "xlsx")
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _from_rows(path, _xls_rows(path, data), "xls")
    text, encoding, bad_lines = decode_lines(data, str(path))
    table = _from_rows(path, _csv_rows(path, text), "csv")
    table.encoding, table.bad_lines = encoding, bad_lines
    return table


def sniff_delimiter(first_line: str) -> str:
    """The candidate that splits the header line most often (headers are rarely quoted, and
    csv.Sniffer is easily fooled by Chinese punctuation in the data rows)."""
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, list[str], int]]:
    stripped = text.lstrip("\r\n")
    first_line = stripped.splitlines()[0] if stripped else ""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(first_line))
    start = 1
    try:
        for cells in reader:
            yield start, [c.strip() for c in cells], reader.line_num
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportFileError(f"{path}: line {start}: malformed CSV: {exc}") from exc


def _xlsx_rows(path: Path, data: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError(f"{path}: not a readable XLSX workbook: {exc}") from exc
    try:
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_cell_text(v) for v in values]
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError) as exc:  # damaged sheet XML
        raise ImportFileError(f"{path}: damaged XLSX workbook: {exc}") from exc
    finally:
        book.close()


def _xls_rows(path: Path, data: bytes) -> Iterator[tuple[int, list[str]]]:
    import xlrd
    from xlrd.compdoc import CompDocError

    try:
        # xlrd reports corruption through several exception types and prints warnings to the
        # logfile; keep those out of our stdout.
        book = xlrd.open_workbook(file_contents=data, logfile=io.StringIO())
    except (xlrd.XLRDError, CompDocError, struct.error, IndexError, ValueError, AssertionError) as exc:
        raise ImportFileError(f"{path}: not a readable XLS workbook: {exc}") from exc
    sheet = book.sheet_by_index(0)
    for r in range(sheet.nrows):
        cells = []
        for cell in sheet.row(r):
            if cell.ctype == xlrd.XL_CELL_DATE:
                cells.append(_cell_text(xlrd.xldate_as_datetime(cell.value, book.datemode)))
            else:
                cells.append(_cell_text(cell.value))
        yield r + 1, cells


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _from_rows(path: Path, rows: Iterable[tuple[Any, ...]], fmt: str) -> Table:
    """Rows are (line, cells) or, for CSV, (line, cells, last line)."""
    header: list[str] | None = None
    table: Table | None = None
    for line, cells, *rest in rows:
        if not any(cells):
            continue  # blank lines and Excel's trailing empty rows carry nothing
        if table is None:
            header = _trim_trailing_empty(cells)
            table = Table(path=path, header=header, header_line=line, fmt=fmt)
            continue
        table.rows.append(Row(line, cells, rest[0] if rest else 0))
    if table is None:
        raise ImportFileError(f"{path} is empty")
    return table


def _trim_trailing_empty(cells: list[str]) -> list[str]:
    """Spreadsheets report formatted-but-empty columns after the last header."""
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]
