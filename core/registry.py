"""Registries: the named things a package offers (store backends, rule types, chat robots),
filled by the package that defines them, read by the settings schema and the CLI.

    STORES = registry("store backend")          # in indexer/: the package registers its backends
    STORES.add("sqlite", SqliteStore)
    registry("store backend").names()           # ("sqlite", "elasticsearch") — in core.settings

Each kind names the package that fills it (`PROVIDERS`). Asking for the names imports that
package first, so the schema never copies a list of names and `core` never imports another
package at module level: the provider is imported by name, on use, as Scrapy loads its
components from settings.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

# kind -> the modules whose import registers every entry of that kind (rule types come from the
# alerts package and from care, whose satisfaction rule stands on its survey figures)
PROVIDERS: dict[str, tuple[str, ...]] = {
    "store backend": ("indexer",),
    "rule type": ("alerts", "care.rules"),
    "webhook": ("alerts",),
}


class Registry:
    """Entries of one kind by name, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Any] = {}
        self._loaded = kind not in PROVIDERS

    def add(self, name: str, entry: Any) -> Any:
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Any:
        """A class decorator: `@registry("rule type").register("negative_spike")`."""
        def decorate(entry: Any) -> Any:
            return self.add(name, entry)
        return decorate

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in PROVIDERS[self.kind]:
                importlib.import_module(module)

    def names(self) -> tuple[str, ...]:
        self._load()
        return tuple(self._entries)

    def get(self, name: str) -> Any:
        self._load()
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> list[tuple[str, Any]]:
        self._load()
        return list(self._entries.items())


_REGISTRIES: dict[str, Registry] = {}


def registry(kind: str) -> Registry:
    """The one registry of `kind` (made on first use)."""
    if kind not in _REGISTRIES:
        _REGISTRIES[kind] = Registry(kind)
    return _REGISTRIES[kind]
