"""The `voc` command in-process (`main(argv)`), with the store, model and var dir pointed into
tmp_path through the same VOC_* variables an operator would use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.cli_env import cli_env

from voc.cli import main

ROOT = Path(__file__).resolve().parents[3]
SURVEY = ROOT / "demo" / "survey" / "331954276_按文本_江南银行手机银行满意度调查_60_60.csv"

LINES = [
    {"source": "weibo", "text": "江南银行手机银行转账失败，钱扣了没到账",
     "created_at": "2025-06-01T15:30:00Z", "url": "https://m.weibo.cn/detail/1"},
    # 16:30Z is already 2025-06-02 in Asia/Shanghai
    {"source": "weibo", "text": "江南银行信用卡年费怎么收", "created_at": "2025-06-01T16:30:00Z",
     "url": "https://m.weibo.cn/detail/2"},
    {"source": "appstore", "kind": "review", "text": "今天天气不错",
     "created_at": "2025-06-02T02:00:00+08:00", "rating": 5, "url": "https://apps.apple.com/cn/app/id1?review=3"},
    {"source": "weibo", "text": "时间没有时区", "created_at": "2025-06-02T10:00:00"},
]


@pytest.fixture(autouse=True)
def env(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_env(monkeypatch, tmp_path, tiny_model_dir)
    monkeypatch.setenv("VOC_PSEUDONYM_SALT", "test-salt")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def imported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in LINES), "utf-8")
    code, out, err = run(capsys, "import", str(path), "--platform", "records", "--json")
    assert code == 1, "the naive time on line 4 is a row error"
    return json.loads(out)


def test_import_reports_row_errors_with_line_numbers(imported, tmp_path, capsys) -> None:
    assert imported["records"] == 3 and imported["pipeline"]["stored"] == 3
    assert (imported["new"], imported["updated"], imported["unchanged"]) == (3, 0, 0)
    assert [e["line"] for e in imported["row_errors"]] == [4]
    code, out, err = run(capsys, "import", str(tmp_path / "records.jsonl"), "--platform", "records")
    assert code == 1 and "line 4" in err
    # re-import upserts the same ids, and says nothing changed (issue 16, item 6)
    assert "3 record(s): 0 new, 0 updated, 3 unchanged" in out and "stored" not in out
    assert run_json(capsys, "stats")["total"] == 3


def test_import_survey_export(capsys) -> None:
    doc = run_json(capsys, "import", str(SURVEY))
    assert doc["platform"] == "wjx" and doc["survey_id"] == "331954276"
    assert doc["records"] > 0 and doc["pipeline"]["stored"] == doc["records"]
    stats = run_json(capsys, "stats")
    assert stats["groups"] == [{"key": "survey:wjx", "count": doc["records"]}]


def test_unreadable_file_exits_2_with_a_message(tmp_path, capsys) -> None:
    code, out, err = run(capsys, "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "missing.csv" in err and out == ""
    (tmp_path / "empty.csv").write_bytes(b"")
    code, _, err = run(capsys, "import", str(tmp_path / "empty.csv"))
    assert code == 2 and "empty" in err


def test_stats_json_shape_and_grouping(imported, capsys) -> None:
    by_source = run_json(capsys, "stats")
    assert set(by_source) == {"total", "groups"}
    assert by_source == {"total": 3,
                         "groups": [{"key": "weibo", "count": 2}, {"key": "appstore", "count": 1}]}

    by_day = run_json(capsys, "stats", "--by", "day")  # in date order, not by count
    assert by_day["groups"] == [{"key": "2025-06-01", "count": 1}, {"key": "2025-06-02", "count": 2}]

    by_topic = run_json(capsys, "stats", "--by", "topic")
    assert by_topic["total"] == 3
    counts = [g["count"] for g in by_topic["groups"]]
    assert counts == sorted(counts, reverse=True)
    assert sum(counts) >= 3  # a record counts once per topic, "(none)" when it has none
    assert "(none)" in {g["key"] for g in by_topic["groups"]}  # 今天天气不错 has no topic

    by_sentiment = run_json(capsys, "stats", "--by", "sentiment")
    assert sum(g["count"] for g in by_sentiment["groups"]) == 3


def test_naive_times_on_the_command_line_mean_shanghai(imported, capsys) -> None:
    # 2025-06-02 00:00 in Shanghai is 2025-06-01T16:00Z: the 15:30Z record is before it.
    assert run_json(capsys, "stats", "--since", "2025-06-02")["total"] == 2
    assert run_json(capsys, "stats", "--until", "2025-06-02 00:00")["total"] == 1
    assert run_json(capsys, "stats", "--since", "2025-06-01T16:00:00Z")["total"] == 2
    code, _, err = run(capsys, "stats", "--since", "yesterday")
    assert code == 2 and "yesterday" in err


def test_search_finds_and_filters(imported, capsys) -> None:
    found = run_json(capsys, "search", "转账")
    assert found["total"] == 1 and "转账失败" in found["items"][0]["text"]
    assert found["items"][0]["sentiment"]["label"] in {"negative", "neutral", "positive"}
    assert run_json(capsys, "search", "江南银行", "--source", "appstore")["total"] == 0
    assert run_json(capsys, "search", "", "--limit", "1")["total"] == 3
    assert len(run_json(capsys, "search", "", "--limit", "1")["items"]) == 1
    code, out, _ = run(capsys, "search", "信用卡")
    assert code == 0 and "1 match" in out and "信用卡年费" in out


def test_classify_jsonl_keeps_fields_and_skips_lines_without_text(tmp_path, capsys) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"id": "a", "text": "江南银行APP闪退", "extra": 1}\n{"id": "b"}\nnot json\n'
                   '{"id": "c", "text": "客服很耐心"}\n', "utf-8")
    code, out, err = run(capsys, "classify", "--input", str(src), "--output", str(dst))
    assert code == 1
    assert "line 2: no text" in err and "line 3: not JSON" in err
    rows = [json.loads(line) for line in dst.read_text("utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "c"]
    assert rows[0]["extra"] == 1 and rows[0]["text"] == "江南银行APP闪退"
    for row in rows:
        assert set(row["sentiment"]) == {"label", "scores", "model"}
        assert set(row["sentiment"]["scores"]) == {"negative", "neutral", "positive"}
        assert {"topics", "risk", "entities"} <= set(row)


def test_classify_texts_prints_a_table(capsys) -> None:
    code, out, _ = run(capsys, "classify", "江南银行手机银行转账失败", "服务很好")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("label") and len(lines) == 3
    assert lines[1].split()[0] in {"negative", "neutral", "positive"}
    data = run_json(capsys, "classify", "服务很好")
    assert data[0]["text"] == "服务很好" and data[0]["sentiment"]["model"]


def test_classify_without_input_is_a_usage_error(capsys) -> None:
    code, _, err = run(capsys, "classify")
    assert code == 2 and "--input" in err


def test_config_error_is_one_line_and_exit_2(monkeypatch, capsys) -> None:
    monkeypatch.setenv("VOC_NLP__BATCH_SIZE", '"many"')
    code, out, err = run(capsys, "stats")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "batch_size" in err


def test_index_retry_spool_and_alerts_run_on_an_empty_store(capsys) -> None:
    assert run_json(capsys, "index", "--retry-spool") == {
        "files": 0, "replayed": 0, "remaining": 0, "dead": 0, "dead_total": 0, "dead_files": [],
        "errors": [], "new": 0, "updated": 0, "unchanged": 0}
    fired = run_json(capsys, "alerts", "run")
    assert fired["fired"] == [] and fired["errors"] == []


def test_retry_spool_moves_a_never_storable_record_aside_and_then_passes(tmp_path, record, capsys) -> None:
    """Issue 14, item 5: a spooled record the store can never take made every `voc index
    --retry-spool` exit 1. The first run moves it to the dead letter folder and says so (exit 1);
    the next runs pass and still name the folder."""
    from voc.spool import write_spool

    good = record("江南银行手机银行转账失败", "good")
    poison = record("江南银行信用卡年费", "poison", topics=[""])  # SQLite refuses an empty topic
    write_spool(tmp_path / "var" / "spool", [good, poison], {})
    code, out, err = run(capsys, "index", "--retry-spool")
    assert code == 1 and ("1 record(s) stored (1 new, 0 updated, 0 unchanged), 0 still waiting, "
                          "1 refused for good") in out
    assert "dead letter: 1 record(s)" in err and "var/spool/dead/" in err
    code, out, err = run(capsys, "index", "--retry-spool")
    assert code == 0 and "0 file(s)" in out and "dead letter: 1 record(s)" in err
    dead = next((tmp_path / "var" / "spool" / "dead").glob("*.jsonl")).read_text("utf-8")
    assert json.loads(dead)["record"]["id"] == poison.id and "topics" in json.loads(dead)["error"]


def test_import_generic_csv_with_a_column_map(tmp_path, capsys) -> None:
    path = tmp_path / "feedback.csv"
    path.write_text("编号,时间,评分,意见\n1,2025-06-01 10:00,2,江南银行APP闪退\n"
                    "2,2025-06-01 11:00,5,服务很好\n", "utf-8")
    doc = run_json(capsys, "import", str(path), "--platform", "csv", "--map", "text=意见,rating=评分")
    assert doc["records"] == 2 and doc["pipeline"]["stored"] == 2
    found = run_json(capsys, "search", "闪退")
    assert found["total"] == 1 and found["items"][0]["rating"] == 2.0
    code, _, err = run(capsys, "import", str(path), "--platform", "csv", "--map", "text")
    assert code == 2 and "--map" in err


def test_classify_jsonl_uses_the_line_source_for_bank_context(tmp_path, capsys) -> None:
    # As in the pipeline: in our app's reviews a bare 民生 is a bank; on Weibo it is a common word.
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"source": "appstore", "text": "民生这次做得不错"}\n'
                   '{"source": "weibo", "text": "民生这次做得不错"}\n{"text": "民生这次做得不错"}\n', "utf-8")
    code, _, _ = run(capsys, "classify", "--input", str(src), "--output", str(dst))
    assert code == 0
    banks = [[e["canonical"] for e in json.loads(line)["entities"] if e["type"] == "bank"]
             for line in dst.read_text("utf-8").splitlines()]
    assert banks == [["民生银行"], [], []]


def import_one(capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str, text: str) -> None:
    """Import one record of `source` and `text` through `voc import --platform records`."""
    path = tmp_path / "one.jsonl"
    line = {"source": source, "text": text, "created_at": "2025-06-01T10:00:00Z",
            "url": "https://m.weibo.cn/detail/9"}
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n", "utf-8")
    assert run(capsys, "import", str(path), "--platform", "records")[0] == 0


def test_search_output_cannot_drive_the_terminal(tmp_path, capsys) -> None:
    """ANSI/OSC escapes, NUL and a bidi override in a stored comment (and its source) never reach
    the terminal in `voc search` (issue 14, item 9)."""
    import_one(capsys, tmp_path, "weibo\x1b]0;pwned\x07", "信用卡\x1b[2J\x1b[31m被盗刷\x00了\u202e反转")
    code, out, _ = run(capsys, "search", "信用卡")
    assert code == 0 and "信用卡被盗刷了反转" in out
    assert not any(c in out for c in "\x1b\x07\x00\u202e")


@pytest.mark.parametrize("command", [["stats"], ["search", "信用卡"], ["alerts", "check"],
                                     ["alerts", "list"]])
def test_a_mistyped_store_path_is_refused_by_reading_commands(tmp_path, monkeypatch, capsys,
                                                               command) -> None:
    """Issue 14, item 10: reading commands used to create the directory and an empty store."""
    missing = tmp_path / "nonexistent" / "dir" / "voc.db"
    monkeypatch.setenv("VOC_STORE__PATH", str(missing))
    code, _, err = run(capsys, *command)
    assert code == 2 and "no store at" in err and str(missing) in err
    assert not missing.parent.exists()


def test_search_masks_personal_numbers_in_text_and_json(tmp_path, capsys) -> None:
    import_one(capsys, tmp_path, "weibo", "信用卡盗刷，回电13812345678，卡号6222020200112233445")
    code, out, _ = run(capsys, "search", "盗刷")
    assert code == 0 and "138****5678" in out and "13812345678" not in out
    found = run_json(capsys, "search", "盗刷")
    assert "6222***********3445" in found["items"][0]["text"]


def test_crawl_of_an_unknown_site_profile_is_a_bad_argument(capsys) -> None:
    """Issue 14, item 10: it exited 1 with the child process's traceback."""
    code, _, err = run(capsys, "crawl", "site:nosuch")
    assert code == 2 and "no site profile 'nosuch' under [crawl.site]" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_search_by_calibrated_negative_score(imported, capsys) -> None:
    items = run_json(capsys, "search", "", "--limit", "10")["items"]
    scores = sorted(item["sentiment"]["scores"]["negative"] for item in items)
    cut = (scores[0] + scores[-1]) / 2
    expected = sum(score >= cut for score in scores)
    assert 0 < expected < len(scores), scores
    found = run_json(capsys, "search", "", "--min-negative", f"{cut!r}")
    assert found["total"] == expected
    assert all(i["sentiment"]["scores"]["negative"] >= cut for i in found["items"])
    with pytest.raises(SystemExit) as bad:  # argparse: usage and one error line, exit 2
        main(["search", "", "--min-negative", "2"])
    err = capsys.readouterr().err
    assert bad.value.code == 2 and "--min-negative" in err and "Traceback" not in err
