"""Exceptions raised while gathering feedback (spiders and survey importers).

Tree::

    CrawlError                  base of everything raised by `crawlers`
    ├── ImportFileError         a whole file cannot be imported: unreadable, empty, binary,
    │                           undetectable encoding, not a survey export, missing columns
    └── RowError                one row of a file is bad; carries `line` (1-based, header = 1)
                                and `reason`. Importers collect these in `ImportResult.errors`
                                and carry on with the rest of the file.

Library errors (csv, openpyxl, xlrd, json, UnicodeDecodeError) are wrapped with `raise ... from exc`.
"""

from __future__ import annotations


class CrawlError(Exception):
    """Base class for errors raised by the crawlers package."""


class ImportFileError(CrawlError):
    """The file as a whole cannot be imported; the message says which file and why."""


class RowError(CrawlError):
    """One input row is bad. `line` is the 1-based line (or sheet row) where it starts."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RowError) and (self.line, self.reason) == (other.line, other.reason)

    def __hash__(self) -> int:
        return hash((self.line, self.reason))

    def __repr__(self) -> str:
        return f"RowError(line={self.line}, reason={self.reason!r})"
