"""Text normalization: what the models and the de-duplicator read instead of the raw text.

The record keeps its original `text`; `normalize()` produces the text that feeds the sentiment
model and the near-duplicate fingerprint. It runs on every record, so it only does cheap regex and
`str.translate` work plus one OpenCC call.

What `normalize(text)` does, in order:

1. **HTML** (only when the text contains ``<``): Weibo-style markup becomes text. ``<img alt="[偷笑]">``
   becomes its alt text ``[偷笑]``; ``<a>`` links keep their text, so topic links keep ``#话题#``;
   ``<a>@name</a>`` mention links and Weibo's link placeholders (``网页链接``, ``展开全文``, …) are
   dropped; ``<br>``/``</p>``/``</div>`` become spaces; every other tag is removed. Entities
   (``&amp;``, ``&#x4e2d;``) are unescaped after the tags are gone.
2. **URLs** (``http(s)://…``, ``www.…``) are removed: they carry no sentiment, and spam copies differ
   only in their short links.
3. **@mentions** are removed when they are clearly delimited: ``@name`` followed by a space,
   ``:``/``：`` or a comma, including Weibo's repost chain ``//@name:``. A mention run into
   following text or ending the text (``@招商银行你们太过分``) is kept whole: its end cannot be known,
   and dropping real words is worse than keeping a handle.
4. **Width and whitespace**: full-width ASCII (``ＡＢＣ１２３％``) becomes half-width, but the Chinese
   punctuation ``，。！？、；：“”（）`` stays as written (models were trained on it); U+3000 and
   other spaces fold to one space; zero-width characters go.
5. **Traditional → simplified** with OpenCC's ``t2s`` configuration (the converter is built once).

`fold_for_matching(text)` is the length-preserving cousin used by the tagger: it returns a string of
exactly ``len(text)`` code points (HTML tags blanked, full-width folded, lower-cased, traditional →
simplified when OpenCC keeps the length) so offsets found in it are offsets into the original text.
"""

from __future__ import annotations

import html
import re
from functools import cache

from nlp.errors import NlpError

_IMG_ALT = re.compile(
    r"""<img\b[^>]*?\balt\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))[^>]*>""", re.IGNORECASE)
_MENTION_LINK = re.compile(r"<a\b[^>]*>\s*@[^<]*</a>", re.IGNORECASE)
# Weibo renders links and truncation as anchors with fixed captions; the caption is noise.
_PLACEHOLDER_LINK = re.compile(
    r"<a\b[^>]*>(?:\s*<[^>]*>)*\s*(?:网页链接|查看图片|展开全文|收起全文|全文|原图|评论配图)\s*(?:<[^>]*>\s*)*</a>",
    re.IGNORECASE)
_BREAK = re.compile(r"<br\s*/?>|</p\s*>|</div\s*>|</li\s*>", re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")  # a tag starts with a letter: "利率<3%，收益>2%" is text
_URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
_MENTION = re.compile(r"(?://)?@[\w\-·]{1,30}(?=[\s:：,，)）])[:：]?")
_SPACE = re.compile(r"\s+")
# Terminal escape sequences (CSI "ESC [ ... final", OSC "ESC ] ... BEL | ESC \\") go whole; then every
# other C0/C1 control but newline and tab, and the bidirectional overrides/isolates (U+202A–202E,
# U+2066–2069) that make a comment display differently from what it says.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))

# Full-width ASCII (U+FF01..U+FF5E) to half-width, except the Chinese punctuation we keep.
_KEEP_FULL_WIDTH = set("！（），：；？")
_WIDTH: dict[int, int | None] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)
                                 if chr(cp) not in _KEEP_FULL_WIDTH}
_WIDTH.update({0x3000: 0x20})
_WIDTH.update(_ZERO_WIDTH)

# The matching fold folds every full-width form and lower-cases ASCII; it must keep lengths.
_MATCH_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_MATCH_FOLD.update({cp: cp + 32 for cp in range(ord("A"), ord("Z") + 1)})
_MATCH_FOLD.update({cp + 0xFEE0: cp + 32 for cp in range(ord("A"), ord("Z") + 1)})
_MATCH_FOLD.update({0x3000: 0x20, 0x00A0: 0x20})


@cache
def _converter():  # -> opencc.OpenCC; built once per process
    try:
        import opencc

        return opencc.OpenCC("t2s")
    except Exception as exc:  # the wheel's data files or the module itself are missing
        raise NlpError(f"OpenCC t2s converter unavailable: {exc}") from exc


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (OpenCC ``t2s``); other text passes through."""
    return _converter().convert(text) if text else text


def strip_html(text: str) -> str:
    """Weibo/forum HTML → plain text (see the module docstring, step 1)."""
    if "<" in text:
        text = _IMG_ALT.sub(lambda m: m.group(1) or m.group(2) or m.group(3) or "", text)
        text = _MENTION_LINK.sub(" ", text)
        text = _PLACEHOLDER_LINK.sub(" ", text)
        text = _BREAK.sub(" ", text)
        text = _TAG.sub("", text)
    if "&" in text:
        text = html.unescape(text)
    return text


def strip_controls(text: str) -> str:
    """`text` without terminal escape sequences, control characters (newline and tab kept) and
    bidirectional overrides: what reaches a terminal, an email or a chat message, or the models."""
    if not text:
        return ""
    if "\x1b" in text or "\x9b" in text:
        text = _ESCAPES.sub("", text)
    return _CONTROLS.sub("", text)


def normalize(text: str) -> str:
    """The text the models read: control characters and terminal escapes removed, HTML → text,
    URLs and delimited @mentions removed, full-width ASCII and whitespace folded (Chinese
    punctuation kept), traditional → simplified."""
    if not text:
        return ""
    text = strip_html(strip_controls(text))
    if "http" in text or "www." in text or "HTTP" in text:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    text = _SPACE.sub(" ", text.translate(_WIDTH)).strip()
    return to_simplified(text)


def _blank_tags(text: str) -> str:
    return _TAG.sub(lambda m: " " * (m.end() - m.start()), text)


def fold_for_matching(text: str) -> str:
    """A copy of `text` with the same length in code points, for keyword matching: HTML tags
    blanked to spaces, full-width folded, ASCII lower-cased, traditional → simplified.

    OpenCC may map a phrase to one of a different length (rare for t2s); the converted text is then
    used only where it keeps the length, character by character, so offsets always stay valid."""
    if "<" in text:
        text = _blank_tags(text)
    text = text.translate(_MATCH_FOLD)
    simplified = to_simplified(text)
    if len(simplified) == len(text):
        return simplified
    return "".join(c if len(s := to_simplified(c)) != 1 else s for c in text)


def fold_for_search(text: str) -> str:
    """The form search compares, for texts and queries alike: full-width ASCII → half-width (the
    Chinese punctuation ``，。！？、；：“”（）`` kept, as `normalize` does), U+3000 → space,
    zero-width characters removed, traditional → simplified. `轉賬失敗` and `转账失败` fold alike,
    and so do `ＡＴＭ` and `ATM`."""
    if not text:
        return ""
    return to_simplified(text.translate(_WIDTH))


def search_text(text: str) -> str:
    """What a person sees of a stored text, in the form search compares: terminal escapes and
    control characters removed (`strip_controls`), HTML read as text (`strip_html`: an
    ``<img src="…sinaimg…">`` leaves only its alt text), then `fold_for_search`. URLs and
    @mentions stay: a person sees them and may search for them."""
    if not text:
        return ""
    return fold_for_search(strip_html(strip_controls(text)))
