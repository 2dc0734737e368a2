"""The `FeedbackStore` protocol every backend (SQLite, Elasticsearch) implements, and its value types.

Contract, shared by the contract tests in tests/indexer/ (run against every backend):
- `upsert(batch)` is idempotent by `Feedback.id`: the same batch twice stores each record once;
  a later version of a record replaces the earlier one. The result says how many records were
  new, replaced an earlier version (updated) or were already stored exactly so (unchanged).
- `search(query, filters, page, size)` finds each whitespace-separated term of `query` as a
  Chinese substring (one character such as `贷` included) of what a person sees of the title or
  text (`nlp.normalize.search_text`: HTML read as text, so the markup of a Weibo post, such as
  `<img src="…sinaimg…">`, is not matched); texts and terms are folded alike
  (`nlp.normalize.fold_for_search`: traditional → simplified, full-width → half-width), so
  `轉賬失敗` finds what `转账失败` finds. The record keeps its text as written. An empty query
  lists by `created_at` descending. `total` may stop at `COUNT_CAP`: then `total_capped` is True
  and `total` is a lower bound (a console shows "10,000+"); below the cap it is exact.
- `counts(start, end, interval, group_by, filters)` counts records with start <= created_at < end.
  `interval=None` gives one bucket per key (bucket = start); otherwise buckets are aligned to the
  display timezone (hours and days in Asia/Shanghai). Multi-valued fields (topic, risk, entity)
  count a record once per value; a record without a value counts under "(none)".
  `filters.distinct_clusters=True` counts each near-duplicate cluster with a member in the bucket
  once (cluster id = `duplicate_of`, or the record's own id for a first post), also when the
  cluster's first post is older than the range: a repost wave of an old post counts once, not zero
  times. `total` counts the same way. In `search` and `samples` it keeps first posts only.
- `samples(filters, n)`: up to n records matching, most negative first, then newest.
- `state`: small JSON documents by (namespace, key) that survive restarts: crawl cursors
  (namespace "cursor"), alert state, silences, the send journal; `lock`/`unlock` keep a lock
  shared by every process (namespace "lock").
- `add_alert`/`alerts`: the alert history, newest first.
- Survey responses (`core.response`: one document per rated response, by its key): `put_responses`
  keeps them (idempotent by key; a later version replaces), and `upsert` keeps the response of every
  rated survey record it stores (`core.response.from_record`), so a spooled record brings its
  response back with it. `rating_counts(group_by, filters)` counts responses per group, scale and
  rating value (what CSAT, the mean and NPS are computed from: `care.satisfaction`); group_by
  fields are `RESPONSE_GROUPS` (week and month of `created_at` in the display timezone, ISO weeks
  from Monday, as "2026-W18" and "2026-05"); a response without a segment counts under "(none)".
  `iter_responses(filters)` yields the documents, oldest first. Both honour `sources`, `since` and
  `until` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from core.record import Feedback

GROUP_FIELDS = ("source", "kind", "sentiment", "topic", "risk", "entity")
RESPONSE_GROUPS = ("source", "survey_id", "branch", "channel", "product", "customer_type", "city",
                   "week", "month")
LOCKS = "lock"  # the state namespace of `lock`/`unlock` documents: {"owner", "until", "taken_at"}
NONE_KEY = "(none)"
COUNT_CAP = 10_000  # `search` may stop counting here (SearchPage.total_capped); ES's track_total_hits


@dataclass(frozen=True)
class Filters:
    """Conjunction of conditions; an empty tuple means "any". Values within one field are OR-ed.

    `topics=("信用卡",)` also matches sub-topics (`信用卡/催收`). `entities` match canonical names.
    `since`/`until` bound `created_at` (since <= t < until), tz-aware. `min_negative_score` keeps
    records whose calibrated P(negative) (`sentiment.scores["negative"]`) is at least that value,
    whatever their label: the alert rules count likely negatives the argmax calls neutral."""

    sources: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    sentiment: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    risk: tuple[str, ...] = ()
    min_severity: str | None = None
    entities: tuple[str, ...] = ()
    ours: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    distinct_clusters: bool = False
    min_negative_score: float | None = None


@dataclass(frozen=True)
class SearchPage:
    """One page of `search`. `total` counts every match, except that when `total_capped` is True
    the store stopped counting at `COUNT_CAP` and `total` is a lower bound ("10,000+")."""

    total: int
    items: list[Feedback]
    page: int = 1
    size: int = 20
    total_capped: bool = False


@dataclass(frozen=True)
class CountRow:
    """One bucket of `counts`: `key` maps each group_by field to its value (or NONE_KEY)."""

    bucket: datetime
    key: dict[str, str]
    count: int

    def key_str(self) -> str:
        """The shared alert group key form: `source=appstore,topic=手机银行` ("" when ungrouped)."""
        return ",".join(f"{k}={v}" for k, v in self.key.items())


@dataclass(frozen=True)
class RatingCount:
    """One row of `rating_counts`: `count` responses of group `key` rated `rating` on `scale`."""

    key: dict[str, str]
    scale: tuple[int, int]
    rating: float
    count: int


@dataclass(frozen=True)
class UpsertResult:
    """`stored` counts the records the store holds as given after the call: `created` of them
    were new, `updated` replaced an earlier version, `unchanged` were stored exactly so already
    (the store wrote nothing for them). A store that cannot tell leaves the three at 0
    (`counted` is then False). `failed` lists every record not stored, with its reason; `refused`
    names those among them the store will never take as they are (a value it cannot map, a time
    out of its range), as against an outage that a later retry can get past. The spool moves
    refused records to its dead letter file instead of retrying them forever."""

    received: int
    stored: int
    failed: list[tuple[str, str]] = field(default_factory=list)  # (record id, reason)
    refused: frozenset[str] = frozenset()
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def counted(self) -> bool:
        """Whether `created`, `updated` and `unchanged` account for every stored record."""
        return self.created + self.updated + self.unchanged == self.stored


@runtime_checkable
class FeedbackStore(Protocol):
    def upsert(self, batch: Sequence[Feedback]) -> UpsertResult: ...

    def get(self, record_id: str) -> Feedback | None: ...

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Feedback]:
        """The stored records among `record_ids`, by id; ids not stored are left out. One round
        trip per few hundred ids, where `get` is one per id (the crawl pipeline checks every
        batch of items against what is stored)."""
        ...

    def search(self, query: str = "", filters: Filters = Filters(), page: int = 1,
               size: int = 20) -> SearchPage: ...

    def counts(self, start: datetime, end: datetime, interval: timedelta | None = None,
               group_by: Sequence[str] = (), filters: Filters = Filters()) -> list[CountRow]: ...

    def total(self, filters: Filters = Filters()) -> int: ...

    def samples(self, filters: Filters = Filters(), n: int = 5) -> list[Feedback]: ...

    def get_state(self, namespace: str, key: str) -> dict[str, Any] | None: ...

    def put_state(self, namespace: str, key: str, value: dict[str, Any]) -> None: ...

    def delete_state(self, namespace: str, key: str) -> None: ...

    def list_state(self, namespace: str) -> dict[str, dict[str, Any]]: ...

    def lock(self, name: str, owner: str, ttl: timedelta) -> bool:
        """Take a lock shared by every process on this store (alert checks hold "alerts:check"):
        True when `owner` now holds it until now + ttl, False while another owner holds an
        unexpired one. Atomic: SQLite in one IMMEDIATE transaction, Elasticsearch by `create`
        and sequence-number checks."""
        ...

    def unlock(self, name: str, owner: str) -> None:
        """Release the lock if `owner` holds it (an expired lock is free anyway)."""
        ...

    def put_responses(self, docs: Sequence[dict[str, Any]]) -> int:
        """Keep survey response documents (`core.response.check` form) by key; how many."""
        ...

    def rating_counts(self, group_by: Sequence[str] = (), filters: Filters = Filters()) -> list[RatingCount]:
        """Responses counted per group of `group_by` (RESPONSE_GROUPS), scale and rating value."""
        ...

    def iter_responses(self, filters: Filters = Filters()) -> Iterator[dict[str, Any]]:
        """Every response document meeting `filters` (sources, since, until), oldest first."""
        ...

    def add_alert(self, alert: dict[str, Any]) -> None: ...

    def alerts(self, since: datetime | None = None, rule: str | None = None,
               limit: int = 100) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def iter_batches(records: Iterable[Feedback], size: int) -> Iterable[list[Feedback]]:
    """Split an iterable of records into lists of at most `size`."""
    batch: list[Feedback] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
