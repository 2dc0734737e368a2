"""Label corrections: an operator's sentiment and topics for one record, beside the model's.

State namespace "label_correction", key the record id: `{"record_id", "sentiment", "topics",
"by", "at", "model": {"label", "scores", "topics"}}` — what the model said is kept with the
correction, so a reader sees both and the next training run knows what it got wrong. The record
itself keeps the model's labels (alerts count what the model said, the same for every record).

`export_corrections(store)` yields them in the training data format of `nlp/training/corpora.py`
(`{"text", "label", "dataset", "domain", "split"}`, plus `topics`, `record_id`, `model_label`,
`corrected_by`, `corrected_at`), the text masked as everything that leaves the store; `voc labels
export` writes them as JSONL for `make model` to read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from indexer.store import FeedbackStore
from nlp.mask import mask_pii

CORRECTIONS = "label_correction"
SENTIMENTS = ("negative", "neutral", "positive")
DATASET = "voc_corrections"


class CorrectionError(ValueError):
    """A correction that cannot be stored (unknown record or label); one line says why."""


def correct(store: FeedbackStore, record_id: str, *, by: str, sentiment: str | None = None,
            topics: Sequence[str] | None = None, now: datetime | None = None) -> dict[str, Any]:
    record = store.get(record_id)
    if record is None:
        raise CorrectionError(f"no record {record_id!r}")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise CorrectionError(f"sentiment {sentiment!r} is not one of {', '.join(SENTIMENTS)}")
    before = store.get_state(CORRECTIONS, record_id) or {}
    doc = {"record_id": record_id,
           "sentiment": sentiment if sentiment is not None else before.get("sentiment"),
           "topics": list(topics) if topics is not None else before.get("topics"),
           "by": by, "at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(),
           "model": {"label": record.sentiment.label if record.sentiment else None,
                     "scores": dict(record.sentiment.scores) if record.sentiment else {},
                     "topics": list(record.topics)}}
    store.put_state(CORRECTIONS, record_id, doc)
    return doc


def correction(store: FeedbackStore, record_id: str) -> dict[str, Any] | None:
    return store.get_state(CORRECTIONS, record_id)


def export_corrections(store: FeedbackStore) -> Iterator[dict[str, Any]]:
    """Every correction with a sentiment, as a training row (oldest correction first)."""
    docs = sorted(store.list_state(CORRECTIONS).values(), key=lambda d: d.get("at", ""))
    records = store.get_many([d["record_id"] for d in docs])
    for doc in docs:
        record = records.get(doc["record_id"])
        if record is None or not doc.get("sentiment"):
            continue
        yield {"text": mask_pii(record.text), "label": doc["sentiment"], "dataset": DATASET,
               "domain": record.source, "split": "train",
               "topics": doc.get("topics") if doc.get("topics") is not None else list(record.topics),
               "record_id": record.id, "model_label": doc["model"].get("label"),
               "corrected_by": doc.get("by", ""), "corrected_at": doc.get("at", "")}
