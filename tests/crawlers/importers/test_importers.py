"""Survey importers on real files in tmp_path: 问卷星 (text, coded; CSV/XLSX/XLS), 腾讯问卷, generic --map.

Covers the acceptance cases: GBK file, UTF-8-BOM file, broken rows (line numbers), empty file,
non-survey file; plus privacy (no IP anywhere, pseudonyms) and stable ids across re-imports.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.surveys import FAKE_IPS, SALT, WJX_TEXT_HEADER, WJX_TEXT_ROWS

from crawlers.errors import ImportFileError, RowError
from crawlers.importers import IMPORTERS, detect_platform, import_file

REPO = Path(__file__).resolve().parents[3]
REAL_SAMPLE = REPO / ".." / "shared" / "data" / "surveys" / "wjx_export_sample.csv"


def assert_no_ip(records: list) -> None:
    dump = json.dumps([r.to_dict() for r in records], ensure_ascii=False)
    for ip in (*FAKE_IPS, "192.0.2.44", "192.0.2.55"):
        assert ip not in dump
    assert "来自IP" not in dump and "来源详情" not in dump and "IP" not in dump


def test_gbk_text_export(wjx_gbk: Path) -> None:
    result = import_file(wjx_gbk, salt=SALT)
    assert (result.platform, result.survey_id, result.encoding) == ("wjx", "331954276", "gb18030")
    assert result.rows_read == 6 and result.errors == []
    assert result.text_columns == ["4、您对我行有什么建议？"]
    by_line = {(r.meta["line"], r.meta["question"]): r for r in result.records}
    # rows 3 ((空)) and 6 (无) say nothing; row 2 also has a 其他〖…〗 write-in
    assert sorted(line for line, _ in by_line) == [2, 3, 3, 5, 6]
    first = by_line[(2, "4、您对我行有什么建议？")]
    assert first.text == "手机银行转账很方便，到账很快"
    assert (first.source, first.kind, first.rating) == ("survey:wjx", "survey", 4.0)
    assert first.title == "您对我行有什么建议？"
    assert first.created_at == datetime(2026, 11, 20, 1, 5, 10, tzinfo=UTC)  # naive = Asia/Shanghai
    assert first.meta["choices"] == {"1、您的性别": "男", "2、您对手机银行的满意度": "4",
                                     "3、您常用哪些功能？": ["转账", "理财"]}
    assert first.meta["fields"] == {"所用时间": "65秒", "来源": "微信"}
    write_in = by_line[(3, "3、您常用哪些功能？〖其他〗")]
    assert write_in.text == "信用卡还款" and write_in.rating == 1.0
    assert write_in.meta["choices"]["3、您常用哪些功能？"] == ["转账", "其他"]
    assert result.skipped_answers == 1  # 无
    assert_no_ip(result.records)


def test_pseudonyms_and_reimport_ids_are_stable(wjx_gbk: Path) -> None:
    first = import_file(wjx_gbk, salt=SALT)
    again = import_file(wjx_gbk, salt=SALT)
    assert [r.id for r in first.records] == [r.id for r in again.records]
    assert [r.author for r in first.records] == [r.author for r in again.records]
    assert len({r.id for r in first.records}) == len(first.records)
    other_salt = import_file(wjx_gbk, salt="another-salt")
    assert [r.id for r in other_salt.records] == [r.id for r in first.records]
    assert {r.author for r in other_salt.records}.isdisjoint({r.author for r in first.records})
    assert all(r.author.startswith("r_") and r.author not in ("1", "2", "4", "5") for r in first.records)
    with pytest.raises(ImportFileError, match="salt"):
        import_file(wjx_gbk)


def test_coded_export_utf8_bom_crlf(write_csv: Callable[..., Path]) -> None:
    header = ["序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP", "1、您的年龄段",
              "2、您的手机银行用了几年？", "3、(转账)", "3、(理财)", "3、(缴费)", "4、您还有什么意见？"]
    rows = [[str(n), f"2026/11/{n + 10} 12:00:0{n}", "60秒", "微信", "N/A", f"192.0.2.{n}(上海-上海)",
             str(n % 3 + 1), str(n), "1", str(n % 2), "0", text]
            for n, text in enumerate(["转账页面太难找", "-3", "理财收益展示不清楚", "客服回复太慢了", "-2"],
                                     start=1)]
    path = write_csv("900001_按序号_测试_5_5.csv", header, rows, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in path.read_bytes()
    result = import_file(path, salt=SALT)
    assert (result.platform, result.survey_id, result.encoding) == ("wjx", "900001", "utf-8-sig")
    assert result.text_columns == ["4、您还有什么意见？"]
    assert [r.text for r in result.records] == ["转账页面太难找", "理财收益展示不清楚", "客服回复太慢了"]
    meta = result.records[0].meta
    assert meta["variant"] == "coded"
    assert meta["choices"] == {"1、您的年龄段": "2", "2、您的手机银行用了几年？": "1", "3": ["转账", "理财"]}
    assert_no_ip(result.records)


def test_broken_rows_are_reported_with_line_numbers(write_csv: Callable[..., Path]) -> None:
    rows = [list(r) for r in WJX_TEXT_ROWS]
    rows[0][9] = "第一行\n还有第二行"     # a quoted multi-line answer: the next rows start one line later
    rows[1] = rows[1][:7]                 # truncated: wrong column count, file line 4
    rows[3][1] = "昨天下午"               # unparseable submit time, file line 6
    rows[4][1] = "2026/13/40 10:00:00"    # impossible date, file line 7
    path = write_csv("331954276_按文本_坏行_6_6.csv", WJX_TEXT_HEADER, rows)
    result = import_file(path, salt=SALT)
    assert result.rows_read == 6
    assert [e.line for e in result.errors] == [4, 6, 7]
    assert result.errors[0] == RowError(4, "expected 10 columns, found 7")
    assert "提交答卷时间" in result.errors[1].reason and "昨天下午" in result.errors[1].reason
    assert {r.meta["line"] for r in result.records} == {2}  # rows 5 and 8 hold no feedback
    assert result.records[0].text == "第一行\n还有第二行"


def test_duplicate_respondent_is_an_error_not_a_silent_overwrite(write_csv: Callable[..., Path]) -> None:
    rows = [WJX_TEXT_ROWS[0], WJX_TEXT_ROWS[1], [*WJX_TEXT_ROWS[3][:0], "1", *WJX_TEXT_ROWS[3][1:]]]
    result = import_file(write_csv("1_按文本_dup.csv", WJX_TEXT_HEADER, rows), salt=SALT)
    assert result.errors == [RowError(4, "序号 1 repeats line 2")]


@pytest.mark.parametrize("content", [b"", b"\r\n\r\n  \n", b"\xef\xbb\xbf"])
def test_empty_file_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "331954276_按文本_空_0_0.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match="is empty"):
        import_file(path, salt=SALT)


def test_header_only_file_imports_nothing_and_says_so(write_csv: Callable[..., Path]) -> None:
    result = import_file(write_csv("5_按文本_none_0_0.csv", WJX_TEXT_HEADER, []), salt=SALT)
    assert (result.records, result.errors, result.rows_read) == ([], [], 0)
    assert "no open-text" in result.message


def test_non_survey_files_give_clear_errors(tmp_path: Path, write_csv: Callable[..., Path]) -> None:
    png = tmp_path / "export.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(ImportFileError, match="PNG image"):
        import_file(png, salt=SALT)
    sales = write_csv("sales.csv", ["日期", "门店", "金额"], [["2026-11-01", "南京", "100"]])
    with pytest.raises(ImportFileError, match="not a recognised survey export.*日期, 门店, 金额"):
        import_file(sales, salt=SALT)
    with pytest.raises(ImportFileError, match="not a 问卷星 export: no 序号, 提交答卷时间"):
        import_file(sales, platform="wjx", salt=SALT)
    with pytest.raises(ImportFileError, match="cannot read"):
        import_file(tmp_path / "missing.csv", platform="wjx", salt=SALT)
    with pytest.raises(ImportFileError, match="unknown platform"):
        import_file(sales, platform="qualtrics", salt=SALT)


def test_xlsx_export(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(WJX_TEXT_HEADER)
    for row in WJX_TEXT_ROWS:
        values: list = list(row)
        values[0] = int(row[0])
        values[1] = datetime.strptime(row[1], "%Y/%m/%d %H:%M:%S")  # Excel stores real dates
        values[7] = int(row[7])
        sheet.append(values)
    path = tmp_path / "331954276_按文本_手机银行调查_6_6.xlsx"
    book.save(path)
    result = import_file(path, salt=SALT)
    assert result.errors == [] and result.rows_read == 6
    assert sorted(r.meta["line"] for r in result.records) == [2, 3, 3, 5, 6]
    assert result.records[0].created_at == datetime(2026, 11, 20, 1, 5, 10, tzinfo=UTC)
    assert result.records[0].rating == 4.0
    assert_no_ip(result.records)


def test_xlsx_gives_same_ids_as_csv(tmp_path: Path, wjx_gbk: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    for row in [WJX_TEXT_HEADER, *WJX_TEXT_ROWS]:
        book.active.append(row)
    path = tmp_path / "331954276_按文本_手机银行调查_6_6.xlsx"
    book.save(path)
    assert [r.id for r in import_file(path, salt=SALT).records] == \
        [r.id for r in import_file(wjx_gbk, salt=SALT).records]


def test_xls_export(tmp_path: Path) -> None:
    xlwt = pytest.importorskip("xlwt")  # writing .xls needs xlwt; reading uses xlrd
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Sheet1")
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm:ss")
    for c, name in enumerate(WJX_TEXT_HEADER):
        sheet.write(0, c, name)
    for r, row in enumerate(WJX_TEXT_ROWS, start=1):
        for c, value in enumerate(row):
            if c == 1:
                sheet.write(r, c, datetime.strptime(value, "%Y/%m/%d %H:%M:%S"), date_style)
            elif c in (0, 7):
                sheet.write(r, c, int(value))
            else:
                sheet.write(r, c, value)
    path = tmp_path / "331954276_按文本_手机银行调查_6_6.xls"
    book.save(str(path))
    result = import_file(path, salt=SALT)
    assert result.errors == [] and sorted(r.meta["line"] for r in result.records) == [2, 3, 3, 5, 6]
    assert result.records[0].created_at == datetime(2026, 11, 20, 1, 5, 10, tzinfo=UTC)
    assert_no_ip(result.records)


def test_corrupt_workbooks_are_file_errors(tmp_path: Path) -> None:
    fake_xls = tmp_path / "1_按文本_x.xls"
    fake_xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(ImportFileError, match="XLS"):
        import_file(fake_xls, salt=SALT)
    fake_xlsx = tmp_path / "1_按文本_x.xlsx"
    fake_xlsx.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(ImportFileError, match="XLSX"):
        import_file(fake_xlsx, salt=SALT)


TENCENT_HEADER = ["编号", "开始答题时间", "结束答题时间", "答题时长", "地理位置国家和地区", "地理位置省",
                  "地理位置市", "自定义字段", "用户类型", "用户标识", "昵称", "IP", "UA", "Referrer",
                  "1.您的满意度评分", "2.您遇到的问题", "3.请写下您的建议"]


def tencent_row(n: int, user: str, text: str, end: str = "2026-11-25 10:03:00") -> list[str]:
    return [str(n), "2026-11-25 10:00:00", end, "180秒", "中国", "江苏", "南京", "wx_chan", "微信用户", user,
            "小明", FAKE_IPS[n % 3], "Mozilla/5.0", "https://example.invalid/", str(n % 5 + 1),
            "转账失败┋其他〖ATM吞卡〗" if n == 1 else "转账失败", text]


def test_tencent_csv_gbk(write_csv: Callable[..., Path]) -> None:
    rows = [tencent_row(1, "o_abc", "ATM吞卡后等了半小时才有人来处理"),
            tencent_row(2, "o_def", "手机银行登录总是提示密码错误"),
            tencent_row(3, "o_abc", "(跳过)", end="bad time")]
    path = write_csv("12345678_202611251030001234.csv", TENCENT_HEADER, rows, encoding="gbk")
    assert detect_platform(path) == "tencent"
    result = import_file(path, salt=SALT)
    assert (result.platform, result.survey_id, result.encoding) == ("tencent", "12345678", "gb18030")
    assert [e.line for e in result.errors] == [4]
    texts = {(r.meta["line"], r.meta["question"]): r for r in result.records}
    assert set(texts) == {(2, "3.请写下您的建议"), (2, "2.您遇到的问题〖其他〗"), (3, "3.请写下您的建议")}
    main = texts[(2, "3.请写下您的建议")]
    assert (main.source, main.rating, main.title) == ("survey:tencent", 2.0, "请写下您的建议")
    assert main.created_at == datetime(2026, 11, 25, 2, 3, tzinfo=UTC)
    assert main.meta["fields"] == {"开始答题时间": "2026-11-25 10:00:00", "答题时长": "180秒",
                                   "用户类型": "微信用户"}
    dump = json.dumps([r.to_dict() for r in result.records], ensure_ascii=False)
    for private in ("o_abc", "小明", "Mozilla", "南京", "wx_chan", "example.invalid", *FAKE_IPS):
        assert private not in dump


def test_generic_csv_with_map(write_csv: Callable[..., Path]) -> None:
    header = ["编号", "提交时间", "满意度", "意见建议", "备注", "手机号"]
    rows = [["a1", "2026-11-01 08:00", "5", "很好用", "x", "13800000000"],
            ["a2", "2026-11-02 09:30", "2", "转账老失败", "y", "13900000000"]]
    path = write_csv("branch_feedback.csv", header, rows, delimiter="\t")
    result = import_file(path, platform="csv", mapping="text=意见建议,rating=满意度", salt=SALT)
    assert [(r.text, r.rating) for r in result.records] == [("很好用", 5.0), ("转账老失败", 2.0)]
    assert result.records[0].source == "survey:csv" and result.survey_id == "branch_feedback"
    assert result.records[0].meta["choices"] == {"满意度": "5", "备注": "x"}
    assert "13800000000" not in json.dumps([r.to_dict() for r in result.records])
    # a mapping alone selects the generic importer; a wrong column name is a clear error
    assert [r.id for r in import_file(path, mapping={"text": ["意见建议"]}, salt=SALT).records] == \
        [r.id for r in result.records]
    with pytest.raises(ImportFileError, match="no column '评论'.*编号, 提交时间"):
        import_file(path, platform="csv", mapping="text=评论", salt=SALT)
    with pytest.raises(ImportFileError, match="--map text=COLUMN"):
        import_file(path, platform="csv", salt=SALT)
    with pytest.raises(ImportFileError, match="unknown field"):
        import_file(path, platform="csv", mapping="text=意见建议,colour=备注", salt=SALT)


def test_map_overrides_detection_in_wjx(wjx_gbk: Path) -> None:
    result = import_file(wjx_gbk, mapping="text=您的性别", salt=SALT)
    assert result.text_columns == ["1、您的性别"]
    # the named column replaces the detected one; 其他〖…〗 write-ins are still text
    assert {r.text for r in result.records} == {"男", "女", "信用卡还款"}


def test_detect_platform_by_name_and_header(tmp_path: Path, write_csv: Callable[..., Path]) -> None:
    assert detect_platform(tmp_path / "331954276_按序号_x_1_1.xlsx") == "wjx"
    assert detect_platform(tmp_path / "backfill.jsonl") == "records"
    renamed = write_csv("download.csv", WJX_TEXT_HEADER, WJX_TEXT_ROWS)
    assert detect_platform(renamed) == "wjx"
    assert import_file(renamed, salt=SALT).survey_id == "download"
    assert import_file(renamed, survey_id="s-1", salt=SALT).survey_id == "s-1"
    assert set(IMPORTERS) == {"wjx", "tencent", "csv", "records"}


def test_demo_survey_is_reproducible_and_imports_cleanly(tmp_path: Path) -> None:
    demo = REPO / "demo" / "survey" / "331954276_按文本_江南银行手机银行满意度调查_60_60.csv"
    spec = importlib.util.spec_from_file_location("make_survey", REPO / "demo" / "make_survey.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.write(tmp_path / demo.name).read_bytes() == demo.read_bytes()
    result = import_file(demo, salt=SALT)
    assert result.errors == [] and result.rows_read == 60 and result.encoding == "gb18030"
    assert len(result.records) > 60 and all(r.rating in {1.0, 2.0, 3.0, 4.0, 5.0} for r in result.records)
    assert "IP" not in json.dumps([r.to_dict() for r in result.records], ensure_ascii=False)


@pytest.mark.skipif(not REAL_SAMPLE.exists(), reason="shared/ survey sample not present")
def test_real_wjx_coded_sample() -> None:
    result = import_file(REAL_SAMPLE, salt=SALT)
    assert result.platform == "wjx" and result.encoding == "utf-8-sig"
    assert result.rows_read > 0 and result.records
    assert result.records[0].meta["variant"] == "coded"
    lines = [r.meta["line"] for r in result.records] + [e.line for e in result.errors]
    assert all(2 <= line <= result.rows_read + 1 for line in lines)
    assert lines == sorted(lines) or result.errors
    dump = json.dumps([r.to_dict() for r in result.records], ensure_ascii=False)
    raw = REAL_SAMPLE.read_text(encoding="utf-8-sig")
    ips = {cell.split("(")[0] for cell in raw.replace("\r\n", "\n").replace("\n", ",").split(",")
           if cell.count(".") == 3 and "(" in cell}
    assert ips  # the sample does carry IPs, so this check can fail
    for ip in ips:
        assert ip not in dump
    assert "来自IP" not in dump


def test_two_bad_bytes_in_one_row_lose_that_row_only(tmp_path: Path) -> None:
    """Issue 14, item 5: two stray bytes in one row of a GBK export made the whole file
    "cannot detect the text encoding" (0 answers). Now that row is reported with its line and
    the rest imports."""
    from support.surveys import WJX_TEXT_HEADER, WJX_TEXT_ROWS, csv_bytes

    data = csv_bytes(WJX_TEXT_HEADER, WJX_TEXT_ROWS, encoding="gbk")
    lines = data.split(b"\r\n")
    lines[4] = lines[4].replace("网点".encode("gbk"), b"\xff\xff", 1)  # line 5: the 4th answer
    path = tmp_path / "331954276_按文本_手机银行调查_6_6.csv"
    path.write_bytes(b"\r\n".join(lines))
    result = import_file(path, salt=SALT)
    assert result.encoding == "gb18030" and result.rows_read == 6
    assert [(e.line, e.reason) for e in result.errors] == [
        (5, "bytes that are not gb18030 on line 5; the row is left out")]
    assert sorted({r.meta["line"] for r in result.records}) == [2, 3, 6]


def test_personal_columns_are_judged_by_what_they_hold(write_csv: Callable[..., Path]) -> None:
    """Issue 14, item 8: 联系手机, 称呼 and 所在城市 were kept in `meta.choices`, and free-form
    "Name" and "客户号" columns became feedback records. Columns are now judged by their titles and
    by their answers (phone, ID, card, e-mail, customer number, person's name), whatever the title."""
    header = ["序号", "提交答卷时间", "所用时间", "1、联系手机", "2、称呼", "3、所在城市", "Name",
              "客户号", "4、留个方式", "5、您的网点", "6、您对我行有什么建议？"]
    people = [("13812345678", "张先生", "南京", "Zhang Wei", "C0012345601", "zhang.wei@example.com",
               "张江支行", "手机银行转账很方便，到账很快"),
              ("13987654321", "李女士", "上海", "Li Na", "C0012345602", "15011112222",
               "张江支行", "APP更新后一直闪退，验证码也收不到"),
              ("+86 137 0000 1111", "王芳", "苏州", "Wang Fang", "C0012345603", "", "张江支行",
               "网点排队时间太长了，希望多开几个窗口"),
              ("15500001111", "陈伟", "无锡", "Chen Wei", "C0012345604", "chen@example.org",
               "高新区支行", "信用卡年费扣得莫名其妙，客服解释不清"),
              ("18800002222", "刘洋", "北京", "Liu Yang", "C0012345605", "刘洋",
               "张江支行", "理财经理很专业，解释得很清楚")]
    rows = [[str(n + 1), f"2026/11/2{n} 9:05:10", "60秒", *p] for n, p in enumerate(people)]
    path = write_csv("331954276_按文本_联系调查_5_5.csv", header, rows)
    result = import_file(path, salt=SALT)
    assert not result.errors
    dump = json.dumps([r.to_dict() for r in result.records], ensure_ascii=False)
    for person in people:
        for value in person[:6]:
            if value:
                assert value not in dump, value
    assert [r.text for r in result.records] == [p[7] for p in people]
    assert result.personal_columns == {"1、联系手机": "title", "2、称呼": "title", "3、所在城市": "title",
                                       "Name": "title", "客户号": "title", "4、留个方式": "email"}
    assert result.records[0].meta["choices"] == {"5、您的网点": "张江支行"}  # branches are not names


@pytest.mark.parametrize(("values", "kind"), [
    (["13812345678", "139 8765 4321", "", "(跳过)"], "phone"),
    (["110101199003071234", "32010219800101002X"], "id"),
    (["6222020200112233445", "6217 0000 1111 2222"], "card"),
    (["a@b.example", "no", "c.d@e.example"], "email"),
    (["VIP000123", "VIP000456", "VIP000789"], "code"),
    (["张伟", "王秀英", "欧阳娜娜", "李先生", "好"], "name"),
    (["张江支行", "高新区支行", "金卡"], None),
    (["满意", "一般", "不满意"], None),
    (["转账很方便", "理财收益不错", "王府井的网点排队太久了"], None),
])
def test_personal_content(values: list[str], kind: str | None) -> None:
    from crawlers.importers.columns import personal_content

    assert personal_content(values) == kind
