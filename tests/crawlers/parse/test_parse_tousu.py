"""crawlers.parse.tousu and tousu_sign: the request signature (known answers), list JSON → records,
refusals and layout changes, and the real rendered sample's content (skipped without ../shared)."""

import csv
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import pytest
from support.social import complaint, tousu_page

from core.record import make_id
from crawlers.parse.errors import BlockedPage, LayoutChanged
from crawlers.parse.tousu import complaint_id_from_url, list_params, parse_complaints
from crawlers.parse.tousu_sign import SALT, random_rs, signature, signed_query

CRAWL = datetime(2025, 6, 15, 4, 0, tzinfo=UTC)
TS = 1718000000000
RS = "aB3dE5gH7jK9mN1p"
FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "fixtures" / "tousu"

# Known answers: the sorted concatenation written out by hand, hashed with coreutils `sha256sum`.
KNOWN = {
    "feed": ("$d6eb7ff91ee257475%11017180000000002aB3dE5gH7jK9mN1p",
             "7cf04b99078536b6e94ce017cbec69b4eab3cde24d9ef27376d64e8e3c3909bf"),
    "search": ("$d6eb7ff91ee257475%1101718000000000aB3dE5gH7jK9mN1p江南银行",
               "0d804bc4739cce10bf1da508d597ae37c47ff8957aaf58eb54a968eb2cc64eac"),
    "company": ("$d6eb7ff91ee257475%111017180000000005659894235aB3dE5gH7jK9mN1p",
                "9ccd791a3bac7d051ad757965a9759148e3ec53766ec1ce58c638d4c68b4d4c6"),
}


@pytest.mark.parametrize("mode, extra", [("feed", {}), ("search", {"keyword": "江南银行"}),
                                         ("company", {"couid": "5659894235"})])
def test_signature_known_answers(mode, extra):
    plain, digest = KNOWN[mode]
    assert hashlib.sha256(plain.encode("utf-8")).hexdigest() == digest  # the table itself is right
    query = signed_query(list_params(mode, page=1, **extra), ts_ms=TS, rs=RS)
    assert query["signature"] == digest
    assert (query["ts"], query["rs"], query["page"], query["page_size"]) == (str(TS), RS, "1", "10")


def test_feed_signature_is_the_sources_md_formula():
    values = [SALT, "10", str(TS), "2", "1", RS]  # [SALT, page_size, ts, type, page, rs]
    expected = hashlib.sha256("".join(sorted(values)).encode()).hexdigest()
    assert signature(values[1:]) == expected
    assert signature([str(TS), RS, "2", "10", "2"]) != expected  # page 2 signs differently


def test_signature_sorts_like_javascript_by_utf16_code_units():
    # U+1F600 is a surrogate pair (D83D DE00) and sorts before U+FF01 in JS, after it in code points.
    assert signature(["！", "😀"]) == hashlib.sha256((SALT + "😀！").encode()).hexdigest()


def test_query_order_and_refusals():
    query = signed_query({"type": "2", "page_size": "10", "page": "3"}, ts_ms=TS, rs=RS)
    assert list(query)[:3] == ["ts", "rs", "signature"]
    assert parse_qs(urlencode(query))["type"] == ["2"]
    with pytest.raises(ValueError, match="already"):
        signed_query({"ts": "1"}, ts_ms=TS, rs=RS)


def test_random_rs_shape():
    values = {random_rs() for _ in range(20)}
    assert len(values) == 20 and all(len(v) == 16 and v.isalnum() and v.isascii() for v in values)


def test_list_params_need_their_subject():
    assert list_params("search", page=2, keyword="江南银行") == {
        "keywords": "江南银行", "page_size": "10", "page": "2"}
    assert list_params("company", page=1, couid="42")["type"] == "1"
    with pytest.raises(ValueError, match="keyword"):
        list_params("search", page=1)
    with pytest.raises(ValueError, match="couid"):
        list_params("company", page=1)
    with pytest.raises(ValueError, match="unknown tousu mode"):
        list_params("hot", page=1)


def test_feed_items_become_complaints():
    items = [complaint("17390000001", '江南银行<span class="code-red">乱扣</span>年费',
                       "信用卡未开卡被扣年费&amp;滞纳金", 1749960000),
             complaint("17390000002", "贷款被暴力催收", "每天十几个电话", 1749950000, author="")]
    page = parse_complaints(tousu_page(items, page_amount=50), CRAWL)
    first, second = page.complaints
    assert (first.source, first.kind) == ("tousu", "complaint")
    assert first.id == make_id("tousu", native_id="17390000001")
    assert first.title == "江南银行乱扣年费" and first.text == "信用卡未开卡被扣年费&滞纳金"
    assert first.url == "https://tousu.sina.com.cn/complaint/view/17390000001/"
    assert first.created_at == datetime.fromtimestamp(1749960000, UTC)
    assert first.author == "黑猫用户123" and first.fetched_at == CRAWL
    assert first.meta["cotitle"] == "江南银行" and first.meta["appeal"] == "退还费用,道歉"
    assert first.meta["sn"] == "17390000001" and first.meta["upvote_amount"] == 2
    assert second.author is None
    assert page.page_count == 50 and page.errors == []


def test_company_list_uses_complaints_and_millisecond_timestamps():
    page = parse_complaints(tousu_page([complaint("17390000003", "t", "s", 1749960000123)],
                                       key="complaints"), CRAWL, what="company")
    assert page.complaints[0].created_at == datetime.fromtimestamp(1749960000.123, UTC)
    assert page.page_count is None


def test_missing_summary_falls_back_to_title_and_missing_sn_to_the_view_url():
    item = complaint("", "标题即内容", "", 1749960000, view_id="17390000004")
    record = parse_complaints(tousu_page([item]), CRAWL).complaints[0]
    assert record.text == "标题即内容" and record.meta["sn"] == "17390000004"


def test_non_zero_status_is_a_refusal():
    with pytest.raises(BlockedPage, match="code=-3 msg=请先登录"):
        parse_complaints(tousu_page([], code=-3, msg="请先登录"), CRAWL, what="search")


@pytest.mark.parametrize("data, match", [
    ({}, "no result object"),
    ({"result": {"status": {"code": 0}}}, "result.data missing"),
    ({"result": {"status": {"code": 0}, "data": {"items": []}}}, "neither lists nor complaints"),
])
def test_unknown_shapes_are_layout_changes(data, match):
    with pytest.raises(LayoutChanged, match=match):
        parse_complaints(data, CRAWL)


def test_a_bad_item_is_reported_and_an_all_bad_page_is_a_layout_change():
    bad = complaint("17390000005", "t", "s", 0)
    bad["main"]["timestamp"] = "昨天"
    good = complaint("17390000006", "t", "s", 1749960000)
    page = parse_complaints(tousu_page([bad, good, {"main": None}]), CRAWL)
    assert [c.meta["sn"] for c in page.complaints] == ["17390000006"]
    assert [where for where, _ in page.errors] == ["item 0", "item 2"]
    assert "unix seconds" in page.errors[0][1]
    with pytest.raises(LayoutChanged, match="no complaint could be read"):
        parse_complaints(tousu_page([bad]), CRAWL)


def test_empty_list_is_the_end_not_an_error():
    page = parse_complaints(tousu_page([]), CRAWL)
    assert page.complaints == [] and page.errors == []


# --- the real sample: rendered list cards, not API JSON; useful for content and URLs ------------

real = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/data/fixtures/tousu is absent")


@real
def test_real_sample_content_through_the_api_shape():
    rows = list(csv.DictReader((FIXTURES / "Wpandios_HeimaoData_example_data_structured.csv")
                               .open(encoding="utf-8")))
    assert rows
    items = []
    for row in rows:
        view_id = complaint_id_from_url(row["href"])
        assert view_id and view_id.isdigit()
        day = datetime.strptime(row["date"], "%Y-%m-%d").replace(tzinfo=UTC)
        item = complaint(view_id, row["title"], row["summary"], int(day.timestamp()),
                         cotitle=row["object"])
        item["main"]["url"] = row["href"].removeprefix("https:")  # the site writes //host/...
        item["main"]["appeal"] = row["demands"]
        items.append(item)
    page = parse_complaints(tousu_page(items), CRAWL)
    assert len(page.complaints) == len(rows) and page.errors == []
    for record, row in zip(page.complaints, rows, strict=True):
        assert record.text == " ".join(row["summary"].split())
        assert record.url == row["href"]
        assert record.meta["appeal"] == row["demands"] and record.meta["cotitle"] == row["object"]
        assert record.created_at.date().isoformat() == row["date"]
    assert len({r.id for r in page.complaints}) == len(rows)
