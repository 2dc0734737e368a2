"""The JSONL records importer (`--platform records`): required fields, line-numbered errors, ids, meta."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.record import make_id
from crawlers.errors import ImportFileError
from crawlers.importers import import_file


def write_jsonl(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
                    + "\n", encoding="utf-8")
    return path


def test_records_fields_ids_and_meta(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "backfill.jsonl", [
        {"id": "given-1", "text": "转账失败", "created_at": "2026-11-20T10:00:00+08:00", "source": "weibo",
         "kind": "post", "author": "某用户", "rating": 2, "sentiment": {"label": "positive", "scores": {}},
         "topics": ["理财"], "likes": 12, "meta": {"lang": "zh"}},
        {"text": "网点排队太久", "created_at": "2026-11-21T02:00:00Z", "url": "https://example.invalid/p/1#c"},
        {"text": "APP闪退", "created_at": "2026-11-22T03:04:05Z"},
    ])
    result = import_file(path, source="appstore")
    assert result.platform == "records" and result.errors == [] and result.rows_read == 3
    first, second, third = result.records
    assert first.id == "given-1" and first.source == "weibo" and first.kind == "post"
    assert first.created_at == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert first.rating == 2.0 and first.author == "某用户"
    assert first.sentiment is None and first.topics == []  # computed by the pipeline, never taken
    assert first.meta == {"lang": "zh", "likes": 12}
    assert second.source == "appstore" and second.kind == "post"
    assert second.id == make_id("appstore", url="https://example.invalid/p/1")
    assert third.id == make_id("appstore", created_at=third.created_at, text="APP闪退")
    assert [r.id for r in import_file(path, source="appstore").records] == [r.id for r in result.records]


def test_records_bad_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [
        {"text": "好", "created_at": "2026-11-20T10:00:00+08:00", "source": "weibo"},        # 1 ok
        {"text": "naive", "created_at": "2026-11-20T10:00:00", "source": "weibo"},           # 2
        "{not json",                                                                          # 3
        "",                                                                                    # 4 blank
        {"created_at": "2026-11-20T10:00:00Z", "source": "weibo"},                            # 5
        {"text": "no source", "created_at": "2026-11-20T10:00:00Z"},                          # 6
        {"text": "bad kind", "created_at": "2026-11-20T10:00:00Z", "source": "x", "kind": "tweet"},  # 7
        {"text": "bad rating", "created_at": "2026-11-20T10:00:00Z", "source": "x", "rating": "五"},  # 8
        [1, 2],                                                                               # 9
        {"id": "dup", "text": "a", "created_at": "2026-11-20T10:00:00Z", "source": "x"},      # 10 ok
        {"id": "dup", "text": "b", "created_at": "2026-11-20T10:00:00Z", "source": "x"},      # 11
    ])
    result = import_file(path)
    assert result.rows_read == 10
    assert [r.text for r in result.records] == ["好", "a"]
    reasons = {e.line: e.reason for e in result.errors}
    assert sorted(reasons) == [2, 3, 5, 6, 7, 8, 9, 11]
    assert "no UTC offset" in reasons[2] and "created_at" in reasons[2]
    assert reasons[3].startswith("not JSON")
    assert reasons[5] == "text is missing or empty"
    assert "--source" in reasons[6]
    assert "kind 'tweet'" in reasons[7]
    assert "rating" in reasons[8]
    assert "repeats line 10" in reasons[11]


def test_records_empty_and_unreadable(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="is empty"):
        import_file(empty)
    gbk = tmp_path / "gbk.jsonl"
    gbk.write_bytes('{"text": "中文"}'.encode("gbk"))
    with pytest.raises(ImportFileError, match="UTF-8"):
        import_file(gbk)


def test_records_hostile_lines_are_row_errors_and_the_rest_imports(tmp_path: Path) -> None:
    """Issue 14, item 5: a line of broken UTF-8, a 100k-deep array and meta nested 300 deep are each
    reported with their line number; the good lines import (no RecursionError, nothing refused)."""
    good = {"text": "信用卡额度被降", "created_at": "2026-11-20T10:00:00+08:00", "source": "weibo"}
    deep_meta: dict = {}
    node = deep_meta
    for _ in range(300):
        node["x"] = {}
        node = node["x"]
    lines = [json.dumps(good, ensure_ascii=False).encode(),                                   # 1 ok
             b'{"text": "\xe4\xbf\xa1\xff\xfe", "created_at": "2026-11-20T10:00:00Z", "source": "x"}',  # 2
             b"[" * 100_000 + b"]" * 100_000,                                                    # 3
             json.dumps({**good, "text": "深", "meta": deep_meta}).encode(),                     # 4
             json.dumps({**good, "text": "第二条好的"}, ensure_ascii=False).encode()]             # 5 ok
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = import_file(path)
    assert [r.text for r in result.records] == ["信用卡额度被降", "第二条好的"]
    reasons = {e.line: e.reason for e in result.errors}
    assert sorted(reasons) == [2, 3, 4]
    assert reasons[2].startswith("not UTF-8")
    assert "nested deeper" in reasons[3] and "nested deeper" in reasons[4]
