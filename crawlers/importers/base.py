"""What every importer shares: the result type, the importer base class, pseudonyms, times, --map.

An importer is built from plain values (`source`, `mapping`, `survey_id`, `salt`) and has one
method, `import_path(path) -> ImportResult`. Row problems are collected as `RowError`s (line +
reason) and the rest of the file still imports; whole-file problems raise `ImportFileError`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.record import DISPLAY_TZ, Feedback
from crawlers.errors import ImportFileError, RowError

# 2021/4/26 19:55:09 · 2021-04-26 19:55 · 2021年4月26日 19:55:09 · an ISO 8601 string
_TIME_RE = re.compile(
    r"^(\d{4})[/\-.年](\d{1,2})[/\-.月](\d{1,2})日?(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)
_QUESTION_PREFIX = re.compile(r"^\s*(?:Q\s*)?\d+\s*[、.．:：]\s*", re.IGNORECASE)


@dataclass
class ImportResult:
    """Records built from one file, the rows that failed (with line numbers), and context.

    `rows_read` counts data rows (header excluded); `skipped_answers` counts open-text answers that
    carried no feedback (`无`, `(跳过)`, digits only); `personal_columns` names the question columns left
out as personal data, with why ("title", or what they held: "phone", "name", …); `message` is a
human note (e.g. no responses). `responses` holds one plain document per rated response, whether
or not it wrote an open answer (`core.response.check` form: key, rating, scale, question,
segments, ratings, choices): satisfaction counts responses, and a response that only ticked
boxes makes no record."""

    records: list[Feedback] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    platform: str = ""
    survey_id: str | None = None
    rows_read: int = 0
    skipped_answers: int = 0
    encoding: str | None = None
    text_columns: list[str] = field(default_factory=list)
    personal_columns: dict[str, str] = field(default_factory=dict)  # title -> why it was left out
    message: str = ""
    responses: list[dict[str, Any]] = field(default_factory=list)


class Importer:
    """Base for the registered importers; subclasses set `platform` and implement `import_path`."""

    platform = ""

    def __init__(self, *, source: str | None = None, mapping: Mapping[str, Sequence[str] | str] | None = None,
                 survey_id: str | None = None, salt: str | bytes | None = None,
                 branch_name: Callable[[str], str] | None = None) -> None:
        self.source = source or f"survey:{self.platform}"
        self.branch_name = branch_name  # a branch answer -> the taxonomy's branch entity
        self.mapping = normalize_mapping(mapping)
        self.survey_id = survey_id
        self.salt = salt.encode("utf-8") if isinstance(salt, str) else salt

    def import_path(self, path: Path) -> ImportResult:
        raise NotImplementedError

    def pseudonym(self, survey_id: str, respondent: str) -> str:
        """Salted SHA-256 of the respondent id: the same person in the same survey gets the same
        pseudonym on every import, and without the salt nobody can walk back to 序号/用户标识."""
        if not self.salt:
            raise ImportFileError("a pseudonym salt is required to import survey respondents "
                                  "(set VOC_PSEUDONYM_SALT)")
        key = f"{self.platform}\x1f{survey_id}\x1f{respondent}".encode()
        return "r_" + hashlib.sha256(self.salt + b"\x1f" + key).hexdigest()[:16]


def parse_survey_time(value: str) -> datetime:
    """A survey export time; naive means Asia/Shanghai. Raises ValueError naming the value."""
    text = value.strip()
    match = _TIME_RE.match(text)
    if match:
        y, mo, d, h, mi, s = (int(g) if g else 0 for g in match.groups())
        try:
            return datetime(y, mo, d, h, mi, s, tzinfo=DISPLAY_TZ)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid time: {exc}") from exc
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=DISPLAY_TZ)


def parse_mapping(spec: str) -> dict[str, list[str]]:
    """Parse `--map text=意见建议,rating=满意度` (several columns for one field: `text=甲|乙`)."""
    out: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ImportFileError(f"--map: {part!r} is not FIELD=COLUMN")
        out.setdefault(key.strip(), []).extend(v.strip() for v in value.split("|") if v.strip())
    return out


def normalize_mapping(mapping: Mapping[str, Sequence[str] | str] | None) -> dict[str, list[str]]:
    if not mapping:
        return {}
    return {k: [v] if isinstance(v, str) else list(v) for k, v in mapping.items()}


def question_title(header: str) -> str:
    """`10、您对手机银行还有什么建议？` -> `您对手机银行还有什么建议？` (for matching only)."""
    return _QUESTION_PREFIX.sub("", header).strip()


def find_column(header: Sequence[str], wanted: str, path: Path) -> int:
    """Index of the column named `wanted`: exact, then without the `N、` prefix, then a unique
    substring. The error lists the columns so the user can fix `--map`."""
    for candidates in (
        [i for i, h in enumerate(header) if h == wanted],
        [i for i, h in enumerate(header) if question_title(h) == question_title(wanted)],
        [i for i, h in enumerate(header) if wanted in h],
    ):
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            names = ", ".join(header[i] for i in candidates)
            raise ImportFileError(f"{path}: column {wanted!r} is ambiguous ({names})")
    raise ImportFileError(f"{path}: no column {wanted!r}; columns are: {', '.join(header)}")
