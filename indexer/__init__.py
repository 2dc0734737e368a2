"""Where records are kept: the `FeedbackStore` backends and `open_store()` to pick one by name.

`STORES` maps a backend name (the `[store] backend` setting) to its class; Elasticsearch is
registered by its own issue and imported lazily there, so SQLite-only installs never import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from indexer.errors import StoreError, StoreQueryError, StoreUnavailable, UnknownBackend
from indexer.sqlite import SqliteStore
from indexer.store import FeedbackStore, Filters


def _elasticsearch(**options: Any) -> FeedbackStore:
    """Imported on use: the elasticsearch client is not loaded by `voc --help` or SQLite runs."""
    from indexer.elastic import ElasticStore

    return ElasticStore(**options)


STORES: dict[str, Callable[..., FeedbackStore]] = {"sqlite": SqliteStore, "elasticsearch": _elasticsearch}

__all__ = ["STORES", "FeedbackStore", "Filters", "SqliteStore", "StoreError", "StoreQueryError",
           "StoreUnavailable", "UnknownBackend", "open_store"]


def open_store(backend: str, **options: Any) -> FeedbackStore:
    """Build the named backend from plain options, e.g. `open_store("sqlite", path="var/voc.db")`."""
    try:
        cls = STORES[backend]
    except KeyError:
        raise UnknownBackend(
            f"unknown store backend {backend!r}; known: {', '.join(sorted(STORES))}") from None
    try:
        return cls(**options)
    except TypeError as exc:
        raise StoreQueryError(f"store backend {backend!r}: bad options {sorted(options)}: {exc}") from exc
