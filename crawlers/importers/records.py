"""JSONL of `Feedback` fields (`--platform records`), for backfills and tests.

Each line is one JSON object. Required: `text`, `created_at` (ISO 8601 with an offset or `Z`; a
naive time is rejected with its line number) and `source` (`--source` is the default for lines
without one). Optional: `id` (kept as given; otherwise `make_id` from `url`, else from source +
created_at + text), `kind` (default `survey` for `survey:*` sources, else `post`), `url`, `author`,
`title`, `rating`, `fetched_at`, `meta`. Any other field goes into `meta`. Understanding fields
(sentiment, topics, risk, entities, fingerprint, duplicate_of) are ignored: the pipeline computes them.
A line that is not UTF-8, not JSON or nested deeper than MAX_DEPTH is reported with its number and
the other lines import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.record import Feedback, RecordError, make_id, parse_time
from crawlers.errors import ImportFileError, RowError
from crawlers.importers.base import Importer, ImportResult

COMPUTED = {"sentiment", "topics", "risk", "entities", "fingerprint", "duplicate_of"}
TEXT_FIELDS = ("url", "author", "title")
KNOWN = {"id", "source", "kind", "text", "created_at", "fetched_at", "rating", "meta", *TEXT_FIELDS}
MAX_DEPTH = 20  # nesting a line may have; deeper cannot be stored (SQLite's JSON, ES) or is an attack


class RecordsImporter(Importer):
    platform = "records"

    def __init__(self, *, source: str | None = None, **kwargs: Any) -> None:
        super().__init__(source=source, **kwargs)
        self.default_source = source  # no survey:records fallback: a source must be said

    def import_path(self, path: Path) -> ImportResult:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise ImportFileError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
        if not raw.strip():
            raise ImportFileError(f"{path} is empty")
        result = ImportResult(platform=self.platform, encoding="utf-8")
        seen: dict[str, int] = {}
        # Line by line from the bytes: one line of broken UTF-8 is that line's error, not the file's.
        for line_no, chunk in enumerate(raw.removeprefix(b"\xef\xbb\xbf").split(b"\n"), start=1):
            if not chunk.strip():
                continue
            result.rows_read += 1
            try:
                record = self.build(_decoded(chunk, line_no), line_no)
            except RowError as exc:
                result.errors.append(exc)
                continue
            if record.id in seen:
                result.errors.append(RowError(line_no, f"id {record.id} repeats line {seen[record.id]}"))
                continue
            seen[record.id] = line_no
            result.records.append(record)
        if result.rows_read and all(e.reason.startswith("not UTF-8") for e in result.errors) \
                and len(result.errors) == result.rows_read:
            raise ImportFileError(f"{path}: JSONL must be UTF-8 (no line decodes; another encoding?)")
        if result.rows_read and not result.records and len(result.errors) == result.rows_read:
            result.message = "no line could be imported"
        return result

    def build(self, line: str, line_no: int) -> Feedback:
        """One JSONL line -> Feedback; every problem is a RowError naming the line and the key."""
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RowError(line_no, f"not JSON: {exc.msg} at column {exc.colno}") from exc
        except RecursionError as exc:  # "[[[[..." 100k deep: the parser's own stack gives out
            raise RowError(line_no, f"JSON nested deeper than {MAX_DEPTH} levels") from exc
        if _deeper_than(data, MAX_DEPTH):
            raise RowError(line_no, f"JSON nested deeper than {MAX_DEPTH} levels")
        if not isinstance(data, dict):
            raise RowError(line_no, f"expected a JSON object, got {type(data).__name__}")
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise RowError(line_no, "text is missing or empty")
        source = data.get("source") or self.default_source
        if not isinstance(source, str) or not source:
            raise RowError(line_no, "source is missing (give one per line or --source)")
        times = {}
        for key in ("created_at", "fetched_at"):
            if data.get(key) is None:
                if key == "created_at":
                    raise RowError(line_no, "created_at is missing")
                continue
            if not isinstance(data[key], str):
                raise RowError(line_no, f"{key} must be an ISO 8601 string")
            try:
                times[key] = parse_time(data[key], naive_tz=None)
            except RecordError as exc:
                raise RowError(line_no, f"{key}: {exc}") from exc
        for key in TEXT_FIELDS:
            if data.get(key) is not None and not isinstance(data[key], str):
                raise RowError(line_no, f"{key} must be a string")
        meta = data.get("meta") or {}
        if not isinstance(meta, dict):
            raise RowError(line_no, "meta must be a JSON object")
        meta = dict(meta)
        for key, value in data.items():
            if key not in KNOWN and key not in COMPUTED:
                meta.setdefault(key, value)
        rating = data.get("rating")
        if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int | float)):
            raise RowError(line_no, f"rating must be a number, got {rating!r}")
        record_id = data.get("id")
        if record_id is not None and (not isinstance(record_id, str | int) or not str(record_id)):
            raise RowError(line_no, "id must be a non-empty string")
        if record_id is None:
            record_id = make_id(source, url=data.get("url"), created_at=times["created_at"], text=text)
        kind = data.get("kind") or ("survey" if source.startswith("survey:") else "post")
        try:
            return Feedback(id=str(record_id), source=source, kind=kind, text=text,
                            created_at=times["created_at"], fetched_at=times.get("fetched_at"),
                            url=data.get("url"), author=data.get("author"), title=data.get("title"),
                            rating=rating, meta=meta)
        except RecordError as exc:
            raise RowError(line_no, str(exc)) from exc


def _decoded(chunk: bytes, line_no: int) -> str:
    try:
        return chunk.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise RowError(line_no, f"not UTF-8 (byte {exc.start + 1} of the line)") from exc


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` nests lists/objects more than `limit` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False
