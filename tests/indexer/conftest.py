"""Shared helpers for the store tests: `make` builds `Feedback` records with terse arguments."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.es_server import start
from support.store_records import build_record

from core.record import Feedback


@pytest.fixture
def make() -> Callable[..., Feedback]:
    return build_record


@pytest.fixture
def elastic(es, monkeypatch):  # type: ignore[no-untyped-def]
    """An `ElasticStore` over the local server `es`, without credentials from the environment."""
    from indexer.elastic import ElasticStore

    monkeypatch.delenv("VOC_ES_API_KEY", raising=False)
    monkeypatch.delenv("VOC_ES_PASSWORD", raising=False)
    s = ElasticStore([es.url], index_prefix="voc", sleep=lambda s: None)
    yield s
    s.close()


@pytest.fixture
def es():
    """A local Elasticsearch-like server (es_server.py) for the request-level ES tests."""
    fake, stop = start()
    yield fake
    stop()
