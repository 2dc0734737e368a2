"""Cases (state namespace "case") have their own index on Elasticsearch, `<prefix>-cases`, made by
setup with the state mapping; the other namespaces stay in `<prefix>-state`."""

from __future__ import annotations

import pytest


@pytest.fixture
def store(elastic):  # type: ignore[no-untyped-def]
    return elastic


def test_cases_live_in_their_own_index(es, store) -> None:  # type: ignore[no-untyped-def]
    report = store.setup(analyzer="cjk")
    assert "voc-cases" in report["created"] and "voc-cases" in report["indices"]
    assert es.indices["voc-cases"]["body"]["mappings"]["properties"]["value"]["enabled"] is False
    store.put_state("case", "3f2a9c1b7e", {"id": "3f2a9c1b7e", "status": "open"})
    store.put_state("cursor", "weibo", {"newest": "x"})
    assert es.seen("PUT", r"^/voc-cases/_doc/case%2F3f2a9c1b7e")
    assert es.seen("PUT", r"^/voc-state/_doc/cursor%2Fweibo")
    assert not es.seen("PUT", r"^/voc-state/_doc/case")
    assert store.get_state("case", "3f2a9c1b7e") == {"id": "3f2a9c1b7e", "status": "open"}
    store.list_state("case")
    assert es.seen("POST", r"^/voc-cases/_search$")
    store.delete_state("case", "3f2a9c1b7e")
    assert store.get_state("case", "3f2a9c1b7e") is None
    assert "voc-cases" not in store.setup(analyzer="cjk")["created"]  # idempotent
