"""Candidate terms of a comment for `emerging_term`: character bigrams and trigrams, no word segmenter.

Chinese has no spaces, and a segmenter (jieba) is a heavy dependency that still splits new slang
("暴雷") unpredictably; character n-grams need no dictionary and catch any new term, long terms being
named afterwards by `extend`. `terms(text)` normalises the text (nlp.normalize: HTML, width,
traditional -> simplified), lower-cases it, and returns the set of
- bigrams and trigrams inside runs of CJK characters (punctuation and spaces break runs), and
- Latin/digit words of two or more characters with a letter (app, ios, 5g),
minus function-word bigrams (`STOP_BIGRAMS`) and n-grams that begin or end with a particle or a
pronoun (`STOP_EDGES`: "失败了" is "失败"'s business).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from nlp.normalize import normalize

_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|[a-z0-9]*[a-z][a-z0-9]*")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
STOP_EDGES = frozenset("的了吗呢吧啊呀么嘛哦哈我你他她它们这那是也都就和与及")
STOP_BIGRAMS = frozenset(
    "什么 怎么 为何 没有 可以 一个 还是 已经 因为 所以 但是 如果 自己 现在 真的 一直 一下 不能 不是 "
    "不要 时候 知道 觉得 感觉 这样 那样 还有 然后 而且 或者 以后 之前 之后 今天 昨天 一样 有点 非常 "
    "根本 到底 只能 还要 不会 不了 不到 不到 怎样 多少 几个 一次 每次 大家 请问 谢谢 希望".split())
MAX_EXTENDED = 10  # longest name `extend` builds


def normalized(title: str | None, text: str) -> str:
    """The text terms are taken from: title and text, normalised and lower-cased."""
    return normalize(f"{title or ''} {text}").lower()


def terms(text: str) -> set[str]:
    """The candidate terms of already `normalized` text."""
    found: set[str] = set()
    for run in _RUN.findall(text):
        if not _CJK.match(run):
            if len(run) >= 2:
                found.add(run)
            continue
        for size in (2, 3):
            for i in range(len(run) - size + 1):
                gram = run[i:i + size]
                if gram[0] in STOP_EDGES or gram[-1] in STOP_EDGES or gram in STOP_BIGRAMS:
                    continue
                found.add(gram)
    return found


def extend(term: str, texts: Sequence[str], keep: float = 0.8) -> str:
    """The longest string around `term` that still occurs in at least `keep` of the texts holding
    the term ("账失" in 转账失败 comments becomes "转账失败"); grows one CJK character at a time."""
    holding = [t for t in texts if term in t]
    need = keep * len(holding)
    while len(term) < MAX_EXTENDED and holding:
        options: dict[str, int] = {}
        for text in holding:
            seen = set()
            for match in re.finditer(re.escape(term), text):
                i, j = match.start(), match.end()
                if i > 0 and _CJK.match(text[i - 1]) and text[i - 1] not in STOP_EDGES:
                    seen.add(text[i - 1] + term)
                if j < len(text) and _CJK.match(text[j]) and text[j] not in STOP_EDGES:
                    seen.add(term + text[j])
            for longer in seen:
                options[longer] = options.get(longer, 0) + 1
        best = max(options.items(), key=lambda item: (item[1], item[0]), default=None)
        if best is None or best[1] < need:
            break
        term = best[0]
        holding = [t for t in holding if term in t]
    return term


def strongest(counts: Iterable[tuple[str, int]]) -> list[str]:
    """Terms by support, dropping any that is a substring or a superstring of a stronger one
    (with ties, the longer name wins: "转账失败" over "转账失")."""
    kept: list[str] = []
    for term, _ in sorted(counts, key=lambda item: (-item[1], -len(item[0]), item[0])):
        if not any(term in other or other in term for other in kept):
            kept.append(term)
    return kept
