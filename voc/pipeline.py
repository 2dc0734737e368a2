"""Take batches of `Feedback` records through normalize → classify → tag → dedup → store.

    pipeline = build_pipeline(load_settings())
    report = pipeline.run(records)        # any iterable; chunks of `chunk_size`
    print(report.summary())

Per batch: the text is normalized (the original `text` is kept; the models see the normalized
copy; a text over MODEL_CHARS is read as its head and tail, flagged in `meta`), classified with
the shipped sentiment model, tagged (topics, risk, entities — on the
original text, so entity offsets point into `record.text`), given a near-duplicate fingerprint,
and upserted. A record that fails validation is rejected with its reason and the batch goes on.
A batch the store cannot take is spooled to `var/spool/*.jsonl` and `retry_spool()` replays it
later (`voc index --retry-spool`): nothing is lost.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from core.errors import PipelineError
from core.record import KINDS, Feedback, RecordError, Sentiment
from core.settings import NlpSettings, Settings
from indexer import open_settings_store
from indexer.errors import StoreUnavailable
from indexer.store import FeedbackStore, Filters, iter_batches
from nlp.mask import mask_pii
from nlp.normalize import normalize
from voc.spool import DEFAULT_SPOOL, retry_spool, write_dead_letter, write_spool

__all__ = ["Pipeline", "PipelineReport", "build_pipeline", "retry_spool", "seed_deduper",
           "load_classifier", "load_tagger", "crawl_pipeline"]

log = logging.getLogger(__name__)

STAGES = ("normalize", "classify", "tag", "dedup", "store")
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2262, 4, 11, tzinfo=UTC)
MODEL_CHARS = 20_000  # characters of a text the models and dedup read (head and tail halves)
PROGRESS_MIN = 200  # a shorter input finishes before a bar would help


class Classifier(Protocol):
    version: str

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Sentiment]: ...


@dataclass
class PipelineReport:
    """What one `Pipeline.run` did. `rejected` and `spooled` hold (record id, reason)."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    spooled: list[tuple[str, str]] = field(default_factory=list)
    spool_files: list[str] = field(default_factory=list)
    dead_letter_files: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    def summary(self) -> str:
        line = (f"received={self.received} stored={self.stored} duplicates={self.duplicates} "
                f"rejected={len(self.rejected)} spooled={len(self.spooled)}")
        total = sum(self.seconds.values())
        if total > 0:
            line += " seconds=" + ",".join(f"{k}:{v:.2f}" for k, v in self.seconds.items())
        return line

    def to_dict(self) -> dict[str, Any]:
        return {"received": self.received, "stored": self.stored, "duplicates": self.duplicates,
                "rejected": [{"id": i, "reason": r} for i, r in self.rejected],
                "spooled": [{"id": i, "reason": r} for i, r in self.spooled],
                "spool_files": list(self.spool_files),
                "dead_letter_files": list(self.dead_letter_files),
                "seconds": {k: round(v, 4) for k, v in self.seconds.items()}}


class Pipeline:
    """Runs records through the stages. Components are built by the caller (`build_pipeline`)."""

    def __init__(self, classifier: Classifier, tagger: Any, deduper: Any, store: FeedbackStore,
                 batch_size: int = 64, progress: bool = True,
                 spool_dir: str | Path = DEFAULT_SPOOL, chunk_size: int = 512,
                 mask_store: bool = False) -> None:
        if batch_size < 1 or chunk_size < 1:
            raise PipelineError(f"batch_size and chunk_size must be >= 1, got {batch_size}, {chunk_size}")
        self.classifier = classifier
        self.tagger = tagger
        self.deduper = deduper
        self.store = store
        self.batch_size = batch_size  # texts per model call
        # Records per pass through the stages: the classifier sorts a whole chunk by length before
        # batching, so a larger chunk means less padding; one store transaction per chunk.
        self.chunk_size = max(chunk_size, batch_size)
        self.progress = progress
        self.spool_dir = Path(spool_dir)
        self.mask_store = mask_store  # [privacy] keep_original = false: store the masked text

    def run(self, records: Iterable[Feedback]) -> PipelineReport:
        report = PipelineReport()
        total = len(records) if hasattr(records, "__len__") else None  # type: ignore[arg-type]
        bar = self._progress_bar(total)
        try:
            for batch in iter_batches(records, self.chunk_size):
                good, texts = self._classify(batch, report)
                self._finish(good, texts, report)
                if bar is not None:
                    bar.update(len(batch))
        finally:
            if bar is not None:
                bar.close()
        log.info("pipeline %s", report.summary())
        return report

    def _progress_bar(self, total: int | None) -> Any:
        if not self.progress or not sys.stderr.isatty():
            return None
        if total is not None and total < PROGRESS_MIN:
            return None
        from tqdm import tqdm  # only needed on a terminal

        return tqdm(total=total, unit="rec", desc="pipeline", file=sys.stderr)

    def _classify(self, batch: list[Feedback], report: PipelineReport) -> tuple[list[Feedback], list[str]]:
        """Validate and normalize a chunk and classify what is valid: (records, normalized texts)."""
        report.received += len(batch)
        clock = time.perf_counter()
        good: list[Feedback] = []
        texts: list[str] = []
        for position, record in enumerate(batch, start=report.received - len(batch) + 1):
            try:
                if self.mask_store and isinstance(record, Feedback) and isinstance(record.text, str):
                    record.text = mask_pii(record.text)  # same length: entity offsets stay true
                text = _validated_text(record)
            except RecordError as exc:
                rid = record.id if isinstance(record, Feedback) and record.id else f"#{position}"
                report.rejected.append((rid, str(exc)))
                log.warning("pipeline rejected id=%s reason=%s", rid, exc)
                continue
            good.append(record)
            texts.append(text)
        clock = _lap(report, "normalize", clock)
        if good:
            for record, sentiment in zip(good, self.classifier.predict(texts, batch_size=self.batch_size),
                                         strict=True):
                record.sentiment = sentiment
            _lap(report, "classify", clock)
        return good, texts

    def _finish(self, good: list[Feedback], texts: list[str], report: PipelineReport) -> None:
        """Tag, dedup and store classified records."""
        if not good:
            return
        clock = time.perf_counter()
        # The tagger reads the original text (entity offsets point into it), at most its first
        # MODEL_CHARS characters: offsets stay true, and a 10 MB paste is not matched a million times.
        tagged = [self.tagger.tag(r.text[:MODEL_CHARS], banking=about_banking(r.source)) for r in good]
        for record, tags in zip(good, tagged, strict=True):
            record.topics = list(tags.topics)
            record.risk = [dict(item) for item in tags.risk]
            record.entities = [dict(item) for item in tags.entities]
        clock = _lap(report, "tag", clock)
        self.deduper.assign(good, texts)  # the normalized texts: no second normalize
        report.duplicates += sum(1 for r in good if r.duplicate_of is not None)
        clock = _lap(report, "dedup", clock)
        self._store(good, report)
        _lap(report, "store", clock)

    def _store(self, batch: list[Feedback], report: PipelineReport) -> None:
        try:
            result = self.store.upsert(batch)
        except Exception as exc:  # any store failure: keep the batch on disk, go on with the next
            reason = f"{type(exc).__name__}: {exc}"
            log.error("pipeline store failed records=%d reason=%s", len(batch), reason)
            self._spool(batch, dict.fromkeys((r.id for r in batch), reason), report)
            return
        report.stored += result.stored
        if result.failed:
            reasons = dict(result.failed)
            refused = [r for r in batch if r.id in reasons and r.id in result.refused]
            if refused:  # never storable as they are: kept for a person, not retried
                path = write_dead_letter(self.spool_dir, refused, reasons)
                report.dead_letter_files.append(str(path))
                report.rejected.extend((r.id, f"refused by the store, kept in {path}: {reasons[r.id]}")
                                       for r in refused)
            retry = [r for r in batch if r.id in reasons and r.id not in result.refused]
            if retry:
                self._spool(retry, reasons, report)

    def _spool(self, records: list[Feedback], reasons: dict[str, str], report: PipelineReport) -> None:
        path = write_spool(self.spool_dir, records, reasons)
        report.spooled.extend((r.id, reasons.get(r.id, "")) for r in records)
        report.spool_files.append(str(path))


def about_banking(source: str) -> bool:
    """Sources that are about a bank whatever the text says: reviews of the bank's own app and the
    bank's own surveys. There a bare 平安/民生/招商 is a bank, not a common word (nlp.tagging)."""
    return source == "appstore" or source.startswith("survey:")


def _validated_text(record: Any) -> str:
    """The normalized text the models see; RecordError says why a record cannot go on."""
    if not isinstance(record, Feedback):
        raise RecordError(f"not a Feedback record: {type(record).__name__}")
    if record.kind not in KINDS:
        raise RecordError(f"kind {record.kind!r} not in {KINDS}")
    if not isinstance(record.created_at, datetime) or record.created_at.utcoffset() is None:
        raise RecordError("created_at must be a tz-aware datetime")
    if not EARLIEST_TIME <= record.created_at < LATEST_TIME:
        # what every store can hold (Elasticsearch's date_nanos): refused here with a reason, not
        # accepted by SQLite and then refused per item by Elasticsearch, forever in the spool
        raise RecordError(f"created_at {record.created_at.isoformat()} is outside 1970–2262")
    if not isinstance(record.text, str):
        raise RecordError("text must be a string")
    raw = record.text
    if len(raw) > MODEL_CHARS:
        # The store keeps the whole text; the models and the near-duplicate matcher read its head
        # and tail (a 10 MB paste otherwise costs gigabytes in shingling and tokenizing).
        half = MODEL_CHARS // 2
        raw = raw[:half] + "\n…\n" + raw[-half:]
        record.meta = {**record.meta, "text_truncated_for_models": len(record.text)}
    text = normalize(raw)
    if not text.strip():
        raise RecordError("text is empty after normalization")
    return text


def _lap(report: PipelineReport, stage: str, since: float) -> float:
    now = time.perf_counter()
    report.seconds[stage] += now - since
    return now


# --- building one from settings ------------------------------------------------------------

def load_classifier(settings: Settings) -> Classifier:
    """The shipped sentiment model ([nlp] model_path, or the package default), loaded once."""
    return classifier_for(settings.nlp)


def classifier_for(nlp: NlpSettings) -> Classifier:
    from nlp.sentiment import SentimentClassifier

    return SentimentClassifier.load(nlp.model_path or None, device=nlp.device or None)


def load_tagger(settings: Settings) -> Any:
    """The tagger over [nlp] taxonomy, knowing [bank]'s names as "ours"."""
    from nlp.tagging import Tagger

    return Tagger.from_file(settings.nlp.taxonomy or None, bank_name=settings.bank.name,
                            bank_aliases=tuple(settings.bank.aliases))


def branch_namer(settings: Settings, tagger: Any = None) -> Callable[[str], str]:
    """A survey's branch answer as the taxonomy's branch entity, so the survey's 网点 and the
    branches social posts name are one name: 「鼓楼 支行」, 「江南银行鼓楼支行」 and 「鼓樓支行」 all give
    the entity the tagger gives 「江南银行鼓楼支行」 (a bank's own survey is about its own branches:
    a branch with no bank named is ours). An answer with no branch suffix stays as written,
    folded (full-width, traditional) and without spaces."""
    from nlp.normalize import fold_for_matching

    tagger = tagger or load_tagger(settings)
    ours = tagger.ours

    def name(answer: str) -> str:
        text = "".join(str(answer).split())
        found = [e for e in tagger.tag(text).entities if e["type"] == "branch"]
        if not found:
            return str(fold_for_matching(text))
        canonical = str(max(found, key=lambda e: e["end"] - e["start"])["canonical"])
        banks = {b["canonical"] for b in tagger.tag(canonical).entities if b["type"] == "bank"}
        return canonical if banks or not ours else ours + canonical

    return name


def seed_deduper(deduper: Any, store: FeedbackStore, window_hours: float, limit: int = 5000) -> int:
    """Give the deduper the fingerprints of the store's recent records, so a re-post of something
    stored yesterday is still seen as a copy. Returns how many were seeded."""
    since = datetime.now(UTC) - timedelta(hours=window_hours)
    pairs: list[tuple[str, str, datetime, str | None]] = []
    page, size = 1, 500
    while len(pairs) < limit:
        found = store.search("", Filters(since=since), page=page, size=size)
        pairs.extend((r.id, r.fingerprint, r.created_at, r.duplicate_of)
                     for r in found.items if r.fingerprint)
        if len(found.items) < size:
            break
        page += 1
    if pairs:
        deduper.seed(pairs)
    return len(pairs)


def build_pipeline(settings: Settings, *, store: FeedbackStore | None = None, progress: bool = True,
                   spool_dir: str | Path | None = None) -> Pipeline:
    """Everything from settings: classifier, tagger, deduper (seeded from the store), store; the
    spool goes under `[app] var_dir` unless `spool_dir` says otherwise. A store that is down when
    the run starts does not stop it: the deduper starts unseeded and every batch is spooled for
    `voc index --retry-spool`."""
    from nlp.dedup import Deduper

    store = store if store is not None else open_settings_store(settings)
    deduper = Deduper(window_hours=settings.nlp.dedup_window_hours)
    try:
        seed_deduper(deduper, store, settings.nlp.dedup_window_hours)
    except StoreUnavailable as exc:  # the store is down: run anyway, every batch goes to the spool
        log.warning("pipeline dedup_seed=skipped reason=%s", exc)
    return Pipeline(load_classifier(settings), load_tagger(settings), deduper, store,
                    batch_size=settings.nlp.batch_size, progress=progress,
                    mask_store=not settings.privacy.keep_original,
                    spool_dir=spool_dir or Path(settings.app.var_dir) / "spool")


def crawl_pipeline(store: FeedbackStore) -> Pipeline:
    """The pipeline a crawl's item pipeline feeds: named by the Scrapy setting
    `VOC_PIPELINE_FACTORY` (crawlers/settings.py), so `crawlers` never imports the application."""
    from core.settings import load_settings

    return build_pipeline(load_settings(), store=store, progress=False)
