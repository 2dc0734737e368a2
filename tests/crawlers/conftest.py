"""Fixtures for end-to-end crawl tests (spiders, middlewares, extensions): a real crawl in a child
process into a real SQLite file.

    def test_x(crawl):
        with serve(routes) as (base, log):
            result = crawl("appstore", {"base_url": base, "app_id": "1"}, tables={"appstore": {...}})
        assert result.status == "ok"
        store = crawl.store()                   # the SQLite store the crawl wrote

`crawl(name, args, tables=None, scrapy_settings=None)` writes a settings.toml under tmp_path (the
tiny random sentiment model, a SQLite store, var_dir, politeness off so tests run fast, plus the
given [crawl.<name>] tables) and runs `crawlers.runner.run_crawl`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

FAST = {"contact": "crawl-test@example.org", "delay": 0, "autothrottle": False, "retry_times": 1,
        "backoff": 0.1, "batch_size": 20, "concurrency": 4}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def toml_tables(prefix: str, table: Mapping[str, Any]) -> str:
    """[prefix] with its scalar keys, then its sub-tables, recursively."""
    lines = [f"[{prefix}]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in table.items() if not isinstance(v, Mapping)]
    out = "\n".join(lines) + "\n"
    for k, v in table.items():
        if isinstance(v, Mapping):
            out += toml_tables(f"{prefix}.{json.dumps(k, ensure_ascii=False)}", v)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nlp.sentiment import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


class Crawler:
    def __init__(self, root: Path, model: Path) -> None:
        self.root = root
        self.model = model
        self.db = root / "voc.db"

    def settings_file(self, tables: Mapping[str, Mapping[str, Any]]) -> Path:
        text = (f'[app]\nvar_dir = {toml_value(str(self.root / "var"))}\n'
                f'[bank]\nname = "江南银行"\naliases = ["江南行"]\n'
                f'[store]\nbackend = "sqlite"\npath = {toml_value(str(self.db))}\n'
                f'[nlp]\nmodel_path = {toml_value(str(self.model))}\nbatch_size = 16\n')
        text += toml_tables("crawl.defaults", {**FAST, **tables.get("defaults", {})})
        for name, table in tables.items():
            if name != "defaults":
                text += toml_tables(f"crawl.{name}", table)
        path = self.root / "settings.toml"
        path.write_text(text, encoding="utf-8")
        return path

    def __call__(self, name: str, args: Mapping[str, str] | None = None,
                 tables: Mapping[str, Mapping[str, Any]] | None = None,
                 scrapy_settings: Mapping[str, str] | None = None, timeout: float = 180) -> Any:
        from crawlers.runner import run_crawl

        path = self.settings_file(tables or {})
        return run_crawl(name, args or {}, var_dir=self.root / "var", env={"VOC_SETTINGS": str(path)},
                         scrapy_settings=scrapy_settings, timeout=timeout)

    def store(self) -> Any:
        from indexer.sqlite import SqliteStore

        return SqliteStore(self.db)


@pytest.fixture
def crawl(tmp_path: Path, tiny_model: Path) -> Callable[..., Any]:
    return Crawler(tmp_path, tiny_model)
