"""Where records are kept: the `FeedbackStore` backends and `open_store()` to pick one by name.

`STORES` (the `core.registry` of kind "store backend") maps a backend name (the `[store] backend`
setting) to its class; Elasticsearch is imported lazily, so SQLite-only runs never import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.registry import registry
from core.settings import Settings
from indexer.errors import StoreError, StoreQueryError, StoreUnavailable, UnknownBackend
from indexer.sqlite import SqliteStore
from indexer.store import FeedbackStore, Filters


def _elasticsearch(**options: Any) -> FeedbackStore:
    """Imported on use: the elasticsearch client is not loaded by `voc --help` or SQLite runs."""
    from indexer.elastic import ElasticStore

    return ElasticStore(**options)


STORES = registry("store backend")  # the `[store] backend` names; the settings schema reads them here
STORES.add("sqlite", SqliteStore)
STORES.add("elasticsearch", _elasticsearch)

__all__ = ["STORES", "FeedbackStore", "Filters", "SqliteStore", "StoreError", "StoreQueryError",
           "StoreUnavailable", "UnknownBackend", "open_settings_store", "open_store"]


def open_store(backend: str, **options: Any) -> FeedbackStore:
    """Build the named backend from plain options, e.g. `open_store("sqlite", path="var/voc.db")`."""
    try:
        cls = STORES[backend]
    except KeyError:
        raise UnknownBackend(
            f"unknown store backend {backend!r}; known: {', '.join(sorted(STORES.names()))}") from None
    try:
        store: FeedbackStore = cls(**options)
        return store
    except TypeError as exc:
        raise StoreQueryError(f"store backend {backend!r}: bad options {sorted(options)}: {exc}") from exc


def open_settings_store(settings: Settings, must_exist: bool = False) -> FeedbackStore:
    """The store the settings choose, given plain options only. `must_exist` (commands that only
    read: search, stats, alert checks) refuses a SQLite file that is not there, naming the key,
    instead of making a new empty store wherever a mistyped path points."""
    backend = settings.store.backend
    if backend == "sqlite" and must_exist and not Path(settings.store.path).exists():
        raise ConfigError(f"[store] path: no store at {settings.store.path} (import, crawl or run "
                          f"`voc demo` first, or set VOC_STORE__PATH)", key="store.path")
    if backend == "sqlite":
        return open_store(backend, path=str(settings.store.path), timezone=settings.app.timezone)
    es = settings.elasticsearch
    return open_store(backend, hosts=list(es.hosts), ca_certs=es.ca_certs, index_prefix=es.index_prefix,
                      username=es.username, timezone=settings.app.timezone, auto_setup=es.auto_setup,
                      api_key=settings.secrets.value("es_api_key"),
                      password=settings.secrets.value("es_password"))
