"""`ElasticStore`: the `FeedbackStore` on an Elasticsearch 8.x cluster (the scale-out path).

Usage::

    store = ElasticStore(["https://es1:9200"], ca_certs="/etc/voc/ca.pem", index_prefix="voc")
    store.upsert(records)          # streaming_bulk into voc-feedback-YYYY.MM, _id = record id
    store.search("闪退")           # through the alias voc-feedback

Credentials come only from the environment: `VOC_ES_API_KEY`, else `VOC_ES_PASSWORD` with
`username`; they are handed to the client and kept nowhere else (not in repr, not in logs).
On first use the store runs the idempotent setup (`indexer._es_setup`) unless the template exists.

Bulk indexing loses nothing: documents rejected with 429/502/503/504, and every document of a
request that hit a connection error or timeout, are sent again with exponential backoff
(`max_retries`, `initial_backoff`, `max_backoff`; `sleep` is injectable). What still fails, or
fails for good (a mapping error), comes back in `UpsertResult.failed` for the caller to spool.
Writes use `refresh="wait_for"` by default so the next query sees them (the store contract).
A record stored exactly so already (the same `voc_hash`, see `indexer._es_docs`) is not sent
again; the others are counted as the bulk API answers them, "created" or "updated".

Survey responses live in `<prefix>-responses` (`indexer._es_responses`, _id = the response key):
`put_responses` writes them, and `upsert` writes the response of every rated survey record it
stores in a bulk request of their own right after the records' (unchanged records included); a
record whose response is not stored is listed in `failed` with that reason, so it is retried.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from core.record import Feedback, RecordError, parse_time
from indexer import _es_query as q
from indexer import _es_responses as er
from indexer._es_docs import Doc, build_doc, dumps, load
from indexer._es_setup import names, setup
from indexer._es_state_indices import state_index
from indexer.errors import StoreDenied, StoreError, StoreQueryError, StoreUnavailable
from indexer.store import COUNT_CAP, LOCKS, CountRow, Filters, RatingCount, SearchPage, UpsertResult

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 502, 503, 504})
# Per-document answers that say the document itself is wrong (mapping or parsing errors, too
# large): retrying the same document cannot help, so the spool dead-letters it.
REFUSED_STATUS = frozenset({400, 413})
GET_MANY_CHUNK = 1_000  # ids per search in get_many (the alias spans monthly indices, so no _mget)
MAX_WINDOW = 10_000  # index.max_result_window: from + size beyond it is refused by the cluster
_ANY = Filters()
_PREFIX = re.compile(r"[a-z0-9][a-z0-9_-]*")


class ElasticStore:
    """`FeedbackStore` over Elasticsearch; every option is a plain value (see module docstring)."""

    def __init__(self, hosts: Sequence[str] | str, ca_certs: str | os.PathLike[str] | None = "",
                 index_prefix: str = "voc", username: str = "elastic", timezone: str = "Asia/Shanghai",
                 refresh: bool | str = "wait_for", request_timeout: float = 30.0, max_retries: int = 3,
                 initial_backoff: float = 1.0, max_backoff: float = 60.0, chunk_size: int = 500,
                 max_groups: int = 10_000, auto_setup: bool = True, api_key: str | None = None,
                 password: str | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.hosts = [hosts] if isinstance(hosts, str) else list(hosts)
        if not self.hosts:
            raise StoreQueryError("hosts must list at least one URL")
        if not isinstance(index_prefix, str) or not _PREFIX.fullmatch(index_prefix):
            raise StoreQueryError(f"index_prefix {index_prefix!r} is not a valid index name prefix")
        try:
            ZoneInfo(timezone)
        except (ValueError, KeyError) as exc:
            raise StoreQueryError(f"unknown timezone {timezone!r}") from exc
        if max_retries < 0 or chunk_size < 1 or max_groups < 1:
            raise StoreQueryError("max_retries must be >= 0, chunk_size and max_groups >= 1")
        self.prefix, self.timezone, self.refresh = index_prefix, timezone, refresh
        self.names = names(index_prefix)
        self.max_retries, self.initial_backoff, self.max_backoff = max_retries, initial_backoff, max_backoff
        self.chunk_size, self.max_groups, self.auto_setup = chunk_size, max_groups, auto_setup
        self._sleep = sleep
        self._ready = False
        auth: dict[str, Any] = {}  # the secrets come from Settings.secrets, never from here
        if api_key:
            auth["api_key"] = api_key
        elif password:
            auth["basic_auth"] = (username, password)
        # Queries may be retried by the transport (no backoff, idempotent reads); bulk requests
        # are retried by `upsert` alone, with backoff, so the client gets max_retries=0 there.
        plain = [h for h in self.hosts if h.lower().startswith("http://")]
        if ca_certs and plain:  # the client would raise a bare ValueError
            raise StoreQueryError(f"[elasticsearch] ca_certs is set but hosts {plain} use http://: "
                                  f"use https:// hosts, or set ca_certs = \"\"")
        try:
            tls: dict[str, Any] = {"ca_certs": str(ca_certs)} if ca_certs else {}
            self._es = Elasticsearch(self.hosts, **tls,
                                     request_timeout=request_timeout,
                                     max_retries=max_retries, retry_on_timeout=True, **auth)
        except ValueError as exc:  # bad host URLs and TLS options, as the client words them
            raise StoreQueryError(f"[elasticsearch] {exc}") from exc
        self._bulk_es = self._es.options(max_retries=0)

    def __repr__(self) -> str:
        return f"ElasticStore(hosts={[_no_userinfo(h) for h in self.hosts]!r}, index_prefix={self.prefix!r})"

    def __enter__(self) -> ElasticStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run one client call, wrapping client errors in the store's errors."""
        try:
            return fn()
        except ApiError as exc:
            if exc.status_code in (401, 403):  # a missing privilege is not an outage: no retries
                hint = (" (the index-template API needs the cluster privilege manage_index_templates: "
                        "run `voc es setup` once as an admin and set [elasticsearch] auto_setup = "
                        "false)" if what.startswith("setup") else "")
                raise StoreDenied(f"Elasticsearch refused {what} status={exc.status_code}: "
                                  f"{_reason(exc)}{hint}") from exc
            cls = StoreQueryError if exc.status_code == 400 else StoreUnavailable
            raise cls(f"Elasticsearch {what} failed status={exc.status_code}: {_reason(exc)}") from exc
        except TransportError as exc:
            hosts = ", ".join(_no_userinfo(h) for h in self.hosts)
            raise StoreUnavailable(f"Elasticsearch {what} failed: cannot reach {hosts}: "
                                   f"{_transport_reason(exc)}") from exc

    def setup(self, analyzer: str | None = None, replicas: int | None = None) -> dict[str, Any]:
        """Templates, alias and indices (idempotent); `analyzer` None = detect the plugins."""
        report = self._call("setup", lambda: setup(self._es, self.prefix, analyzer, replicas))
        self._ready = True
        return dict(report)

    def _ensure(self) -> None:
        if self._ready or not self.auto_setup:
            return
        # The responses index came later than the template: a cluster set up before it gets it
        # here, before a bulk request could create it with dynamic mappings.
        if not self._call("setup check", lambda: self._es.indices.exists_index_template(
                name=self.names["template"]).body and self._es.indices.exists(
                index=self.names["responses"]).body):
            self.setup()
        self._ready = True

    # -- records -------------------------------------------------------------------------------

    def upsert(self, batch: Sequence[Feedback]) -> UpsertResult:
        """Index a batch; what cannot be stored after the retries is listed in `failed`. The survey
        response of every rated survey record stored is indexed right after (`_keep_responses`)."""
        docs: dict[str, Doc] = {}
        answers: dict[str, Doc] = {}  # record id -> the document of its survey response
        failed: list[tuple[str, str]] = []
        refused: set[str] = set()
        for record in batch:
            try:
                doc = build_doc(record, self.prefix)
            except (TypeError, ValueError, AttributeError) as exc:
                failed.append((str(getattr(record, "id", "?")), str(exc)))
                refused.add(failed[-1][0])
                continue
            docs.pop(doc.id, None)  # the later copy of an id in one batch wins
            docs[doc.id] = doc
            answers.pop(doc.id, None)
            answer = er.record_response(record, self.names["responses"])
            if answer is not None:
                answers[doc.id] = answer
        # id -> "created" / "updated" / "noop" (unchanged: not sent)
        results, not_stored, refusals = self._bulk(list(docs.values()), compare=True)
        failed.extend(not_stored)
        refused |= refusals
        if answers:
            self._keep_responses(answers, results, failed, refused)
        if failed:
            log.error("es bulk failed docs=%d first_reason=%s", len(failed), failed[0][1])
        outcome = list(results.values())
        return UpsertResult(received=len(batch), stored=len(results), failed=failed,
                            refused=frozenset(refused), created=outcome.count("created"),
                            updated=outcome.count("updated"), unchanged=outcome.count("noop"))

    def _keep_responses(self, answers: dict[str, Doc], results: dict[str, str],
                        failed: list[tuple[str, str]], refused: set[str]) -> None:
        """Index the responses of the stored records (unchanged ones too, so a record stored before
        its response was kept brings it along). A record whose response is not stored is moved from
        `results` to `failed`, refused with it, so the spool retries it (or dead-letters it)."""
        latest: dict[str, Doc] = {}  # response key -> its document (the later record's wins)
        owners: dict[str, list[str]] = {}  # response key -> the record ids it came with
        for record_id, doc in answers.items():
            if record_id in results:
                latest.pop(doc.id, None)
                latest[doc.id] = doc
                owners.setdefault(doc.id, []).append(record_id)
        _, not_stored, refusals = self._bulk(list(latest.values()), compare=False)
        for key, reason in not_stored:
            for record_id in owners.get(key, ()):
                results.pop(record_id, None)
                failed.append((record_id, f"its survey response {key} was not stored: {reason}"))
                if key in refusals:
                    refused.add(record_id)

    def _bulk(self, pending: list[Doc],
              compare: bool) -> tuple[dict[str, str], list[tuple[str, str]], set[str]]:
        """Bulk-index `pending` with retries and backoff: the result per stored id (see `_send`;
        `compare` skips documents stored exactly so already), (id, reason) per document not stored,
        and the ids among them refused for good."""
        results: dict[str, str] = {}
        failed: list[tuple[str, str]] = []
        refused: set[str] = set()
        reasons: dict[str, str] = {}
        for attempt in range(self.max_retries + 1):
            if not pending:
                break
            if attempt:
                delay = min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1))
                log.warning("es bulk retry attempt=%d docs=%d delay=%.2fs reason=%s", attempt,
                            len(pending), delay, next(iter(reasons.values()), ""))
                self._sleep(delay)
            ok, errors = self._send(pending, compare)
            results.update(ok)
            retry: list[Doc] = []
            for doc in pending:
                if doc.id in ok:
                    continue
                status, reason = errors.get(doc.id, (None, "no result for this document"))
                reasons[doc.id] = reason
                if status is None or status in RETRY_STATUS:
                    retry.append(doc)
                else:
                    failed.append((doc.id, reason))
                    if status in REFUSED_STATUS:
                        refused.add(doc.id)
            pending = retry
        failed.extend((doc.id, f"after {self.max_retries} retries: {reasons[doc.id]}") for doc in pending)
        return results, failed, refused

    def _send(self, docs: list[Doc], compare: bool = True) -> tuple[dict[str, str],
                                                                   dict[str, tuple[int | None, str]]]:
        """One streaming_bulk pass over the documents not stored exactly so already (all of them
        without `compare`: survey responses, whose index holds no digests): the bulk API's
        `result` per acknowledged id ("created", "updated"; "noop" for those not sent), and
        (status, reason) per failed id; a connection error or timeout leaves every unacknowledged
        document with status None."""
        ok: dict[str, str] = {}
        errors: dict[str, tuple[int | None, str]] = {}
        try:
            self._ensure()
            unchanged = self._compare_stored(docs) if compare else set()
            ok.update(dict.fromkeys(unchanged, "noop"))
            changed = [doc for doc in docs if doc.id not in unchanged]
            # Doc objects, not the client's action dicts: `_expand` turns each into its action line
            for success, item in helpers.streaming_bulk(
                    self._bulk_es, changed, chunk_size=self.chunk_size,  # type: ignore[arg-type]
                    expand_action_callback=_expand,  # type: ignore[arg-type]
                    raise_on_error=False, raise_on_exception=False, max_retries=0,
                    refresh=self.refresh):
                info = next(iter(item.values()))
                if success:
                    ok[info["_id"]] = "created" if info.get("result") == "created" else (
                        "noop" if info.get("result") == "noop" else "updated")
                else:
                    status = info.get("status")
                    errors[info.get("_id", "")] = (status if isinstance(status, int) else None,
                                                   _item_reason(info))
        except (TransportError, StoreUnavailable) as exc:  # connection refused, timeout, setup
            reason = f"{type(exc).__name__}: {exc}"
            for doc in docs:
                if doc.id not in ok:
                    errors.setdefault(doc.id, (None, reason))
        return ok, errors

    def _compare_stored(self, docs: list[Doc]) -> set[str]:
        """Look up the stored versions (one ids search per GET_MANY_CHUNK docs, reading only their
        `voc_hash`): the ids stored exactly so already (same digest, same index) come back, and
        are not sent again. A record lives in exactly one monthly index: one already stored is
        written where it is, even when a re-crawl moved its `created_at` into another month (a
        relative 「2天前」 read later), instead of leaving a copy in each month."""
        unchanged: set[str] = set()
        for i in range(0, len(docs), GET_MANY_CHUNK):
            chunk = docs[i:i + GET_MANY_CHUNK]
            hits = self._call("upsert lookup", lambda chunk=chunk: self._es.search(  # type: ignore[misc]  # chunk bound per loop
                index=self.names["alias"], ignore_unavailable=True, size=len(chunk),
                source={"includes": ["voc_hash"]}, query={"ids": {"values": [d.id for d in chunk]}}).body)
            stored = {h["_id"]: (h["_index"], (h.get("_source") or {}).get("voc_hash"))
                      for h in hits["hits"]["hits"]}
            for doc in chunk:
                if doc.id not in stored:
                    continue
                home, digest = stored[doc.id]
                if home != doc.index:
                    log.info("es upsert id=%s stays in index=%s (its time moved to %s)", doc.id, home,
                             doc.index)
                    doc.index = home
                elif digest == doc.digest:
                    unchanged.add(doc.id)
        return unchanged

    def _hits(self, what: str, index: str, **body: Any) -> dict[str, Any]:
        self._ensure()
        found: dict[str, Any] = self._call(
            what, lambda: self._es.search(index=index, ignore_unavailable=True, **body).body)
        return found

    def _records(self, hits: dict[str, Any]) -> list[Feedback]:
        out = []
        for hit in hits["hits"]["hits"]:
            try:
                out.append(load(hit["_source"]))
            except (ValueError, KeyError, RecordError) as exc:
                raise StoreError(f"stored record unreadable index={hit.get('_index')} "
                                 f"id={hit.get('_id')}: {exc}") from exc
        return out

    def get(self, record_id: str) -> Feedback | None:
        return self.get_many([record_id]).get(record_id)

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Feedback]:
        ids = list(dict.fromkeys(record_ids))
        found: dict[str, Feedback] = {}
        for i in range(0, len(ids), GET_MANY_CHUNK):
            chunk = ids[i:i + GET_MANY_CHUNK]
            hits = self._hits("get_many", self.names["alias"], size=len(chunk),
                              query={"ids": {"values": chunk}})
            found.update((r.id, r) for r in self._records(hits))
        return found

    def search(self, query: str = "", filters: Filters = _ANY, page: int = 1,
               size: int = 20) -> SearchPage:
        """Records whose visible title or text contains every whitespace-separated term (folded as
        the texts are), newest first."""
        if not isinstance(page, int) or page < 1 or not isinstance(size, int) or size < 1:
            raise StoreQueryError(f"page and size must be integers >= 1, got page={page} size={size}")
        skip = (page - 1) * size
        if skip + size > MAX_WINDOW:
            raise StoreQueryError(f"page={page} size={size} goes past the first {MAX_WINDOW} results; "
                                  "narrow the filters")
        body = q.bool_query(filters, q.split_query(query))
        # Counting stops at COUNT_CAP, as on SQLite: hits.total.relation "gte" says it did.
        hits = self._hits("search", self.names["alias"], query=body, sort=q.NEWEST_FIRST, from_=skip,
                          size=size, track_total_hits=COUNT_CAP)
        total = hits["hits"]["total"]
        return SearchPage(total=total["value"], items=self._records(hits), page=page, size=size,
                          total_capped=total.get("relation") == "gte")

    def counts(self, start: datetime, end: datetime, interval: timedelta | None = None,
               group_by: Sequence[str] = (), filters: Filters = _ANY) -> list[CountRow]:
        """Counts per bucket and group key for start <= created_at < end; empty buckets are absent."""
        fields = q.group_fields(group_by)
        clusters = filters.distinct_clusters  # each cluster present once, whatever its first post's age
        query = q.bool_query(replace(filters, distinct_clusters=False) if clusters else filters,
                             window=(start, end))
        aggs = q.counts_aggs(fields, interval, self.timezone, self.max_groups, clusters=clusters)
        response = self._hits("counts", self.names["alias"], query=query, size=0, track_total_hits=True,
                              **({"aggs": aggs} if aggs else {}))
        rows, cut = q.parse_counts(response, fields, start, interval)
        if cut:
            log.warning("es counts truncated docs_left_out=%d group_by=%s max_groups=%d", cut,
                        ",".join(fields), self.max_groups)
        return rows

    def total(self, filters: Filters = _ANY) -> int:
        if filters.distinct_clusters:  # clusters, as `counts` counts them
            response = self._hits("total", self.names["alias"], size=0, aggs=q.CLUSTERS_AGG,
                                  query=q.bool_query(replace(filters, distinct_clusters=False)))
            return int(((response.get("aggregations") or {}).get("clusters") or {}).get("value", 0))
        query = q.bool_query(filters)
        self._ensure()
        resp = self._call("total", lambda: self._es.count(index=self.names["alias"], query=query,
                                                          ignore_unavailable=True).body)
        return int(resp["count"])

    def samples(self, filters: Filters = _ANY, n: int = 5) -> list[Feedback]:
        """Up to n matching records: highest negative score first (unclassified last), then newest."""
        if n < 1:
            return []
        return self._records(self._hits("samples", self.names["alias"], query=q.bool_query(filters),
                                        sort=q.MOST_NEGATIVE_FIRST, size=min(n, MAX_WINDOW)))

    # -- state and alert history ---------------------------------------------------------------

    def _state_id(self, namespace: str, key: str) -> str:
        if not isinstance(namespace, str) or not namespace or "/" in namespace:
            raise StoreQueryError(f"state namespace {namespace!r} must be a non-empty name without '/'")
        doc_id = f"{namespace}/{key}"
        if len(doc_id.encode("utf-8")) > 512:  # the _id limit; long keys are hashed
            doc_id = f"{namespace}/sha1:{hashlib.sha1(key.encode('utf-8')).hexdigest()}"
        return doc_id

    def get_state(self, namespace: str, key: str) -> dict[str, Any] | None:
        doc_id = self._state_id(namespace, key)
        self._ensure()
        resp = self._call("get_state", lambda: self._es.options(ignore_status=404).get(
            index=state_index(self.names, namespace), id=doc_id))
        return resp.body["_source"]["value"] if resp.meta.status == 200 and resp.body.get("found") else None

    def lock(self, name: str, owner: str, ttl: timedelta) -> bool:
        """`create` the lock document (409 when it exists); an expired or own one is replaced only
        if nobody changed it since it was read (`if_seq_no` / `if_primary_term`)."""
        index, doc_id = self.names["state"], self._state_id(LOCKS, name)
        now = datetime.now(UTC)
        doc = {"namespace": LOCKS, "key": name, "updated_at": now.isoformat(),
               "value": {"owner": owner, "until": (now + ttl).isoformat(), "taken_at": now.isoformat()}}
        self._ensure()
        created = self._call("lock", lambda: self._es.options(ignore_status=409).create(
            index=index, id=doc_id, document=doc, refresh=True))
        if created.meta.status in (200, 201):
            return True
        held = self._call("lock", lambda: self._es.options(ignore_status=404).get(index=index, id=doc_id))
        if held.meta.status != 200 or not held.body.get("found"):
            return False  # released between the two calls: the next check takes it
        value = held.body["_source"].get("value", {})
        if value.get("owner") != owner and parse_time(value["until"], naive_tz=None) > now:
            return False
        taken = self._call("lock", lambda: self._es.options(ignore_status=409).index(
            index=index, id=doc_id, document=doc, refresh=True, if_seq_no=held.body["_seq_no"],
            if_primary_term=held.body["_primary_term"]))
        return taken.meta.status in (200, 201)

    def unlock(self, name: str, owner: str) -> None:
        index, doc_id = self.names["state"], self._state_id(LOCKS, name)
        self._ensure()
        held = self._call("unlock", lambda: self._es.options(ignore_status=404).get(index=index, id=doc_id))
        if held.meta.status == 200 and held.body.get("found") \
                and held.body["_source"].get("value", {}).get("owner") == owner:
            self._call("unlock", lambda: self._es.options(ignore_status=(404, 409)).delete(
                index=index, id=doc_id, refresh=True, if_seq_no=held.body["_seq_no"],
                if_primary_term=held.body["_primary_term"]))

    def put_state(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        """Replace one state document; datetimes inside are stored as ISO 8601 strings."""
        doc_id = self._state_id(namespace, key)
        if not isinstance(value, dict):
            raise StoreQueryError(f"state {namespace}/{key}: value must be a dict")
        try:
            plain = json.loads(dumps(value))
        except (TypeError, ValueError) as exc:
            raise StoreQueryError(f"state {namespace}/{key}: {exc}") from exc
        doc = {"namespace": namespace, "key": key, "value": plain,
               "updated_at": datetime.now(UTC).isoformat()}
        self._ensure()
        self._call("put_state", lambda: self._es.index(index=state_index(self.names, namespace), id=doc_id,
                                                       document=doc, refresh=self.refresh))

    def delete_state(self, namespace: str, key: str) -> None:
        doc_id = self._state_id(namespace, key)
        self._ensure()
        self._call("delete_state", lambda: self._es.options(ignore_status=404).delete(
            index=state_index(self.names, namespace), id=doc_id, refresh=self.refresh))

    def list_state(self, namespace: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        index = state_index(self.names, namespace)
        for hit in self._scan("list_state", index, {"term": {"namespace": namespace}}, [{"key": "asc"}]):
            out[hit["_source"]["key"]] = hit["_source"]["value"]
        return out

    def _scan(self, what: str, index: str, query: dict[str, Any],
              sort: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Every hit, in pages of 1000 with search_after (no result-window limit)."""
        after: list[Any] | None = None
        while True:
            extra = {"search_after": after} if after is not None else {}
            hits = self._hits(what, index, query=query, sort=sort, size=1000, **extra)["hits"]["hits"]
            yield from hits
            if len(hits) < 1000:
                return
            after = hits[-1]["sort"]

    # -- survey responses (indexer._es_responses) ----------------------------------------------

    def put_responses(self, docs: Sequence[dict[str, Any]]) -> int:
        """Index response documents by key (a later one of a key replaces the earlier); every
        document is checked before anything is sent. A document `check` refuses raises
        StoreQueryError; one the cluster refuses too, one still failing after the retries
        StoreUnavailable (writing the same documents again is safe)."""
        kept: dict[str, Doc] = {}
        for doc in docs:
            try:
                built = er.response_doc(doc, self.names["responses"])
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                raise StoreQueryError(f"survey response refused: {exc}") from exc
            kept.pop(built.id, None)
            kept[built.id] = built
        _, failed, refused = self._bulk(list(kept.values()), compare=False)
        if failed:
            cls = StoreQueryError if refused else StoreUnavailable
            raise cls(f"{len(failed)} of {len(kept)} survey responses not stored; "
                      f"first {failed[0][0]}: {failed[0][1]}")
        return len(docs)

    def rating_counts(self, group_by: Sequence[str] = (), filters: Filters = _ANY) -> list[RatingCount]:
        """Responses per group, scale and rating: a composite aggregation, paged by after_key."""
        fields = er.group_names(group_by)
        query, tz = er.query(filters), ZoneInfo(self.timezone)
        rows: list[RatingCount] = []
        after: dict[str, Any] | None = None
        while True:
            response = self._hits("rating_counts", self.names["responses"], query=query, size=0,
                                  track_total_hits=False,
                                  aggs={"ratings": er.composite(fields, self.timezone, after)})
            agg = (response.get("aggregations") or {}).get("ratings") or {}  # absent: no index yet
            buckets = agg.get("buckets") or []
            rows.extend(er.rows(buckets, fields, tz))
            last, after = after, agg.get("after_key")
            if not buckets or after is None or after == last:
                return rows

    def iter_responses(self, filters: Filters = _ANY) -> Iterator[dict[str, Any]]:
        """The response documents (`core.response.check` form), oldest first, by search_after."""
        query = er.query(filters)  # a bad filter is refused here, not at the first next()
        return (er.unflatten(hit["_source"]) for hit in self._scan(
            "iter_responses", self.names["responses"], query, er.OLDEST_FIRST))

    def add_alert(self, alert: dict[str, Any]) -> None:
        """Append to the alert history. Needs `rule`; `created_at` (datetime or ISO text, naive =
        display timezone) defaults to now. Read back as JSON: datetimes become ISO 8601 strings."""
        if not isinstance(alert, dict) or not isinstance(alert.get("rule"), str) or not alert["rule"]:
            raise StoreQueryError("alert must be a dict with a non-empty 'rule'")
        try:
            created = parse_time(alert.get("created_at") or datetime.now(UTC),
                                 naive_tz=ZoneInfo(self.timezone))
            doc = json.loads(dumps({**alert, "created_at": created.isoformat()}))
        except (TypeError, ValueError) as exc:
            raise StoreQueryError(f"alert rule={alert['rule']}: {exc}") from exc
        doc["voc_seq"] = time.time_ns()  # orders alerts with the same created_at; dropped on read
        self._ensure()
        self._call("add_alert", lambda: self._es.index(index=self.names["alerts"], document=doc,
                                                       refresh=self.refresh))

    def alerts(self, since: datetime | None = None, rule: str | None = None,
               limit: int = 100) -> list[dict[str, Any]]:
        """Alert history, newest first."""
        must: list[dict[str, Any]] = []
        if since is not None:
            must.append({"range": {"created_at": {"gte": q.iso(since, "since")}}})
        if rule is not None:
            must.append({"term": {"rule": rule}})
        hits = self._hits("alerts", self.names["alerts"], query={"bool": {"filter": must}},
                          sort=[{"created_at": "desc"}, {"voc_seq": "desc"}], size=min(limit, MAX_WINDOW))
        return [{k: v for k, v in h["_source"].items() if k != "voc_seq"} for h in hits["hits"]["hits"]]

    def close(self) -> None:
        self._es.close()


def _expand(doc: Doc) -> tuple[dict[str, Any], bytes]:
    # The source is already JSON bytes; the client's serializer passes bytes through unchanged.
    return doc.action(), doc.source


def _item_reason(info: dict[str, Any]) -> str:
    error = info.get("error")
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict):
            text += f" ({cause.get('type')}: {cause.get('reason')})"
    else:
        text = str(error or "unknown error")
    return f"status={info.get('status')} {text}"


def _reason(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        return f"{err.get('type')}: {err.get('reason')}"
    return str(exc.message) if exc.message else "refused (no reason given)"


def _transport_reason(exc: TransportError) -> str:
    """The cause of a connection failure in a few words ("Connection refused", "timed out"), not
    the client's nested reprs of it."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] ([^)'\"]+)", text)
    if errno:
        return errno.group(1).strip()
    if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        return "timed out"
    return f"{type(exc).__name__}: {text}"


def _no_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
