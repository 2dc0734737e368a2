"""Create what the Elasticsearch store needs, idempotently: `voc es setup` and the store's first use.

- an index template `<prefix>-feedback` (settings + mappings from `indexer/mappings/feedback.json`)
  for the monthly indices `<prefix>-feedback-YYYY.MM`, which puts each new one behind the alias
  `<prefix>-feedback`; the current month's index is created so the alias always exists;
- the indices `<prefix>-alerts`, `<prefix>-state` and `<prefix>-responses` (survey responses,
  `indexer._es_responses`; mappings from `alerts.json`, `state.json`, `responses.json`), and the
  state namespaces with an index of their own (`<prefix>-cases`, `indexer._es_state_indices`,
  the state mapping); when they exist already, their mappings are updated (additive only);
- the fields added to the feedback mapping since the first release (`ADDED_FEEDBACK_FIELDS`:
  the visible text search reads) are put on every monthly index behind the alias, so documents
  indexed there again become searchable by their visible text too (additive only).

Chinese analysis: the `voc_text` analyzer is the built-in `cjk` (bigrams), or `ik_max_word`
(analysis-ik) or `smartcn` (analysis-smartcn) when a node reports that plugin. A changed
template applies to indices created after it; older months keep their analyzer.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from indexer._es_docs import month_index
from indexer._es_state_indices import state_index_names

log = logging.getLogger(__name__)

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"
ANALYZERS: dict[str, dict[str, Any]] = {
    "cjk": {"type": "cjk"},
    "ik": {"type": "custom", "tokenizer": "ik_max_word"},
    "smartcn": {"type": "smartcn"},
}
PLUGINS = {"analysis-ik": "ik", "analysis-smartcn": "smartcn"}  # in order of preference
TEMPLATE_PRIORITY = 200
# Feedback fields added after indices were first created from the template: put on existing ones.
ADDED_FEEDBACK_FIELDS = ("search_title", "search_text", "voc_hash")


@cache
def _mapping_file(name: str) -> dict[str, Any]:
    data = json.loads((MAPPINGS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    data.pop("_comment", None)
    return dict(data)


def mapping(name: str) -> dict[str, Any]:
    """A fresh copy of `indexer/mappings/<name>.json` ({"settings", "mappings"})."""
    copy: dict[str, Any] = json.loads(json.dumps(_mapping_file(name)))
    return copy


def names(prefix: str) -> dict[str, str]:
    return {"alias": f"{prefix}-feedback", "template": f"{prefix}-feedback",
            "alerts": f"{prefix}-alerts", "state": f"{prefix}-state", "responses": f"{prefix}-responses",
            **state_index_names(prefix)}


def detect_analyzer(es: Any) -> str:
    """`ik` or `smartcn` when any node has that plugin (GET _nodes/plugins), else `cjk`."""
    info = es.nodes.info(metric="plugins").body
    found = {p.get("name") for node in info.get("nodes", {}).values() for p in node.get("plugins", [])}
    return next((PLUGINS[p] for p in PLUGINS if p in found), "cjk")


def feedback_template(prefix: str, analyzer: str = "cjk", replicas: int | None = None) -> dict[str, Any]:
    """The body of PUT _index_template/<prefix>-feedback."""
    body = mapping("feedback")
    body["settings"]["analysis"]["analyzer"]["voc_text"] = dict(ANALYZERS[analyzer])
    if replicas is not None:
        body["settings"]["number_of_replicas"] = replicas
    alias = names(prefix)["alias"]
    return {"index_patterns": [f"{prefix}-feedback-*"], "priority": TEMPLATE_PRIORITY,
            "template": {**body, "aliases": {alias: {}}},
            "_meta": {"managed_by": "voc-monitor", "analyzer": analyzer}}


def setup(es: Any, prefix: str, analyzer: str | None = None, replicas: int | None = None,
          now: datetime | None = None) -> dict[str, Any]:
    """Put the template, create the indices that are missing; returns what it did."""
    n = names(prefix)
    analyzer = analyzer or detect_analyzer(es)
    if analyzer not in ANALYZERS:
        raise ValueError(f"analyzer {analyzer!r} not in {sorted(ANALYZERS)}")
    body = feedback_template(prefix, analyzer, replicas)
    es.indices.put_index_template(name=n["template"], index_patterns=body["index_patterns"],
                                  priority=body["priority"], template=body["template"],
                                  meta=body["_meta"])
    current = month_index(prefix, (now or datetime.now(UTC)).astimezone(UTC))
    created: list[str] = []
    if _create(es, current, None):  # settings, mappings and alias come from the template
        created.append(current)
    # Older months may predate fields the template has since gained (a no-op where they are).
    fields = mapping("feedback")["mappings"]["properties"]
    es.indices.put_mapping(index=n["alias"], properties={f: fields[f] for f in ADDED_FEEDBACK_FIELDS})
    own = [key for key in n if key.startswith("state:")]
    for kind in ("alerts", "state", "responses", *own):
        body = mapping(kind.split(":")[0])
        if replicas is not None:
            body["settings"]["number_of_replicas"] = replicas
        if _create(es, n[kind], body):
            created.append(n[kind])
        else:
            es.indices.put_mapping(index=n[kind], **body["mappings"])
    log.info("es setup prefix=%s analyzer=%s created=%s", prefix, analyzer, ",".join(created) or "-")
    return {"template": n["template"], "alias": n["alias"], "analyzer": analyzer,
            "indices": [current, n["alerts"], n["state"], n["responses"], *(n[k] for k in own)],
            "created": created}


def _create(es: Any, index: str, body: dict[str, Any] | None) -> bool:
    """Create `index` unless it exists; True when this call created it."""
    if es.indices.exists(index=index):
        return False
    resp = es.options(ignore_status=400).indices.create(index=index, **(body or {}))
    if resp.meta.status == 400:
        error = resp.body.get("error", {}) if isinstance(resp.body, dict) else {}
        if error.get("type") == "resource_already_exists_exception":
            return False  # another process won the race; same result
        raise _bad_request(index, resp.body)
    return True


def _bad_request(index: str, body: Any) -> Exception:
    from indexer.errors import StoreQueryError

    return StoreQueryError(f"cannot create index {index}: {json.dumps(body, ensure_ascii=False)[:500]}")
