"""Run one crawl now, in a child process, one at a time per source; report how it ended.

    result = run_crawl("appstore", {"app_id": "1234567890"}, var_dir=Path("var"))
    result.status, result.new, result.exit_code

Scrapy runs in a child `python -m scrapy crawl` because Twisted's reactor cannot be restarted in
a process that has run it once (a scheduler or a test runs many crawls). The child writes its
crawl_health document to a result file (crawlers/health.py); when it dies before that, the crawl is
"failed" with the tail of its log, and that is written to the store's crawl_health when a store is
given. A file lock `var/locks/crawl-<key>.lock` (flock: released even if the process is killed)
keeps a second crawl of the same source from starting: it raises `AlreadyRunning`.

`NAME` is a spider name, or `site:<profile>` for one configured site. Exit codes (`exit_code`):
0 ok, 3 blocked or layout_changed, 1 failed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawlers.errors import CrawlError
from crawlers.health import failed_document

REPO_ROOT = Path(__file__).resolve().parents[1]
EXIT_CODES = {"ok": 0, "blocked": 3, "layout_changed": 3, "failed": 1}
LOG_TAIL = 1500  # characters of the child's log quoted when it failed


class AlreadyRunning(CrawlError):
    """A crawl of this source is running already (another process holds its lock)."""


@dataclass
class CrawlResult:
    key: str
    spider: str
    status: str
    reason: str
    document: dict[str, Any] = field(default_factory=dict)
    log_path: str = ""

    def count(self, name: str) -> int:
        return int(self.document.get(name, 0) or 0)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)

    def to_dict(self) -> dict[str, Any]:
        return {**self.document, "key": self.key, "spider": self.spider, "status": self.status,
                "reason": self.reason, "log": self.log_path, "exit_code": self.exit_code}


def crawl_target(name: str, args: Mapping[str, str]) -> tuple[str, str, dict[str, str]]:
    """(spider, health/lock key, spider args) for NAME: `site:forum` means spider site, profile forum."""
    args = dict(args)
    spider, _, profile = name.partition(":")
    if profile:
        args.setdefault("profile", profile)
    key = f"{spider}:{args['profile']}" if spider == "site" and args.get("profile") else spider
    return spider, key, args


@contextmanager
def crawl_lock(var_dir: Path, key: str) -> Iterator[None]:
    locks = Path(var_dir) / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    path = locks / f"crawl-{re.sub(r'[^0-9A-Za-z_.-]', '_', key)}.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise AlreadyRunning(f"a crawl of {key} is already running") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_crawl(name: str, args: Mapping[str, str] | None = None, *, var_dir: str | Path,
              scrapy_settings: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None,
              timeout: float | None = None, store: Any = None) -> CrawlResult:
    """Crawl `name` once with spider arguments `args` (each becomes `-a key=value`)."""
    spider, key, spider_args = crawl_target(name, args or {})
    var_dir = Path(var_dir)
    started = datetime.now(UTC)
    with crawl_lock(var_dir, key):
        logs = var_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"crawl-{re.sub(r'[^0-9A-Za-z_.-]', '_', key)}.log"
        with tempfile.TemporaryDirectory(prefix="voc-crawl-") as tmp:
            result_file = Path(tmp) / "result.json"
            command = [sys.executable, "-m", "scrapy", "crawl", spider]
            for k, v in spider_args.items():
                command += ["-a", f"{k}={v}"]
            extra = {"VOC_RESULT_FILE": str(result_file), "VOC_RUN_ID": uuid.uuid4().hex,
                     **(scrapy_settings or {})}
            for k, v in extra.items():
                command += ["-s", f"{k}={v}"]
            child_env = {**os.environ, **(env or {}), "SCRAPY_SETTINGS_MODULE": "crawlers.settings"}
            child_env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(REPO_ROOT), child_env.get("PYTHONPATH", "")) if p)
            reason = ""
            with open(log_path, "wb") as log:
                try:
                    code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=child_env,
                                          timeout=timeout, check=False).returncode
                except subprocess.TimeoutExpired:
                    code, reason = -1, f"timed out after {timeout:g} s"
            if result_file.exists():
                doc = json.loads(result_file.read_text(encoding="utf-8"))
                return CrawlResult(key, spider, doc["status"], doc["reason"], doc, str(log_path))
    reason = reason or f"crawl process exited {code} before reporting: {_tail(log_path)}"
    doc = failed_document(key, spider, reason, started)
    if store is not None:
        store.put_state("crawl_health", key, doc)
    return CrawlResult(key, spider, "failed", reason, doc, str(log_path))


def _tail(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    # The last error line says most; a traceback's final line names the exception.
    return " | ".join(lines[-3:])[-LOG_TAIL:] if lines else "(no output)"
