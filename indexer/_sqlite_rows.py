"""How a `Feedback` record maps to the SQLite store's rows, and back (see `_sqlite_schema`).

The record is kept whole as JSON (`doc`, without title/text, which live once in `body`) next to
the columns and side-table rows that filters, counts and search use; `load` rebuilds exactly the
record that was stored. Search reads what a person sees of the title and text
(`nlp.normalize.search_text`), kept beside them in `body` only where it differs (`search_form`).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from core.record import Feedback, RecordError
from core.response import from_record
from indexer import _sqlite_grams as grams
from indexer import _sqlite_query as q
from indexer import _sqlite_responses as responses
from nlp.normalize import search_text

log = logging.getLogger(__name__)

RECORD_COLS = "f.doc, b.title, b.text"  # what `load` expects, from feedback f JOIN body b


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                      default=_json_default)


def record_json(doc: dict[str, Any]) -> str:
    """A record document as compact JSON on the upsert hot path (orjson, ~2x the standard encoder
    with the record -> dict step). orjson writes NaN as null where `dumps` refuses it, so the one
    float that comes from outside (rating) is checked here."""
    rating = doc.get("rating")
    if rating is not None and not math.isfinite(rating):
        raise ValueError(f"rating must be a finite number, got {rating!r}")
    return orjson.dumps(doc, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")


def search_form(value: str) -> str | None:
    """The text search reads for a stored `value`, or None when it is `value` itself (most texts:
    no markup, no traditional or full-width characters), so `body` holds it only where it differs."""
    seen = search_text(value)
    return None if seen == value else seen


def searched(value: str, form: str | None) -> str:
    """What search reads of a stored `value` whose `search_form` is `form`."""
    return value if form is None else form


def from_micros(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


class Prepared:
    """One record turned into the rows it is stored as."""

    __slots__ = ("id", "row", "title", "text", "search", "topics", "risks", "entities", "response")

    def grams(self) -> str:
        """The record's tokens in the bigram index (`_sqlite_grams`), from what search reads."""
        return grams.tokens(searched(self.title, self.search[0]), searched(self.text, self.search[1]))

    def __init__(self, record: Feedback) -> None:
        if not isinstance(record, Feedback):
            raise TypeError(f"expected a Feedback record, got {type(record).__name__}")
        doc = record.to_dict()
        self.text = doc.pop("text")
        # A title of None stays in the document, so `get` gives None back rather than "".
        self.title = doc.pop("title") if record.title is not None else ""
        self.search = (search_form(self.title), search_form(self.text))  # body.search_title, search_text
        sentiment = record.sentiment
        neg = float(sentiment.scores.get("negative", 0.0)) if sentiment is not None else None
        self.id = record.id
        self.topics = sorted({_name(t, "topics") for t in record.topics})
        risks: dict[str, int] = {}
        for i, item in enumerate(record.risk):
            flag = _name(item.get("flag"), f"risk[{i}].flag")
            rank = q.severity_rank(str(item.get("severity")), f"risk[{i}].severity")
            risks[flag] = max(rank, risks.get(flag, 0))
        self.risks = sorted(risks.items())
        entities: dict[str, int] = {}
        for i, item in enumerate(record.entities):
            canonical = _name(item.get("canonical") or item.get("text"), f"entities[{i}].canonical")
            entities[canonical] = max(int(bool(item.get("ours"))), entities.get(canonical, 0))
        self.entities = sorted(entities.items())
        self.row = (record.source, record.kind, q.to_micros(record.created_at, "created_at"),
                    sentiment.label if sentiment is not None else None, neg,
                    record.duplicate_of, record_json(doc),
                    int(bool(self.topics)), int(bool(self.risks)), int(bool(self.entities)))
        # A rated survey answer keeps its response (core.response); a response whose facts are
        # unusable is left out with a warning rather than refusing the answer itself.
        self.response: tuple[Any, ...] | None = None
        try:
            found = from_record(record)
            self.response = responses.row(found) if found is not None else None
        except (TypeError, ValueError, KeyError) as exc:
            log.warning("record %s: its survey response is not kept: %s", record.id, exc)


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise RecordError(f"{field} must be a non-empty string, got {value!r}")
    return value



def load(row: tuple[str, str, str]) -> Feedback:
    """The stored record from (doc, title, text); RecordError/ValueError when it is unreadable."""
    doc_text, title, text = row
    doc = orjson.loads(doc_text)
    doc["text"] = text
    doc.setdefault("title", title)
    return Feedback.from_dict(doc)
