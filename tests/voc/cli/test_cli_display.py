"""The `voc` command as a new user meets it (issue 16, item 6), in-process on a real SQLite file:
import summaries say new / updated / unchanged, search shows each hit's id and URL and matches
what a person sees (folded like the query), `stats --by day` reads as a calendar, tables line up
with Chinese text, and every time shown is in the display timezone."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.cli_env import cli_env
from wcwidth import wcswidth as display_width  # measured independently of voc.cli.common

from voc.cli import main
from voc.cli.common import clip, pad, table

IMG = '<img src="https://h5.sinaimg.cn/m/emoticon/icon/default/d_xixi-0a2ec7.png" alt="[嘻嘻]">'
LINES = [
    {"source": "weibo", "text": f"江南银行手机银行轉賬失敗{IMG}", "created_at": "2025-06-01T02:00:00Z",
     "url": "https://m.weibo.cn/detail/1"},
    {"source": "site:理财论坛", "text": "江南银行的理财收益率又降了", "created_at": "2025-06-02T02:00:00Z",
     "url": "https://bbs.example.com/t/2"},
    {"source": "site:理财论坛", "text": "江南银行ＡＴＭ吞卡了", "created_at": "2025-06-02T03:00:00Z",
     "url": "https://bbs.example.com/t/3"},
    {"source": "appstore", "kind": "review", "text": "江南银行APP转账失败，闪退", "rating": 1,
     "created_at": "2025-06-02T04:00:00Z", "url": "https://apps.apple.com/cn/app/id1?review=4"},
    {"source": "tousu", "kind": "complaint", "text": "江南银行信用卡年费乱收",
     "created_at": "2025-06-03T02:00:00Z"},
    {"source": "tousu", "kind": "complaint", "text": "江南银行客服电话打不通",
     "created_at": "2025-06-03T03:00:00Z", "url": "https://tousu.sina.com.cn/complaint/view/6/"},
]
ISO_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d|\+00:00|\d\d:\d\dZ\b| UTC\b")


@pytest.fixture(autouse=True)
def env(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_env(monkeypatch, tmp_path, tiny_model_dir)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), "utf-8")
    return path


@pytest.fixture
def imported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = write(tmp_path / "posts.jsonl", LINES)
    code, out, err = run(capsys, "import", str(path), "--platform", "records")
    assert code == 0, err
    assert "6 record(s): 6 new, 0 updated, 0 unchanged" in out
    return path


def hits(out: str) -> list[tuple[str, str]]:
    """(hit line, id-and-URL line) pairs of `voc search` output."""
    lines = out.splitlines()[1:]
    return list(zip(lines[0::2], lines[1::2], strict=True))


# -- import summaries ----------------------------------------------------------------------------

def test_a_reimport_says_nothing_changed(imported, tmp_path, capsys) -> None:
    code, out, _ = run(capsys, "import", str(imported), "--platform", "records")
    assert code == 0
    assert "6 record(s): 0 new, 0 updated, 6 unchanged" in out
    assert "stored 6 of 6" not in out and "stored" not in out
    changed = [*LINES[:5], {**LINES[5], "text": "江南银行客服电话终于打通了"},
               {"source": "weibo", "text": "江南银行网点排队两小时", "created_at": "2025-06-03T05:00:00Z"}]
    doc = json.loads(run(capsys, "import", str(write(tmp_path / "more.jsonl", changed)),
                         "--platform", "records", "--json")[1])
    assert (doc["new"], doc["updated"], doc["unchanged"]) == (1, 1, 5)
    assert doc["pipeline"]["stored"] == 7


def test_a_reimported_survey_export_is_unchanged(capsys) -> None:
    survey = Path(__file__).resolve().parents[3] / "demo" / "survey"
    export = next(survey.glob("*.csv"))
    first = json.loads(run(capsys, "import", str(export), "--json")[1])
    assert first["new"] == first["records"] > 0
    code, out, _ = run(capsys, "import", str(export))
    assert code == 0 and f"0 new, 0 updated, {first['records']} unchanged" in out


# -- search ----------------------------------------------------------------------------------------

def test_each_hit_shows_its_id_and_url(imported, capsys) -> None:
    code, out, _ = run(capsys, "search", "江南银行")
    assert code == 0 and out.startswith("6 match(es), newest first; times in 北京时间")
    pairs = hits(out)
    items = json.loads(run(capsys, "search", "江南银行", "--json")[1])["items"]
    assert [line for _, line in pairs] == [
        " " * 18 + f"id {item['id']}  {item['url'] or '(no URL)'}" for item in items]
    assert sum("(no URL)" in line for _, line in pairs) == 1  # the tousu complaint without one


def test_search_matches_what_a_person_sees_not_the_markup(imported, capsys) -> None:
    assert run(capsys, "search", "sinaimg")[1].startswith("0 match(es)")
    assert run(capsys, "search", "img")[1].startswith("0 match(es)")
    code, out, _ = run(capsys, "search", "嘻嘻", "--json")
    found = json.loads(out)
    assert found["total"] == 1 and IMG in found["items"][0]["text"]  # the record keeps its HTML
    line = hits(run(capsys, "search", "嘻嘻")[1])[0][0]
    assert "[嘻嘻]" in line and "sinaimg" not in line


@pytest.mark.parametrize(("query", "total"), [("转账失败", 2), ("轉賬失敗", 2), ("轉賬", 2),
                                              ("ATM", 1), ("ＡＴＭ", 1), ("atm吞卡", 1)])
def test_queries_are_folded_as_the_texts_are(imported, capsys, query, total) -> None:
    doc = json.loads(run(capsys, "search", query, "--json")[1])
    assert doc["total"] == total, query


# -- stats by day ------------------------------------------------------------------------------------

def test_stats_by_day_is_in_date_order(imported, capsys) -> None:
    # 2025-06-02 has 3 records, 06-03 2, 06-01 1: by count the calendar would read backwards
    code, out, _ = run(capsys, "stats", "--by", "day")
    assert code == 0 and out.splitlines()[0] == "6 record(s), by day (北京时间):"
    days = [line.split() for line in out.splitlines()[1:]]
    assert days == [["2025-06-01", "1"], ["2025-06-02", "3"], ["2025-06-03", "2"]]
    doc = json.loads(run(capsys, "stats", "--by", "day", "--json")[1])
    assert [g["key"] for g in doc["groups"]] == ["2025-06-01", "2025-06-02", "2025-06-03"]
    by_source = json.loads(run(capsys, "stats", "--json")[1])["groups"]
    assert [g["count"] for g in by_source] == sorted((g["count"] for g in by_source), reverse=True)


# -- tables --------------------------------------------------------------------------------------------

def test_table_pads_by_display_width() -> None:
    rows = [("site:理财论坛", 12, "文本"), ("weibo", 3, "text"), ("手机银行/转账", 100, "x")]
    lines = table(rows, align="<><")
    count_ends = {display_width(line[:line.index(str(row[1]), 5) + len(str(row[1]))])
                  for line, row in zip(lines, rows, strict=True)}
    text_starts = {display_width(line[:line.rindex(row[2])]) for line, row in zip(lines, rows, strict=True)}
    assert len(count_ends) == 1 and len(text_starts) == 1, lines
    assert lines[1] == "weibo            3  text"  # 理财论坛 and 手机银行 take two columns a character
    assert pad("信用卡", 8) == "信用卡  " and pad("12", 5, ">") == "   12"
    assert display_width(clip("手机银行转账失败", 9)) <= 9 and clip("abc", 9) == "abc"


def test_search_and_stats_columns_line_up_with_chinese_text(imported, capsys) -> None:
    out = run(capsys, "search", "江南银行", "--limit", "6")[1]
    lines = [hit for hit, _ in hits(out)]
    labels = [re.search(r"  (negative|neutral|positive)  ", line).group(1) for line in lines]
    label_at = {display_width(line[:line.index(f"  {label}  ") + 2])
                for line, label in zip(lines, labels, strict=True)}
    text_at = {display_width(line[:line.index("江南银行")]) for line in lines}
    assert len(label_at) == 1 and len(text_at) == 1, out  # site:理财论坛 is as wide as appstore
    stats = run(capsys, "stats", "--by", "source")[1].splitlines()[1:]
    assert {display_width(line) for line in stats} == {display_width(stats[0])}  # counts right-aligned
    assert any("理财论坛" in line for line in stats)


def test_classify_table_lines_up_with_chinese_topics(capsys) -> None:
    texts = ["江南银行信用卡年费乱收", "ATM吞卡了", "手机银行转账失败"]
    code, out, _ = run(capsys, "classify", *texts)
    assert code == 0
    lines = out.splitlines()
    assert {display_width(line[:line.index(text)]) for line, text in zip(lines[1:], texts, strict=True)} == {
        display_width(lines[0][:lines[0].index("text")])}


# -- times ----------------------------------------------------------------------------------------------

def test_times_are_shown_in_the_display_timezone(imported, tmp_path, capsys, monkeypatch) -> None:
    outputs = [run(capsys, "import", str(imported), "--platform", "records")[1],
               run(capsys, "search", "江南银行")[1], run(capsys, "stats", "--by", "day")[1],
               run(capsys, "index", "--retry-spool")[1]]
    assert "2025-06-01 10:00" in outputs[1]  # 02:00 UTC is 10:00 in Asia/Shanghai
    for out in outputs:
        assert not ISO_STAMP.search(out), out
    monkeypatch.setenv("VOC_APP__TIMEZONE", "America/New_York")
    out = run(capsys, "search", "轉賬")[1]
    assert "2025-05-31 22:00" in out and "times in America/New_York" in out
    days = [line.split()[0] for line in run(capsys, "stats", "--by", "day")[1].splitlines()[1:]]
    assert days == ["2025-05-31", "2025-06-01", "2025-06-02"]


def test_a_capped_total_says_so(imported, capsys, monkeypatch) -> None:
    """Past COUNT_CAP the store stops counting: `voc search` says N+ and --json has the flag."""
    import indexer._sqlite_search as plan

    monkeypatch.setattr(plan, "COUNT_CAP", 3)
    code, out, _ = run(capsys, "search", "江南银行")
    assert code == 0 and out.startswith("3+ match(es), newest first")
    data = json.loads(run(capsys, "search", "江南银行", "--json")[1])
    assert data["total_capped"] is True and data["total"] == 3
