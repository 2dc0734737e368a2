"""crawlers.parse.weibo: envelopes, search cards (9 and 11 → card_group), HTML text, comments paging,
and the real saved m.weibo.cn responses (skipped when ../shared is absent)."""

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.social import (
    EMOJI,
    TOPIC,
    card9,
    card11,
    comment,
    hotflow,
    long_text,
    mblog,
    refused,
    search_page,
    user_card,
)

from core.record import make_id
from crawlers.parse.errors import BlockedPage, LayoutChanged
from crawlers.parse.weibo import (
    check_envelope,
    parse_comments,
    parse_long_text,
    parse_search,
    plain_text,
)

SH = ZoneInfo("Asia/Shanghai")
CRAWL = datetime(2025, 6, 15, 12, 0, tzinfo=SH)
FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "fixtures" / "weibo"


def test_posts_in_card_type_9_and_inside_card_type_11_card_group():
    page = search_page(
        card9(mblog("5000000000000001", "江南银行APP又崩了" + EMOJI, "5分钟前", comments=2)),
        card11(mblog("5000000000000002", TOPIC + "信用卡年费乱收", "昨天 09:00"),
               mblog("5000000000000003", "排队两小时", "06-13"), extra=[user_card()]),
        user_card(),
        next_page=2)
    result = parse_search(page, CRAWL, page=1, keyword="江南银行")
    assert [p.meta["mid"] for p in result.posts] == ["5000000000000001", "5000000000000002",
                                                     "5000000000000003"]
    first = result.posts[0]
    assert first.id == make_id("weibo", native_id="5000000000000001")
    assert (first.source, first.kind, first.author) == ("weibo", "post", "储户小王")
    assert first.text == "江南银行APP又崩了[怒]"
    assert first.url == "https://m.weibo.cn/detail/5000000000000001"
    assert first.created_at == datetime(2025, 6, 15, 11, 55, tzinfo=SH).astimezone(UTC)
    assert first.meta["comments_count"] == 2 and first.meta["region"] == "上海"
    assert first.meta["keyword"] == "江南银行" and first.meta["created_at_raw"] == "5分钟前"
    assert result.posts[1].text == "#江南银行#信用卡年费乱收"
    assert result.posts[2].created_at == datetime(2025, 6, 13, tzinfo=SH).astimezone(UTC)
    assert result.posts[2].meta["time_precision"] == "day"
    assert result.next_page == 2 and result.errors == []


def test_last_page_has_no_next_page_and_a_cursor_that_does_not_advance_stops():
    blog = mblog("5000000000000001", "a", "刚刚")
    assert parse_search(search_page(card9(blog), next_page=None), CRAWL, page=3).next_page is None
    assert parse_search(search_page(card9(blog), next_page=3), CRAWL, page=3).next_page is None


def test_ok_0_is_a_refusal_but_the_no_content_message_ends_the_list():
    with pytest.raises(BlockedPage, match="ok=0 msg=请求过于频繁"):
        parse_search(refused(), CRAWL)
    with pytest.raises(BlockedPage, match="login required"):
        parse_search(refused("", ok=-100), CRAWL)
    end = parse_search({"ok": 0, "msg": "这里还没有内容", "data": {"cards": []}}, CRAWL, page=4)
    assert end.posts == [] and end.next_page is None


@pytest.mark.parametrize("data, match", [
    ([], "envelope"),
    ({"data": {}}, "envelope"),
    ({"ok": 1, "data": None}, "no data object"),
    ({"ok": 1, "data": {"cardlistInfo": {}}}, "data.cards missing"),
    ({"ok": 1, "data": {"cards": [{"card_type": 42, "mblog": mblog("1", "x", "刚刚")}]}},
     "outside card_type 9/11"),
])
def test_unknown_shapes_are_layout_changes(data, match):
    with pytest.raises(LayoutChanged, match=match):
        parse_search(data, CRAWL)


def test_a_bad_post_is_reported_and_the_rest_of_the_page_kept():
    bad = mblog("5000000000000009", "x", "上周三")
    missing = mblog("5000000000000008", "y", "刚刚")
    del missing["created_at"]
    page = search_page(card9(bad), card9(missing), card9(mblog("5000000000000001", "好", "刚刚")),
                       next_page=2)
    result = parse_search(page, CRAWL)
    assert [p.meta["mid"] for p in result.posts] == ["5000000000000001"]
    assert [where for where, _ in result.errors] == ["post 0 mid=5000000000000009",
                                                     "post 1 mid=5000000000000008"]
    assert "上周三" in result.errors[0][1] and "created_at" in result.errors[1][1]
    with pytest.raises(LayoutChanged, match="no post could be read"):
        parse_search(search_page(card9(bad), next_page=2), CRAWL)


def test_only_non_post_cards_is_an_empty_page_not_a_layout_change():
    result = parse_search(search_page(user_card(), next_page=None), CRAWL)
    assert result.posts == [] and result.next_page is None


def test_plain_text_keeps_emoji_topics_and_mentions_and_decodes_entities():
    html = ("回复<a href='/n/热爱CP'>@热爱CP</a>:同感" + EMOJI + " &amp; <br />" + TOPIC
            + '<a href="https://m.weibo.cn/status/x">全文</a>')
    assert plain_text(html) == "回复@热爱CP:同感[怒] & #江南银行#"


def test_comments_page_with_inline_replies_and_max_id():
    reply = comment("6000000000000002", "回复<a href='/n/路人甲'>@路人甲</a>:我也是", "刚刚",
                    root="6000000000000001")
    data = hotflow([comment("6000000000000001", "又扣我年费" + EMOJI, "Sat Jun 14 12:00:00 +0800 2025",
                            replies=[reply], likes=7),
                    comment("6000000000000003", "客服电话打不通", "3小时前")], max_id=138000, max_id_type=1)
    page = parse_comments(data, CRAWL, post_mid="5000000000000001")
    assert [c.meta["comment_id"] for c in page.comments] == ["6000000000000001", "6000000000000002",
                                                             "6000000000000003"]
    top, sub, other = page.comments
    assert (top.kind, top.source, top.text, top.author) == ("comment", "weibo", "又扣我年费[怒]", "路人甲")
    assert top.id == make_id("weibo", native_id="6000000000000001")
    assert top.url == "https://m.weibo.cn/detail/5000000000000001"
    assert top.created_at == datetime(2025, 6, 14, 4, 0, tzinfo=UTC)
    assert top.meta["like_count"] == 7 and top.meta["region"] == "广东" and "root_id" not in top.meta
    assert sub.meta["root_id"] == "6000000000000001" and sub.text == "回复@路人甲:我也是"
    assert other.created_at == datetime(2025, 6, 15, 9, 0, tzinfo=SH).astimezone(UTC)
    assert (page.max_id, page.max_id_type, page.total) == (138000, 1, 42)


def test_comments_last_page_has_max_id_0():
    page = parse_comments(hotflow([comment("6000000000000009", "完", "刚刚")], max_id=0), CRAWL,
                          post_mid="5")
    assert page.max_id == 0 and len(page.comments) == 1


def test_comments_refused_or_reshaped():
    with pytest.raises(BlockedPage, match="comments mid=5: ok=0"):
        parse_comments(refused("网络繁忙"), CRAWL, post_mid="5")
    with pytest.raises(LayoutChanged, match="max_id missing"):
        parse_comments({"ok": 1, "data": {"data": []}}, CRAWL, post_mid="5")
    with pytest.raises(LayoutChanged, match="data.data missing"):
        parse_comments({"ok": 1, "data": {"comments": [], "total": 0}}, CRAWL, post_mid="5")


def test_long_text():
    assert parse_long_text(long_text("很长很长<br />第二段")) == "很长很长<br />第二段"
    with pytest.raises(LayoutChanged):
        parse_long_text({"ok": 1, "data": {"ok": 1}})
    with pytest.raises(BlockedPage):
        parse_long_text(refused())


def test_check_envelope_returns_the_data_object():
    assert check_envelope({"ok": 1, "data": {"a": 1}}, "x") == {"a": 1}
    assert check_envelope({"ok": 0, "msg": "这里还没有内容"}, "x") is None


# --- the real saved responses (2019, m.weibo.cn) ---------------------------------------------

real = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/data/fixtures/weibo is absent")
CRAWL_2019 = datetime(2019, 6, 15, 12, 0, tzinfo=SH)


def load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@real
def test_real_timeline_cards():
    data = load("extracted_cards1.json")
    page = parse_search(data, CRAWL_2019, page=1, what="timeline")
    mblogs = [c["mblog"] for c in data["data"]["cards"] if c.get("card_type") == 9]
    assert len(page.posts) == len(mblogs) > 0 and page.errors == []
    assert page.next_page == data["data"]["cardlistInfo"]["page"]
    for post, blog in zip(page.posts, mblogs, strict=True):
        assert post.meta["mid"] == str(blog["mid"])
        assert post.author == blog["user"]["screen_name"]
        assert "<" not in post.text and "url-icon" not in post.text
        month, day = map(int, blog["created_at"].split("-"))  # the 2019 timeline says "06-14"
        assert post.created_at.astimezone(SH).date() == datetime(2019, month, day).date()
    assert "[偷笑]" in page.posts[0].text


@real
def test_real_hotflow_comments():
    data = load("extracted_comments2.json")
    page = parse_comments(data, CRAWL_2019, post_mid="4383183661430868")
    tops = data["data"]["data"]
    replies = [r for c in tops if isinstance(c.get("comments"), list) for r in c["comments"]]
    assert len(page.comments) == len(tops) + len(replies) and page.errors == []
    assert page.max_id == data["data"]["max_id"] != 0
    assert page.max_id_type == data["data"]["max_id_type"]
    for record in page.comments:
        assert record.created_at.year == 2019 and "<" not in record.text
    first = page.comments[0]
    assert first.created_at == datetime(2019, 6, 14, 20, 39, 20, tzinfo=SH).astimezone(UTC)
    assert first.author == tops[0]["user"]["screen_name"]


@real
def test_real_long_text_and_legacy_comment_times():
    assert parse_long_text(load("extracted_statuses1.json")).startswith("😄")
    legacy = load("extracted_comments1.json")["data"]
    from crawlers.parse.weibo_time import parse_weibo_time

    for item in legacy["data"] + legacy.get("hot_data", []):
        assert parse_weibo_time(item["created_at"], CRAWL_2019) <= CRAWL_2019.astimezone(UTC)
