"""Topics, risk flags and entities for a comment, in one Aho-Corasick pass over the text.

Usage::

    tagger = Tagger.from_file(bank_name="招商银行", bank_aliases=["招行", "CMB"])
    tags = tagger.tag("招行信用卡被催收，再不解决我就去银保监投诉")
    tags.topics   # ['信用卡', '信用卡/催收']
    tags.risk     # [{'flag': 'regulator_complaint', 'severity': 'warning'}, {'flag': 'complaint', ...}]
    tags.entities # [{'type': 'bank', 'text': '招行', 'canonical': '招商银行', 'ours': True,
                  #   'start': 0, 'end': 2}, ...]

Every word of `taxonomy.toml` (topic keywords, pattern parts, exclusions, risk words, bank aliases,
context words, products, cities, branch suffixes) goes into one automaton; `tag()` walks the text
once and then resolves the hits in plain Python.

Context keywords (a topic's `context_keywords`, e.g. a bare ``卡`` under 信用卡) count only when one
of that topic's `context_words` lies within its `context_window` characters (``卡刚批下来`` is a
credit card; ``卡顿``, ``储蓄卡`` are excluded, and ``这个卡`` alone says nothing).

Offsets: matching runs on `fold_for_matching(text)`, which has exactly the length of `text` (HTML tags
blanked, full-width folded, lower-cased, traditional → simplified), so `start`/`end` are code-point
offsets into the text given to `tag()` (the record's original text) and ``text[start:end]`` is the
entity's `text`. Pass the original text, not `normalize()`'s output, whose length differs.

Negation and quotation (risk flags only): a hit preceded by a negator, with at most four "light"
characters between (``不会去曝光``, ``没有报警``, ``别起诉``), or inside quotation marks
(“…”, 「…」, 『…』, "…"), counts one severity tier lower; a negated info hit is dropped. Known
limits: double negation (``不曝光不行``) and negation far from the word (``我从来没想过要曝光``) are
read literally; rhetorical questions (``会不会倒闭？``) count as negated (one tier lower).

Ambiguous bank short forms (平安, 交通, 建设, 工商, 招商, 民生, 光大, 华夏, 兴业, 邮政, 农业) are banks only
with a banking context word or another bank within `context_window` characters, and never inside an
excluded phrase (平安夜, 交通卡, 工商局, 招商证券 …). `ours` is true for the `[bank]` of settings and
for a branch written right after it (招行朝阳支行).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick

from nlp.normalize import fold_for_matching
from nlp.taxonomy import SEVERITIES, Taxonomy, load_taxonomy

(_T_KW, _T_EX, _T_PAT, _R_KW, _R_EX, _R_PAT, _BANK, _BANK_EX, _CTX, _BANK_SUF, _PRODUCT, _CITY,
 _BRANCH, _T_CKW, _T_CW) = range(15)
_QUOTES = (("“", "”"), ("「", "」"), ("『", "』"))
_AMOUNT = re.compile(r"\s*(?:\d+(?:\.\d+)?\s*[kw万千]|\d{4,})")  # "华夏1.5w", "交通19000": a credit line
_TYPE_RANK = {"bank": 0, "product": 1, "city": 2}


@dataclass
class Tags:
    """What the tagger found in one text (the shared conventions of README.md "Architecture")."""

    topics: list[str] = field(default_factory=list)
    risk: list[dict[str, str]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)


def _ascii_word(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _name_char(c: str) -> bool:
    return c.isalnum()  # CJK ideographs, letters and digits; not punctuation or spaces


class Tagger:
    """Tags texts against a `Taxonomy`; build it once, reuse it for every record."""

    def __init__(self, taxonomy: Taxonomy, bank_name: str = "", bank_aliases: Sequence[str] = ()) -> None:
        self.taxonomy = tax = taxonomy
        self.ours = self._merge_our_bank(bank_name, bank_aliases)
        self._topic_index = {t.name: i for i, t in enumerate(tax.topics)}
        entries: dict[str, list[tuple]] = {}

        def put(word: str, payload: tuple) -> None:
            entries.setdefault(word, []).append(payload)

        for kw_kind, ex_kind, pat_kind, rules in ((_T_KW, _T_EX, _T_PAT, tax.topics),
                                                  (_R_KW, _R_EX, _R_PAT, tax.risks)):
            for i, rule in enumerate(rules):
                for word in rule.keywords:
                    put(word, (kw_kind, i))
                for word in rule.exclude:
                    put(word, (ex_kind, i))
                for p, (first, second) in enumerate(rule.patterns):
                    put(first, (pat_kind, i, p, 0))
                    put(second, (pat_kind, i, p, 1))
                for word in rule.context_keywords:  # topics only (the loader allows them nowhere else)
                    put(word, (_T_CKW, i))
                for word in rule.context_words:
                    put(word, (_T_CW, i))
        for canon, (aliases, ambiguous) in tax.banks.items():
            for word in aliases:
                put(word, (_BANK, canon, False))
            for word in ambiguous:
                put(word, (_BANK, canon, True))
        for word in tax.bank_exclude:
            put(word, (_BANK_EX,))
        for word in tax.bank_context:
            put(word, (_CTX,))
        for word in tax.bank_suffixes:
            put(word, (_BANK_SUF,))
        for canon, aliases in tax.products.items():
            for word in aliases:
                put(word, (_PRODUCT, canon))
        for word in tax.cities:
            put(word, (_CITY, word.removesuffix("市")))
        for word in tax.branch_suffixes:
            put(word, (_BRANCH,))
        self._automaton = ahocorasick.Automaton()
        for word, payloads in entries.items():
            # Our bank's aliases win over a built-in bank sharing the same word.
            banks = [p for p in payloads if p[0] == _BANK]
            if len(banks) > 1:
                best = next((p for p in banks if p[1] == self.ours), banks[-1])
                payloads = [p for p in payloads if p[0] != _BANK] + [best]
            guard = _ascii_word(word[0]) or _ascii_word(word[-1])
            self._automaton.add_word(word, (len(word), tuple(payloads), guard))
        self._automaton.make_automaton()

    @classmethod
    def from_file(cls, path: str | Path | None = None, bank_name: str = "",
                  bank_aliases: Sequence[str] = ()) -> Tagger:
        """Load `path` (default: the taxonomy.toml shipped beside this module)."""
        return cls(load_taxonomy(path), bank_name, bank_aliases)

    def _merge_our_bank(self, name: str, aliases: Sequence[str]) -> str:
        """Find or add settings' `[bank]` in the bank table; returns its canonical name ("" if unset)."""
        if not name.strip():
            return ""
        banks, folded = self.taxonomy.banks, fold_for_matching(name.strip())
        words = [fold_for_matching(a.strip()) for a in aliases if a.strip()]
        canon = next((c for c, (al, _) in banks.items()
                      if folded == fold_for_matching(c) or folded in al), "")
        if not canon:
            canon = name.strip()
            banks[canon] = ([folded], [])
        known, ambiguous = banks[canon]
        for word in words:
            if word not in known and word not in ambiguous:
                known.append(word)
        return canon

    # -- tagging ------------------------------------------------------------------------------
    def tag_many(self, texts: Iterable[str], *, banking: bool = False) -> list[Tags]:
        return [self.tag(text, banking=banking) for text in texts]

    def tag(self, text: str, *, banking: bool = False) -> Tags:
        """Topics, risk flags and entities of `text` (offsets into `text` itself).

        `banking=True` says the source is about banks anyway (a bank forum, the bank's own app
        reviews, a complaint site's bank category): ambiguous short forms then need no context word
        nearby, only to stay clear of the excluded phrases."""
        if not text:
            return Tags()
        folded = fold_for_matching(text)
        hits: list[list] = [[] for _ in range(15)]
        for end, (length, payloads, guard) in self._automaton.iter(folded):
            start = end - length + 1
            if guard and (start > 0 and _ascii_word(folded[start - 1]) and _ascii_word(folded[start])
                          or end + 1 < len(folded) and _ascii_word(folded[end + 1])
                          and _ascii_word(folded[end])):
                continue  # "12345" inside "123456", "boc" inside "bocom": not a word of its own
            for payload in payloads:
                hits[payload[0]].append((start, end + 1, payload))
        topics = self._rules(self.taxonomy.topics, hits[_T_KW], hits[_T_EX], hits[_T_PAT],
                             hits[_T_CKW], hits[_T_CW])
        return Tags(self._topic_names(topics), self._risks(folded, hits),
                    self._entities(text, folded, hits, banking))

    def _rules(self, rules: list, kw: list, ex: list, pat: list, ckw: Sequence = (),
               cw: Sequence = ()) -> dict[int, list[tuple[int, int]]]:
        """rule index -> spans of its keyword/pattern hits that no exclusion of that rule covers
        (and of its context keywords that have one of its context words near)."""
        if not kw and not pat and not ckw:
            return {}
        excluded: dict[int, list[tuple[int, int]]] = {}
        for s, e, p in ex:
            excluded.setdefault(p[1], []).append((s, e))

        def free(i: int, s: int, e: int) -> bool:
            return not any(xs <= s and e <= xe for xs, xe in excluded.get(i, ()))

        found: dict[int, list[tuple[int, int]]] = {}
        for s, e, p in kw:
            if free(p[1], s, e):
                found.setdefault(p[1], []).append((s, e))
        parts: dict[tuple[int, int], tuple[list, list]] = {}
        for s, e, p in pat:
            if free(p[1], s, e):
                parts.setdefault((p[1], p[2]), ([], []))[p[3]].append((s, e))
        gap = self.taxonomy.pattern_gap
        for (i, _), (firsts, seconds) in parts.items():
            for fs, fe in firsts:
                match = next(((ss, se) for ss, se in seconds if 0 <= ss - fe <= gap), None)
                if match:
                    found.setdefault(i, []).append((fs, match[1]))
                    break
        if ckw and cw:
            near: dict[int, list[tuple[int, int]]] = {}
            for s, e, p in cw:
                near.setdefault(p[1], []).append((s, e))
            for s, e, p in ckw:
                i = p[1]
                if i in found or i not in near or not free(i, s, e):
                    continue
                w = rules[i].context_window
                if any(cs < e + w and ce > s - w for cs, ce in near[i]):
                    found[i] = [(s, e)]
        return found

    def _topic_names(self, found: dict[int, list]) -> list[str]:
        topics, index = self.taxonomy.topics, self._topic_index
        chosen = set()
        for i in found:
            topic = topics[i]
            if not topic.parent:
                chosen.add(i)
            elif not topic.needs_parent or index[topic.parent] in found:
                chosen.update((i, index[topic.parent]))
        return [topics[i].name for i in sorted(chosen)]

    def _risks(self, folded: str, hits: list[list]) -> list[dict[str, str]]:
        risks = self.taxonomy.risks
        found = self._rules(risks, hits[_R_KW], hits[_R_EX], hits[_R_PAT])
        out = []
        for i in sorted(found):
            best = -1
            for s, e in found[i]:
                tier = SEVERITIES.index(risks[i].severity)
                if self._negated(folded, s) or self._quoted(folded, s, e):
                    tier -= 1
                best = max(best, tier)
            if best >= 0:
                out.append({"flag": risks[i].name, "severity": SEVERITIES[best]})
        return out

    def _negated(self, folded: str, start: int) -> bool:
        light, j = self.taxonomy.light_words, start
        while j > 0 and start - j < 4 and folded[j - 1] in light:
            j -= 1
        before = folded[max(0, j - 3):j]
        return any(before.endswith(n) for n in self.taxonomy.negators)

    @staticmethod
    def _quoted(folded: str, start: int, end: int) -> bool:
        for opener, closer in _QUOTES:
            o = folded.rfind(opener, 0, start)
            if o >= 0 and folded.find(closer, o + 1, start) < 0 and folded.find(closer, end) >= 0:
                return True
        return folded.count('"', 0, start) % 2 == 1 and folded.find('"', end) >= 0

    def _entities(self, text: str, folded: str, hits: list[list], banking: bool) -> list[dict[str, Any]]:
        if not (hits[_BANK] or hits[_PRODUCT] or hits[_CITY] or hits[_BRANCH]):
            return []
        window = self.taxonomy.context_window
        blocked = [(s, e) for s, e, _ in hits[_BANK_EX]]
        context = [(s, e) for s, e, _ in hits[_CTX]]
        banks = [(s, e, p[1]) for s, e, p in hits[_BANK]
                 if not any(bs <= s and e <= be for bs, be in blocked)]
        for cs, ce, _ in hits[_CITY]:  # 台州 + 银行 -> 台州银行
            for ss, se, _ in hits[_BANK_SUF]:
                if ss == ce:
                    banks.append((cs, se, folded[cs:se]))
        ambiguous = {(s, e) for s, e, p in hits[_BANK] if p[2]}
        candidates = []
        for s, e, canon in banks:
            if (s, e) in ambiguous and not banking and not _AMOUNT.match(folded, e) and not any(
                    (ce <= s or cs >= e) and cs < e + window and ce > s - window
                    for cs, ce in context + [(bs, be) for bs, be, other in banks if other != canon]):
                continue
            candidates.append((s, e, "bank", canon))
        candidates += [(s, e, "product", p[1]) for s, e, p in hits[_PRODUCT]]
        candidates += [(s, e, "city", p[1]) for s, e, p in hits[_CITY]]
        candidates.sort(key=lambda c: (c[0], c[0] - c[1], _TYPE_RANK[c[2]]))
        chosen, taken_until = [], -1
        for s, e, kind, canon in candidates:
            if s >= taken_until:
                chosen.append(self._entity(text, s, e, kind, canon, canon == self.ours and kind == "bank"))
                taken_until = e
        chosen += self._branches(text, folded, hits[_BRANCH], chosen)
        chosen.sort(key=lambda ent: (ent["start"], ent["end"]))
        return chosen

    def _branches(self, text: str, folded: str, suffixes: list, chosen: list[dict]) -> list[dict]:
        out: list[dict[str, Any]] = []
        stop = self.taxonomy.branch_stop
        for s, e, _ in suffixes:
            ends = [c["end"] for c in chosen + out if c["type"] != "city" and c["end"] <= s]
            floor = max([*ends, 0, s - 10])
            j = s
            while j > floor and _name_char(folded[j - 1]) and folded[j - 1] not in stop:
                j -= 1
            if j == s:
                continue  # "去支行" names no branch
            bank = next((c for c in chosen if c["type"] == "bank" and c["end"] == j), None)
            canon = (bank["canonical"] if bank else "") + folded[j:e]
            out.append(self._entity(text, j, e, "branch", canon, bool(bank and bank["ours"])))
        return out

    @staticmethod
    def _entity(text: str, s: int, e: int, kind: str, canon: str, ours: bool) -> dict[str, Any]:
        return {"type": kind, "text": text[s:e], "canonical": canon, "ours": ours, "start": s, "end": e}
