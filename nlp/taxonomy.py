"""Load and validate `taxonomy.toml` (topics, risk flags, entity dictionaries) into plain data.

The file is meant to be edited by a PR team, so every mistake is reported as a `TaxonomyError`
naming the file and the key (``topics."信用卡/催收".keywords[2]: expected a non-empty string``).
Words are folded here exactly as the tagger folds text (`fold_for_matching`), so an editor may
write ``ICBC`` or ``手機銀行`` and still match. The format is described in the file's header.

Topics may also carry ``context_keywords`` (ambiguous words such as a bare ``卡``) that count only
with one of ``context_words`` within ``context_window`` characters; the two lists go together, and
``context_window`` (default ``matching.context_window``) is an integer 0..100.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.errors import TaxonomyError
from nlp.normalize import fold_for_matching

DEFAULT_PATH = Path(__file__).with_name("taxonomy.toml")
SEVERITIES = ("info", "warning", "critical")
_TOP_KEYS = {"matching", "topics", "risk", "bank_context", "banks", "bank_suffixes", "products",
             "branches", "cities"}


@dataclass
class Rule:
    """A topic or a risk flag: what triggers it and what cancels it."""

    name: str
    keywords: list[str]
    patterns: list[tuple[str, str]]
    exclude: list[str]
    severity: str = ""          # risk flags only
    needs_parent: bool = False  # sub-topics only
    parent: str = ""
    context_keywords: list[str] = field(default_factory=list)  # topics only: count with context
    context_words: list[str] = field(default_factory=list)
    context_window: int = 0


@dataclass
class Taxonomy:
    source: str
    pattern_gap: int = 8
    context_window: int = 8
    negators: list[str] = field(default_factory=list)
    light_words: str = ""
    topics: list[Rule] = field(default_factory=list)
    risks: list[Rule] = field(default_factory=list)
    bank_context: list[str] = field(default_factory=list)
    bank_exclude: list[str] = field(default_factory=list)
    # canonical name -> (aliases, ambiguous short forms)
    banks: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    bank_suffixes: list[str] = field(default_factory=list)
    products: dict[str, list[str]] = field(default_factory=dict)
    branch_suffixes: list[str] = field(default_factory=list)
    branch_stop: str = ""
    cities: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> TaxonomyError:
        return TaxonomyError(f"{self.source}: {key}: {problem}")

    def table(self, data: Any, key: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, f"expected a table, got {type(data).__name__}")
        return data

    def words(self, data: Any, key: str, *, required: bool = False) -> list[str]:
        if data is None:
            if required:
                raise self.fail(key, "missing (a list of words is required)")
            return []
        if not isinstance(data, list):
            raise self.fail(key, f"expected a list of strings, got {type(data).__name__}")
        out = []
        for i, word in enumerate(data):
            if not isinstance(word, str) or not word.strip():
                raise self.fail(f"{key}[{i}]", f"expected a non-empty string, got {word!r}")
            out.append(fold_for_matching(word.strip()))
        return out

    def check_keys(self, data: dict[str, Any], allowed: set[str], key: str) -> None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def window(self, value: Any, key: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
            raise self.fail(key, f"expected an integer 0..100, got {value!r}")
        return value

    def rule(self, name: str, data: Any, key: str, *, risk: bool, context_window: int = 0) -> Rule:
        data = self.table(data, key)
        allowed = {"keywords", "patterns", "exclude"} | (
            {"severity"} if risk else {"needs_parent", "context_keywords", "context_words", "context_window"})
        self.check_keys(data, allowed, key)
        patterns = []
        for i, text in enumerate(self.words(data.get("patterns"), f"{key}.patterns")):
            parts = [p.strip() for p in text.replace("...", "…").split("…")]
            if len(parts) != 2 or not all(parts):
                raise self.fail(f"{key}.patterns[{i}]", f"expected \"A…B\", got {text!r}")
            patterns.append((parts[0], parts[1]))
        context = self.words(data.get("context_keywords"), f"{key}.context_keywords")
        rule = Rule(name, self.words(data.get("keywords"), f"{key}.keywords",
                                     required=not patterns and not context),
                    patterns, self.words(data.get("exclude"), f"{key}.exclude"))
        if context or "context_words" in data or "context_window" in data:
            if not context:
                raise self.fail(f"{key}.context_keywords", "missing (context_words and context_window "
                                "only apply to context_keywords)")
            rule.context_keywords = context
            rule.context_words = self.words(data.get("context_words"), f"{key}.context_words",
                                            required=True)
            if not rule.context_words:
                raise self.fail(f"{key}.context_words", "empty (context_keywords need at least one)")
            rule.context_window = self.window(data.get("context_window", context_window),
                                              f"{key}.context_window")
        if risk:
            rule.severity = data.get("severity", "")
            if rule.severity not in SEVERITIES:
                raise self.fail(f"{key}.severity", f"expected one of {SEVERITIES}, got {rule.severity!r}")
        else:
            needs = data.get("needs_parent", False)
            if not isinstance(needs, bool):
                raise self.fail(f"{key}.needs_parent", f"expected true or false, got {needs!r}")
            rule.needs_parent = needs
            rule.parent = name.rsplit("/", 1)[0] if "/" in name else ""
        return rule


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read and validate a taxonomy file (default: the one shipped beside this module)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaxonomyError(f"{source}: cannot read taxonomy file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyError(f"{source}: not valid TOML: {exc}") from exc
    return parse_taxonomy(data, source)


def parse_taxonomy(data: dict[str, Any], source: str = "<taxonomy>") -> Taxonomy:
    r = _Reader(source)
    r.check_keys(data, _TOP_KEYS, "(top level)")
    tax = Taxonomy(source)
    matching = r.table(data.get("matching", {}), "matching")
    r.check_keys(matching, {"pattern_gap", "context_window", "negators", "light_words"}, "matching")
    for name in ("pattern_gap", "context_window"):
        setattr(tax, name, r.window(matching.get(name, getattr(tax, name)), f"matching.{name}"))
    tax.negators = sorted(r.words(matching.get("negators"), "matching.negators"), key=len, reverse=True)
    light = matching.get("light_words", "")
    if not isinstance(light, str):
        raise r.fail("matching.light_words", f"expected a string of characters, got {light!r}")
    tax.light_words = fold_for_matching(light)

    topics = r.table(data.get("topics"), "topics") if "topics" in data else {}
    if not topics:
        raise r.fail("topics", "missing or empty (at least one topic is required)")
    for name, body in topics.items():
        tax.topics.append(r.rule(name, body, f'topics."{name}"', risk=False,
                                 context_window=tax.context_window))
    # "A/B" is a sub-topic of A when A is a topic; otherwise the slash is part of the name
    # (收费/手续费, ATM/网点 are single topics).
    names = {t.name for t in tax.topics}
    for topic in tax.topics:
        if topic.parent not in names:
            topic.parent = ""
        if topic.needs_parent and not topic.parent:
            raise r.fail(f'topics."{topic.name}".needs_parent', "set, but no topic is named like the part "
                         "before the last \"/\"")
    for name, body in r.table(data.get("risk", {}), "risk").items():
        tax.risks.append(r.rule(name, body, f"risk.{name}", risk=True))

    context = r.table(data.get("bank_context", {}), "bank_context")
    r.check_keys(context, {"words", "exclude"}, "bank_context")
    tax.bank_context = r.words(context.get("words"), "bank_context.words")
    tax.bank_exclude = r.words(context.get("exclude"), "bank_context.exclude")
    for canon, body in r.table(data.get("banks", {}), "banks").items():
        key = f'banks."{canon}"'
        body = r.table(body, key)
        r.check_keys(body, {"aliases", "ambiguous"}, key)
        tax.banks[canon] = (r.words(body.get("aliases"), f"{key}.aliases", required=True),
                            r.words(body.get("ambiguous"), f"{key}.ambiguous"))
    suffixes = r.table(data.get("bank_suffixes", {}), "bank_suffixes")
    tax.bank_suffixes = r.words(suffixes.get("words"), "bank_suffixes.words")
    for canon, aliases in r.table(data.get("products", {}), "products").items():
        tax.products[canon] = r.words(aliases, f'products."{canon}"', required=True)
    branches = r.table(data.get("branches", {}), "branches")
    r.check_keys(branches, {"suffixes", "stop"}, "branches")
    tax.branch_suffixes = r.words(branches.get("suffixes"), "branches.suffixes")
    stop = branches.get("stop", "")
    if not isinstance(stop, str):
        raise r.fail("branches.stop", f"expected a string of characters, got {stop!r}")
    tax.branch_stop = fold_for_matching(stop)
    cities = r.table(data.get("cities", {}), "cities")
    tax.cities = r.words(cities.get("names"), "cities.names")
    return tax
