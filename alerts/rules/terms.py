"""Candidate terms of a comment for `emerging_term`: character bigrams and trigrams, no word segmenter.

Chinese has no spaces, and a segmenter (jieba) is a heavy dependency that still splits new slang
("暴雷") unpredictably; character n-grams need no dictionary and catch any new term, long terms being
named afterwards by `extend`. `terms(text)` normalises the text (nlp.normalize: HTML, width,
traditional -> simplified), lower-cases it, and returns the set of
- bigrams and trigrams inside runs of CJK characters (punctuation and spaces break runs), and
- Latin/digit words of two or more characters with a letter (app, ios, 5g),
minus function-word bigrams (`STOP_BIGRAMS`) and n-grams that begin or end with a particle or a
pronoun (`STOP_EDGES`: "失败了" is "失败"'s business).

Naming a term (`extend`, `strongest`) follows one idea: a term held by at least `KEEP` (80 %) of the
comments of a shorter one names them better, so 余额少 becomes 余额少了 when nearly every comment
says 余额少了 (a final 了 may close a name: `TAIL`), while 失败, which comes as 转账失败, 登录失败
and 加载失败 in turn, stays 失败 — and is then dropped as a word of any complaint (`GENERIC`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from nlp.normalize import normalize

_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|[a-z0-9]*[a-z][a-z0-9]*")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
STOP_EDGES = frozenset("的了吗呢吧啊呀么嘛哦哈我你他她它们这那是也都就和与及但")
STOP_BIGRAMS = frozenset(
    "什么 怎么 为何 没有 可以 一个 还是 已经 因为 所以 但是 如果 自己 现在 真的 一直 一下 不能 不是 "
    "不要 时候 知道 觉得 感觉 这样 那样 还有 然后 而且 或者 以后 之前 之后 今天 昨天 一样 有点 非常 "
    "根本 到底 只能 还要 不会 不了 不到 不到 怎样 多少 几个 一次 每次 大家 请问 谢谢 希望".split())
# Words that say something is wrong but not what (a term made of one of them is no news): the
# baseline's document frequency finds the common ones where there is history; these are the ones
# a quiet source may not have seen yet.
GENERIC = frozenset(
    "失败 问题 异常 错误 故障 投诉 垃圾 差评 无语 无法 不行 麻烦 失望 不满 生气 恶心 坑人 太坑 心累 "
    "骗人 离谱 过分 银行 客户 用户 业务 服务 情况 为什么 怎么办 有没有 怎么回事".split())
TAIL = "了"  # may end a name (余额少了), once; nothing grows after it
KEEP = 0.8  # share of a term's comments a longer term must hold to name them
MAX_EXTENDED = 16  # longest name `extend` builds (a hashtag such as 恳请安徽政府宣传疫情防范 is 12)


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


def core(term: str) -> str:
    """The term without its closing `TAIL` (余额少了 -> 余额少): what it is compared with."""
    return term[:-1] if len(term) > 2 and term[-1] in TAIL else term


def is_generic(term: str) -> bool:
    """Whether the term is one of the `GENERIC` words (with or without a closing 了)."""
    return core(term) in GENERIC


def extend(term: str, texts: Sequence[str], keep: float = KEEP, tail: str = TAIL) -> str:
    """The longest string around `term` that still occurs in at least `keep` of the texts holding
    the term ("账失" in 转账失败 comments becomes "转账失败"); grows one CJK character at a time, never
    into a particle or pronoun (`STOP_EDGES`) except a last character from `tail` ("" for none)."""
    holding = [t for t in texts if term in t]
    need = keep * len(holding)
    while len(term) < MAX_EXTENDED and holding:
        options: dict[str, int] = {}
        closed = term[-1] in tail  # a name that ends in 了 grows on the left only
        for text in holding:
            seen = set()
            for match in re.finditer(re.escape(term), text):
                i, j = match.start(), match.end()
                if i > 0 and _CJK.match(text[i - 1]) and text[i - 1] not in STOP_EDGES:
                    seen.add(text[i - 1] + term)
                if (j < len(text) and not closed and _CJK.match(text[j])
                        and (text[j] not in STOP_EDGES or text[j] in tail)):
                    seen.add(term + text[j])
            for longer in seen:
                options[longer] = options.get(longer, 0) + 1
        best = max(options.items(), key=lambda item: (item[1], item[0]), default=None)
        if best is None or best[1] < need:
            break
        term = best[0]
        holding = [t for t in holding if term in t]
    return term


def strongest(counts: Iterable[tuple[str, int]], keep: float | None = None) -> list[str]:
    """Terms by support, dropping any that is a substring or a superstring of a stronger one
    (with ties, the longer name wins: "转账失败" over "转账失").

    With `keep`, a term inside a longer one held by at least `keep` of its comments is that term's
    fragment and gives way to it first (余额少 x13 beside 余额少了 x12); a longer one held by fewer is
    the shorter one plus noise and gives way to it (暴雷 x20 beside 理财暴雷 x11)."""
    support = dict(counts)
    if keep is not None:
        support = {term: n for term, n in support.items()
                   if not any(len(other) > len(term) and term in other and m >= keep * n
                              for other, m in support.items())}
    kept: list[str] = []
    for term, _ in sorted(support.items(), key=lambda item: (-item[1], -len(item[0]), item[0])):
        if not any(term in other or other in term for other in kept):
            kept.append(term)
    return kept
