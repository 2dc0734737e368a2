"""Encoding detection and the table reader: BOMs, BOM-less UTF-16, GBK/GB18030, delimiters."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from support.surveys import SALT, WJX_TEXT_HEADER, WJX_TEXT_ROWS, csv_bytes

from crawlers.errors import ImportFileError
from crawlers.importers import import_file
from crawlers.importers.encoding import decode, detect_encoding
from crawlers.importers.tables import read_table, sniff_delimiter

TEXT = "序号,提交答卷时间,意见\r\n1,2026/11/20 9:00:00,手机银行转账很方便\r\n"


@pytest.mark.parametrize(("data", "expected"), [
    (TEXT.encode("utf-8"), "utf-8"),
    (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
    (TEXT.encode("gbk"), "gb18030"),
    (TEXT.encode("utf-16"), "utf-16"),           # with BOM
    (TEXT.encode("utf-16-le"), "utf-16-le"),     # without BOM
    (TEXT.encode("utf-16-be"), "utf-16-be"),
])
def test_detect_encoding(data: bytes, expected: str) -> None:
    assert detect_encoding(data) == expected
    assert decode(data)[0].lstrip("\ufeff") == TEXT


def test_gb18030_only_characters_survive() -> None:
    text = "序号,意见\r\n1,𠮷野家旁边的网点服务好\r\n"  # 𠮷 is a 4-byte GB18030 sequence, not in GBK
    assert decode(text.encode("gb18030")) == (text, "gb18030")


def test_binary_is_refused() -> None:
    with pytest.raises(ImportFileError, match="binary"):
        detect_encoding(b"\x01\x02\x00\x00\x05\x00\x00\x00\xff" * 20, "blob.csv")


def test_sniff_delimiter() -> None:
    assert sniff_delimiter("序号\t提交答卷时间\t意见") == "\t"
    assert sniff_delimiter("序号;提交答卷时间;意见，逗号") == ";"
    assert sniff_delimiter("意见") == ","


def test_excel_unicode_text_export_imports(tmp_path: Path) -> None:
    """Excel's "Unicode text" save is UTF-16 with a BOM and tabs."""
    path = tmp_path / "331954276_按文本_unicode_6_6.txt"
    path.write_bytes(csv_bytes(WJX_TEXT_HEADER, WJX_TEXT_ROWS, encoding="utf-16", delimiter="\t"))
    result = import_file(path, salt=SALT)
    assert result.encoding == "utf-16" and result.errors == []
    assert len(result.records) == 5


def test_table_line_numbers_skip_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("\n\na,b\n1,2\n\n3,4\n", encoding="utf-8")
    table = read_table(path)
    assert (table.header, table.header_line) == (["a", "b"], 3)
    assert [(r.line, r.cells) for r in table.rows] == [(4, ["1", "2"]), (6, ["3", "4"])]
