"""Every file path README.md or a `voc ... --help` text names exists (issue 16, item 6): a new user
who follows one to a file that is not there stops trusting the rest.

A path here is a repo-relative name: with a folder (`crawlers/spiders/base.py`, `demo/survey/`,
`bench/*.py`, a module's `nlp/dedup`) when its first folder is one of the repository's, or a bare
project file (`settings.toml`, `*.md`, `pipeline.py` in the README's layer table: somewhere in the
repository). Left out: absolute paths and URLs, `var/` (made at run time), names with
a placeholder (`<name>`), rates (`docs/s`), and bare data-file names in examples
(`voc import export.csv`)."""

from __future__ import annotations

import argparse
import glob
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from voc.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[3]
# A run of path characters; a URL's "://" and a placeholder's "<" break or mark it.
TOKEN = re.compile(r"(?<![\w/.:<-])(?:\.\.?/)?[\w.\-*]+(?:/[\w.\-*<>]*)*")
FILE_EXT = re.compile(r"\.(py|md|toml|cfg|json|ndjson|jsonl|csv|xlsx?|txt|ya?ml|html|ini|sh|pem|log|eml|db)$")
BARE_EXT = re.compile(r"\.(py|md|toml|cfg|ya?ml)$")  # a bare name with these is a project file
RUNTIME = ("var/", "./var/")


def help_texts(parser: argparse.ArgumentParser, prog: str = "voc") -> Iterator[tuple[str, str]]:
    """(command, --help text) for `voc` and every sub-command under it, at any depth."""
    yield prog, parser.format_help()
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from help_texts(sub, f"{prog} {name}")


def named_paths(text: str) -> set[str]:
    found = set()
    top = {p.name for p in ROOT.iterdir()}
    for match in TOKEN.finditer(text):
        token = match.group(0).rstrip(".")
        start = match.start()
        if text[max(0, start - 3):start].endswith(("://", "/")) or "<" in token or ">" in token:
            continue  # a URL's path, an absolute path, a placeholder
        if token.startswith(RUNTIME) or not re.search(r"[A-Za-z]", token):
            continue
        bare = token.removeprefix("./")
        if re.search(r"/[A-Za-z]$", bare):
            continue  # a rate, not a path: 24,310 docs/s, 40 posts/h
        if "/" in bare.strip("/") or bare.endswith("/"):
            if bare.startswith("../") or bare.split("/")[0] in top:
                found.add(token)
        elif BARE_EXT.search(token) and FILE_EXT.search(token):
            found.add(token)
    return found


def exists(path: str) -> bool:
    """A path with a folder exists from the root (a module path may leave out `.py`: `nlp/dedup`);
    a bare name, as in the README's layer table (`pipeline.py` under `voc/`), somewhere in the
    repository."""
    if "*" in path:
        return bool(glob.glob(str(ROOT / path)))
    if "/" not in path:
        return any(p for p in ROOT.rglob(path) if ".venv" not in p.relative_to(ROOT).parts)
    return (ROOT / path).exists() or (ROOT / f"{path}.py").exists()


def test_the_scanner_finds_paths_and_leaves_the_rest() -> None:
    text = ("see `crawlers/spiders/base.py`: and demo/survey/, `bench/*.py`, .ci/run, settings.toml and "
            "ARCHITECTURE.md; not https://m.weibo.cn/detail/1, /etc/voc/settings.toml, "
            "var/demo/voc.db, voc import export.csv, 1,387 docs/s, ATM/网点, "
            "var/logs/crawl-<name>.log or <prefix>-feedback-YYYY.MM.")
    assert named_paths(text) == {"crawlers/spiders/base.py", "demo/survey/", "bench/*.py", ".ci/run",
                                 "settings.toml", "ARCHITECTURE.md"}
    assert exists("crawlers/spiders/base.py") and exists("bench/*.py")
    assert not exists("ARCHITECTURE.md")


def test_every_path_the_readme_names_exists() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    missing = sorted(p for p in named_paths(readme) if not exists(p))
    assert missing == [], f"README.md names paths that are not in the repository: {missing}"


@pytest.mark.parametrize(("command", "text"), list(help_texts(build_parser())),
                         ids=lambda value: value if value.startswith("voc") else "")
def test_every_path_a_help_text_names_exists(command: str, text: str) -> None:
    missing = sorted(p for p in named_paths(text) if not exists(p))
    assert missing == [], f"`{command} --help` names paths that are not in the repository: {missing}"
