"""A local HTTP server that answers like Elasticsearch 8, for request-level tests of the ES store.

It runs on 127.0.0.1:0 in a thread and records every request (method, path, query, headers,
body). Answers:
- scripted ones first: `server.script("POST", r"/_search$", (200, {...}), ...)` answers the next
  matching requests in order (a status with a body dict; `"sleep"` as the status sleeps `body`
  seconds first, for timeouts; `"drop"` closes the connection without an answer);
- else a small in-memory model of what the store needs: index templates, indices, the bulk API
  (documents kept per index and id; `server.bulk_fault(fn)` lets `fn(doc_id, attempt)` return a
  per-item status such as 429 or 400), the document get/index/create/delete APIs with `_seq_no`
  and `if_seq_no` conflicts (409), _nodes/plugins;
- search and count return an empty result unless scripted (the tests check request bodies and
  feed the store realistic responses; the query semantics are covered by the contract tests on a
  real cluster).
Every answer carries `X-Elastic-Product: Elasticsearch`, which the client checks.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

CLUSTER_INFO = {"name": "node-1", "cluster_name": "docker-cluster", "cluster_uuid": "x6J0m3P1QxC9",
                "version": {"number": "8.19.3", "build_flavor": "default", "lucene_version": "9.12.2",
                            "minimum_wire_compatibility_version": "7.17.0",
                            "minimum_index_compatibility_version": "7.0.0"},
                "tagline": "You Know, for Search"}


def empty_search(total: int = 0) -> dict[str, Any]:
    shards = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    return {"took": 3, "timed_out": False, "_shards": shards,
            "hits": {"total": {"value": total, "relation": "eq"}, "max_score": None, "hits": []}}


def error_body(status: int, kind: str, reason: str) -> dict[str, Any]:
    return {"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
            "status": status}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.body.decode("utf-8").splitlines() if line.strip()]


@dataclass
class FakeES:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    templates: dict[str, Any] = field(default_factory=dict)
    indices: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {"body", "docs"}
    plugins: list[str] = field(default_factory=list)
    bulk_attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _scripts: list[tuple[str, re.Pattern[str], list[tuple[Any, Any]]]] = field(default_factory=list)
    _fault: Callable[[str, int], int | None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    seqnos: dict[tuple[str, str], int] = field(default_factory=dict)  # (index, id) -> _seq_no

    def script(self, method: str, pattern: str, *answers: tuple[Any, Any]) -> None:
        self._scripts.append((method, re.compile(pattern), list(answers)))

    def bulk_fault(self, fn: Callable[[str, int], int | None]) -> None:
        self._fault = fn

    def seen(self, method: str, pattern: str) -> list[Request]:
        rx = re.compile(pattern)
        return [r for r in self.requests if r.method == method and rx.search(r.path)]

    def docs(self) -> dict[str, dict[str, Any]]:
        """Every stored document by id, across indices."""
        return {i: d for idx in self.indices.values() for i, d in idx["docs"].items()}

    # -- answering ---------------------------------------------------------------------------

    def answer(self, req: Request) -> tuple[Any, Any]:
        with self.lock:
            self.requests.append(req)
            for method, rx, answers in self._scripts:
                if method == req.method and rx.search(req.path) and answers:
                    return answers.pop(0)
            return self._model(req)

    def _model(self, req: Request) -> tuple[int, Any]:
        parts = [unquote(p) for p in req.path.strip("/").split("/") if p]
        m = req.method
        if not parts:
            return 200, CLUSTER_INFO
        if parts[0] == "_index_template":
            name = parts[1]
            if m == "PUT":
                self.templates[name] = req.json()
                return 200, {"acknowledged": True}
            return (200, {}) if name in self.templates else (404, {})
        if parts[0] == "_nodes":
            plugins = [{"name": p, "version": "8.19.3"} for p in self.plugins]
            return 200, {"_nodes": {"total": 1, "successful": 1, "failed": 0},
                         "cluster_name": "docker-cluster",
                         "nodes": {"n1": {"name": "node-1", "plugins": plugins}}}
        if parts[0] == "_bulk":
            return 200, self._bulk(req)
        if parts[-1] in ("_search", "_count"):
            return 200, ({"count": 0, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}}
                         if parts[-1] == "_count" else empty_search())
        index = parts[0]
        if len(parts) == 1:
            if m == "HEAD":
                return (200, {}) if index in self.indices else (404, {})
            if m == "PUT":
                if index in self.indices:
                    return 400, error_body(400, "resource_already_exists_exception",
                                           f"index [{index}] already exists")
                self.indices[index] = {"body": req.json() if req.body else {}, "docs": {}}
                return 200, {"acknowledged": True, "shards_acknowledged": True, "index": index}
        if parts[1] == "_mapping":
            return 200, {"acknowledged": True}
        if parts[1] in ("_doc", "_create"):
            docs = self.indices.setdefault(index, {"body": {}, "docs": {}})["docs"]
            doc_id = parts[2] if len(parts) > 2 else f"auto{len(docs)}"
            seq = self.seqnos.get((index, doc_id), 0)
            base = {"_index": index, "_id": doc_id, "_version": seq + 1, "_seq_no": seq, "_primary_term": 1}
            wanted = req.query.get("if_seq_no")  # optimistic concurrency, as ES documents it
            if (parts[1] == "_create" and doc_id in docs) or (
                    wanted and (doc_id not in docs or int(wanted[0]) != seq)):
                return 409, error_body(409, "version_conflict_engine_exception",
                                       f"[{doc_id}]: version conflict")
            if m in ("PUT", "POST"):
                self.seqnos[(index, doc_id)] = seq + 1 if doc_id in docs else seq
                docs[doc_id] = req.json()
                return 201, {**base, "result": "created",
                             "_shards": {"total": 2, "successful": 1, "failed": 0}}
            if m == "GET":
                if doc_id in docs:
                    return 200, {**base, "found": True, "_source": docs[doc_id]}
                return 404, {"_index": index, "_id": doc_id, "found": False}
            if m == "DELETE":
                found = docs.pop(doc_id, None) is not None
                self.seqnos.pop((index, doc_id), None)
                return (200 if found else 404), {**base, "result": "deleted" if found else "not_found"}
        return 400, error_body(400, "illegal_argument_exception", f"fake server: no route {m} {req.path}")

    def _bulk(self, req: Request) -> dict[str, Any]:
        lines = req.ndjson()
        items, errors = [], False
        for action, source in zip(lines[0::2], lines[1::2], strict=True):
            meta = action["index"]
            doc_id, index = meta["_id"], meta["_index"]
            self.bulk_attempts[doc_id] += 1
            status = self._fault(doc_id, self.bulk_attempts[doc_id]) if self._fault else None
            if status:
                errors = True
                kind = {429: "es_rejected_execution_exception"}.get(status, "document_parsing_exception")
                error = {"type": kind, "reason": f"[{doc_id}] rejected ({status})"}
                items.append({"index": {"_index": index, "_id": doc_id, "status": status, "error": error}})
                continue
            docs = self.indices.setdefault(index, {"body": {}, "docs": {}})["docs"]
            created = doc_id not in docs
            docs[doc_id] = source
            items.append({"index": {"_index": index, "_id": doc_id, "_version": 1,
                                    "result": "created" if created else "updated",
                                    "_shards": {"total": 2, "successful": 1, "failed": 0},
                                    "_seq_no": 0, "_primary_term": 1, "status": 201 if created else 200}})
        return {"errors": errors, "took": 7, "items": items}


class _Handler(BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        req = Request(self.command, split.path, parse_qs(split.query),
                      {k.lower(): v for k, v in self.headers.items()}, body)
        status, payload = self.server.fake.answer(req)
        if status == "drop":
            self.close_connection = True
            self.connection.close()
            return
        if status == "sleep":
            time.sleep(payload)
            status, payload = self.server.fake._model(req)
        data = b"" if self.command == "HEAD" else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", "application/vnd.elasticsearch+json;compatible-with=8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass


def start() -> tuple[FakeES, Callable[[], None]]:
    """Start a server; returns it and a function that stops it."""
    fake = FakeES()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.fake = fake  # type: ignore[attr-defined]
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()

    return fake, stop
