"""How a `Feedback` record becomes an Elasticsearch document and bulk lines, and back.

The document is the record's `to_dict()` plus a few fields derived for filters and sorting
(mapped in `indexer/mappings/feedback.json`):

- `topic_paths`: every topic and each of its prefixes (`信用卡/催收` gives `信用卡` and
  `信用卡/催收`), so a topic filter matches its sub-topics by an exact keyword term and never
  `信用卡额度`;
- `risk_level`: the highest risk severity as a rank (info 0, warning 1, critical 2), for
  `min_severity`;
- `entity_names`: each entity's canonical name (its text when there is none);
- `ours`: whether any entity is our bank; `neg`: the negative score (samples sort on it);
- `search_text` (and `search_title` for a record with a title): what a person sees of the text
  in the form search compares (`nlp.normalize.search_text`: HTML read as text, traditional →
  simplified, full-width → half-width); search reads these, never the stored markup;
- `voc_hash`: a digest of the rest of the document, so an upsert can tell a record stored exactly
  so already (unchanged: not sent again) from one that changed.

Each document lives in the monthly index of its `created_at` (UTC): `<prefix>-feedback-YYYY.MM`,
with `_id` = record id, so indexing a record again replaces it. The JSON is serialized here, once
per record, so a record that cannot be serialized fails alone with its reason.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from core.record import SEVERITIES, Feedback, RecordError
from nlp.normalize import search_text

DERIVED = ("topic_paths", "risk_level", "entity_names", "ours", "neg", "search_title", "search_text",
           "voc_hash")
_RANK = {name: i for i, name in enumerate(SEVERITIES)}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                           default=_json_default).encode


def _encode_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON for the bulk hot path (orjson: ~5x the standard encoder, measured by
    bench/indexer.py). orjson writes NaN as null where `json` refuses it, so `build_doc` checks the
    one float that comes from outside (rating) itself."""
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS)


def dumps(value: Any) -> str:
    """Compact JSON, datetimes as ISO 8601; NaN and unknown types raise ValueError/TypeError."""
    return _encode(value)


def month_index(prefix: str, created_at: datetime) -> str:
    """The monthly index a record with this (UTC) `created_at` belongs to."""
    return f"{prefix}-feedback-{created_at.year:04d}.{created_at.month:02d}"


class Doc:
    """One record ready for the bulk API: its id, target index, `_source` bytes and their digest
    (`voc_hash`, also inside the source)."""

    __slots__ = ("id", "index", "source", "digest")

    def __init__(self, record_id: str, index: str, source: bytes, digest: str = "") -> None:
        self.id = record_id
        self.index = index
        self.source = source
        self.digest = digest

    def action(self) -> dict[str, Any]:
        return {"index": {"_index": self.index, "_id": self.id}}


def build_doc(record: Feedback, prefix: str) -> Doc:
    """The document for `record`; TypeError/ValueError (RecordError) names what is wrong."""
    if not isinstance(record, Feedback):
        raise TypeError(f"expected a Feedback record, got {type(record).__name__}")
    doc = record.to_dict()
    # The loops below run for every record on the bulk hot path (bench/indexer.py): plain loops,
    # no work for the empty lists most records have.
    paths: set[str] = set()
    for topic in record.topics:
        _name(topic, "topics")
        if "/" in topic:
            parts = topic.split("/")
            for i in range(1, len(parts)):
                paths.add("/".join(parts[:i]))
        paths.add(topic)
    doc["topic_paths"] = sorted(paths)
    if record.risk:
        level = -1
        for i, item in enumerate(record.risk):
            _name(item.get("flag"), f"risk[{i}].flag")
            rank = _RANK.get(str(item.get("severity")), -1)
            if rank < 0:
                raise RecordError(f"risk[{i}].severity {item.get('severity')!r} not in {SEVERITIES}")
            level = max(level, rank)
        doc["risk_level"] = level
    names: set[str] = set()
    ours = False
    for i, item in enumerate(record.entities):
        names.add(_name(item.get("canonical") or item.get("text"), f"entities[{i}].canonical"))
        ours = ours or bool(item.get("ours"))
    doc["entity_names"] = sorted(names)
    doc["ours"] = ours
    if record.sentiment is not None:
        doc["neg"] = float(record.sentiment.scores.get("negative", 0.0))
    if record.rating is not None and not math.isfinite(record.rating):
        raise ValueError(f"rating must be a finite number, got {record.rating!r}")
    if record.title is not None:
        doc["search_title"] = search_text(record.title)
    doc["search_text"] = search_text(record.text)
    body = _encode_bytes(doc)  # a dict: ends with b"}"
    digest = hashlib.blake2b(body, digest_size=16).hexdigest()
    return Doc(record.id, month_index(prefix, record.created_at),
               body[:-1] + b',"voc_hash":"' + digest.encode("ascii") + b'"}', digest)


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise RecordError(f"{field} must be a non-empty string, got {value!r}")
    return value


def bulk_body(docs: Iterable[Doc]) -> bytes:
    """The NDJSON body of one bulk request (action line, source line, ...), as the client sends it."""
    lines: list[bytes] = []
    for doc in docs:
        lines.append(_encode_bytes(doc.action()))
        lines.append(doc.source)
    lines.append(b"")
    return b"\n".join(lines)


def load(source: dict[str, Any]) -> Feedback:
    """The stored record from a document's `_source` (the derived fields dropped)."""
    data = {k: v for k, v in source.items() if k not in DERIVED}
    return Feedback.from_dict(data)
