"""Detect the text encoding of an exported file (never assume UTF-8).

Survey platforms and Excel re-saves produce UTF-8, UTF-8 with BOM, GBK/GB18030 and UTF-16.
Order of evidence: a BOM; the NUL pattern of BOM-less UTF-16; a strict UTF-8 decode; a strict
GB18030 decode (GBK's superset; its byte rules reject most Latin-1 text); charset-normalizer last.
"""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

from crawlers.errors import ImportFileError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# charset-normalizer names that mean "a GBK-family encoding": decode all of them as GB18030,
# the superset, so rare characters written by newer Excel versions survive.
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "hz", "cp936"}


def detect_encoding(data: bytes, name: str = "file") -> str:
    """Return a Python codec name that decodes `data` strictly; `name` is for error messages."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec
    utf16 = _utf16_without_bom(data)
    if utf16:
        return utf16
    if b"\x00" in data[:4096]:
        raise ImportFileError(f"{name}: binary content (NUL bytes), not a text export")
    for codec in ("utf-8", "gb18030"):
        try:
            data.decode(codec)
        except UnicodeDecodeError:
            continue
        return codec
    best = from_bytes(data).best()
    if best is None:
        raise ImportFileError(f"{name}: cannot detect the text encoding (not UTF-8/16, not GBK)")
    codec = best.encoding.lower().replace("_", "")
    return "gb18030" if codec in _GB_FAMILY else best.encoding


def decode(data: bytes, name: str = "file") -> tuple[str, str]:
    """Decode `data` with the detected encoding; returns (text, encoding)."""
    codec = detect_encoding(data, name)
    try:
        return data.decode(codec), codec
    except UnicodeDecodeError as exc:  # charset-normalizer guesses can still be wrong
        raise ImportFileError(f"{name}: cannot decode as {codec}: {exc}") from exc


BAD_LINE_SHARE = 0.05  # at most this share of lines may fail to decode before the file is refused


def decode_lines(data: bytes, name: str = "file") -> tuple[str, str, list[int]]:
    """Like `decode`, but a file that decodes strictly except for a few lines (two bad bytes in
    one row of a 问卷星 export) is decoded anyway: returns (text, encoding, the 1-based numbers of
    the lines that did not decode; their bad bytes became U+FFFD). The caller reports and drops
    the rows on those lines. A file with more bad lines than BAD_LINE_SHARE is refused."""
    try:
        text, codec = decode(data, name)
        return text, codec, []
    except ImportFileError as refused:
        lines = data.split(b"\n")
        best: tuple[int, str, list[int]] | None = None
        for codec in ("utf-8", "gb18030"):
            bad = [i + 1 for i, line in enumerate(lines) if not _decodes(line, codec)]
            if best is None or len(bad) < best[0]:
                best = (len(bad), codec, bad)
        assert best is not None
        count, codec, bad = best
        if not count or count > max(1, BAD_LINE_SHARE * len(lines)):
            raise refused
        text = "\n".join(line.decode(codec, errors="replace") for line in lines)
        return text, codec, bad


def _decodes(line: bytes, codec: str) -> bool:
    try:
        line.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text without a BOM has NULs in every other byte for ASCII (CSV punctuation,
    digits); CJK text alone does not, but every export has commas and digits."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nuls > half * 0.3 and even_nuls < half * 0.05:
        codec = "utf-16-le"
    elif even_nuls > half * 0.3 and odd_nuls < half * 0.05:
        codec = "utf-16-be"
    else:
        return None
    try:
        data[: len(data) - len(data) % 2].decode(codec)
    except UnicodeDecodeError:
        return None
    return codec
