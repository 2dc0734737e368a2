"""`VOC_STORE__BACKEND=elasticsearch`: the `voc` command's import, search, stats and alert check go
through ElasticStore with no other change — the requests reach a local Elasticsearch-like server
(es_server.py) through the real client, and its answers come back out of the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.es_server import empty_search, start

from voc.cli import main

POSTS = [
    {"id": "p1", "source": "weibo", "text": "江南银行手机银行又闪退了，转账失败",
     "created_at": "2026-06-14T09:10:00+08:00"},
    {"id": "p2", "source": "appstore", "text": "更新以后一直闪退，登录不了",
     "created_at": "2026-06-14T09:20:00+08:00", "rating": 1},
    {"id": "p3", "source": "tousu", "text": "信用卡年费乱收，客服不处理",
     "created_at": "2026-06-14T09:30:00+08:00"},
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nlp.sentiment import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def es(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch):
    fake, stop = start()
    monkeypatch.chdir(tmp_path)
    for name in ("VOC_ES_API_KEY", "VOC_ES_PASSWORD", "VOC_SETTINGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VOC_STORE__BACKEND", "elasticsearch")
    monkeypatch.setenv("VOC_ELASTICSEARCH__HOSTS", json.dumps([fake.url]))
    monkeypatch.setenv("VOC_NLP__MODEL_PATH", str(tiny_model))
    monkeypatch.setenv("VOC_APP__VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VOC_NOTIFY__OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("VOC_PSEUDONYM_SALT", "test")
    yield fake
    stop()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_search_stats_and_alerts_go_through_elasticsearch(es, tmp_path, capsys):
    src = tmp_path / "posts.jsonl"
    src.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in POSTS), encoding="utf-8")
    code, out, err = run(capsys, "import", str(src), "--platform", "records", "--json")
    assert code == 0, err
    assert json.loads(out)["pipeline"]["stored"] == 3
    stored = es.docs()  # indexed by the bulk API into the month's index, classified and tagged
    assert len(stored) == 3 and all(doc["sentiment"]["label"] for doc in stored.values())
    assert any("voc-feedback-2026.06" in name for name in es.indices)

    # search: the query goes to the alias, the answer is printed as records
    doc_id, source = next(iter(stored.items()))
    answer = empty_search(1)
    answer["hits"]["hits"] = [{"_index": "voc-feedback-2026.06", "_id": doc_id, "_score": None,
                               "_source": source, "sort": [1, doc_id]}]
    es.script("POST", r"voc-feedback/_search$", (200, answer))
    code, out, err = run(capsys, "search", "闪退", "--json")
    assert code == 0, err
    assert [item["id"] for item in json.loads(out)["items"]] == [doc_id]
    assert "闪退" in json.dumps(es.seen("POST", r"voc-feedback/_search$")[-1].json(), ensure_ascii=False)

    # stats and an alert check ask the cluster (aggregations); an empty answer is zero, not an error
    before = len(es.requests)
    code, out, err = run(capsys, "stats", "--by", "topic", "--json")
    assert code == 0, err
    assert json.loads(out)["total"] == 0
    code, out, err = run(capsys, "alerts", "check", "--at", "2026-06-14 10:00", "--dry-run", "--json")
    assert code == 0, err
    assert json.loads(out)["errors"] == []
    asked = [r for r in es.requests[before:] if r.path.endswith("/_search")]
    assert any("aggs" in r.json() or "aggregations" in r.json() for r in asked)


def test_an_unreachable_cluster_is_one_line_not_a_page_of_transport_warnings(tmp_path):
    """Issue 14, item 10: an unreachable Elasticsearch printed 167 lines of the client's retry
    warnings and tracebacks before the one good line. Now the command prints that line alone,
    naming the host and the cause; `-v` still shows the client's log."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOC_")}
    env.update(VOC_STORE__BACKEND="elasticsearch", VOC_ELASTICSEARCH__HOSTS=f'["http://127.0.0.1:{port}"]',
               VOC_APP__VAR_DIR=str(tmp_path / "var"))
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "voc.cli", "stats"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"voc stats: Elasticsearch setup check failed: cannot reach http://127.0.0.1:{port}: "
        "Connection refused"]
    verbose = subprocess.run([sys.executable, "-m", "voc.cli", "-v", "stats"], cwd=root, env=env,
                             capture_output=True, text=True, timeout=120)
    assert "elastic_transport" in verbose.stderr
