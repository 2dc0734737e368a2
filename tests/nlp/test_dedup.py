"""nlp.dedup: fingerprints, near-duplicate clusters, sliding window, seeding."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from core.record import Feedback
from nlp.dedup import Deduper, dedup_key

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
POST = "招商银行信用卡中心暴力催收，天天给我家人和同事打电话，投诉了三次都没人管，大家评评理"
OTHER = "今天去网点办理储蓄卡开户，大堂经理很热情，十分钟就办好了，体验不错，点赞"


def rec(rid: str, text: str, hours: float = 0) -> Feedback:
    return Feedback(rid, "weibo", "post", text, T0 + timedelta(hours=hours))


def test_fingerprint_is_16_hex_and_stable():
    a, b = Deduper(), Deduper()
    records = [rec("a", POST)]
    a.assign(records)
    assert re.fullmatch(r"[0-9a-f]{16}", records[0].fingerprint)
    assert records[0].fingerprint == b.fingerprint(POST)
    assert a.fingerprint(POST) != a.fingerprint(OTHER)


def test_exact_copy_and_decorated_copy_share_fingerprint():
    d = Deduper()
    assert d.fingerprint(POST) == d.fingerprint(f"  {POST}[怒]😡 https://t.cn/xyz ")


@pytest.mark.parametrize("edit", [
    lambda t: t[:10] + t[11] + t[10] + t[12:],  # adjacent characters swapped
    lambda t: t[:15] + "[怒][怒]😡" + t[15:],    # emoji added
    lambda t: t + " 求扩散！#银行投诉#",            # trailing text
    lambda t: t.replace("银行", "銀行"),           # traditional characters
    lambda t: f'<span>{t}</span><img alt="[泪]">',  # HTML wrapped
], ids=["swap", "emoji", "trailing", "traditional", "html"])
def test_edited_copies_point_at_the_first_record(edit):
    records = [rec("orig", POST), rec("other", OTHER, 0.5), rec("copy", edit(POST), 1)]
    Deduper().assign(records)
    assert [r.duplicate_of for r in records] == [None, None, "orig"]


SHORT = ["手机银行转账一直失败怎么回事", "信用卡年费不退客服推诿", "网点排队两个小时才办完业务",
         "验证码一直收不到根本登录不了", "客服电话打了一上午都没人接", "贷款审批拖了一个月还没消息",
         "理财产品到期了钱还没有到账", "自动扣款扣了两次没人给解释", "更新新版本以后一打开就闪退",
         "大堂经理态度恶劣还推销保险", "转账限额太低了根本不够用啊", "挂失补卡要跑三趟网点真麻烦"]


def test_short_comments_with_swapped_characters_are_copies():
    """12-14 characters: a swap changes a third of the bi/trigrams but none of the characters, so
    most copies are found. MinHash
    estimates, so it is a rate — 0.92 for swaps at 10-19 characters in bench/understanding.py."""
    found = tried = 0
    for text in SHORT:
        for pos in (2, 4, 5, 7):
            swapped = text[:pos] + text[pos + 1] + text[pos] + text[pos + 2:]
            records = [rec("orig", text), rec("other", OTHER, 0.5), rec("copy", swapped, 1)]
            Deduper().assign(records)
            assert records[1].duplicate_of is None
            found += records[2].duplicate_of == "orig"
            tried += 1
    assert found >= 0.8 * tried


def test_similar_but_different_short_complaints_stay_apart():
    records = [rec("a", "手机银行转账一直失败怎么回事"), rec("b", "信用卡还款一直失败怎么回事", 1),
               rec("c", "手机银行登录验证码收不到", 2)]
    Deduper().assign(records)
    assert [r.duplicate_of for r in records] == [None, None, None]


def test_copy_of_a_copy_points_at_the_cluster_root():
    first = POST
    second = POST + "求扩散"
    third = second.replace("暴力催收", "暴力催債") + "！！转发"
    records = [rec("a", first), rec("b", second, 1), rec("c", third, 2)]
    Deduper().assign(records)
    assert [r.duplicate_of for r in records] == [None, "a", "a"]


def test_clusters_across_batches():
    d = Deduper()
    first = [rec("a", POST), rec("b", OTHER)]
    d.assign(first)
    later = [rec("c", OTHER + "！"), rec("d", POST + "[怒]")]
    d.assign(later)
    assert [r.duplicate_of for r in later] == ["b", "a"]


def test_window_expiry():
    d = Deduper(window_hours=72)
    d.assign([rec("a", POST)])
    inside = [rec("b", POST, 71)]
    d.assign(inside)
    assert inside[0].duplicate_of == "a"
    late = [rec("c", OTHER, 200), rec("d", POST, 200.5)]  # "a" and "b" are long gone
    d.assign(late)
    assert late[1].duplicate_of is None
    assert len(d) == 2


def test_out_of_order_record_beyond_window_is_not_matched():
    d = Deduper(window_hours=1)
    records = [rec("a", POST, 10), rec("b", POST, 0)]  # 10 hours apart, window 1 hour
    d.assign(records)
    assert records[1].duplicate_of is None


def test_reassigning_the_same_id_is_not_a_duplicate_of_itself():
    d = Deduper()
    d.assign([rec("a", POST), rec("b", POST + "！", 1)])
    again = [rec("a", POST, 2), rec("b", POST + "！", 2)]
    d.assign(again)
    assert [r.duplicate_of for r in again] == [None, "a"]


def test_short_texts_never_cluster():
    records = [rec("a", "很好用"), rec("b", "很好用", 1), rec("c", "很好用！", 2)]
    Deduper().assign(records)
    assert [r.duplicate_of for r in records] == [None, None, None]
    assert records[0].fingerprint == records[1].fingerprint


def test_distinct_texts_do_not_cluster():
    texts = [POST, OTHER, "手机银行更新以后一直闪退，转账也转不出去，客服电话打不通",
             "房贷利率什么时候能降下来，每个月还款压力太大了", "理财产品到期以后收益比宣传的低了一半"]
    records = [rec(str(i), t, i) for i, t in enumerate(texts)]
    Deduper().assign(records)
    assert all(r.duplicate_of is None for r in records)


def test_seed_with_tuples_matches_near_exact_copies():
    d = Deduper()
    fp = d.fingerprint(POST)
    assert d.seed([("stored", fp, T0), ("bad", "", T0)]) == 1
    records = [rec("new", POST + "[怒]", 1)]
    d.assign(records)
    assert records[0].duplicate_of == "stored"


def test_seed_tuple_with_root_and_seed_with_records():
    d = Deduper()
    stored = rec("s2", POST)
    stored.fingerprint, stored.duplicate_of = d.fingerprint(POST), "s1"
    assert d.seed([stored]) == 1
    records = [rec("new", POST[:20] + POST[21] + POST[20] + POST[22:] + "转发", 1)]  # edited: MinHash path
    d.assign(records)
    assert records[0].duplicate_of == "s1"


def test_texts_argument_and_validation():
    d = Deduper()
    with pytest.raises(ValueError, match="texts has 1 items for 2 records"):
        d.assign([rec("a", POST), rec("b", OTHER)], ["x"])
    with pytest.raises(ValueError):
        Deduper(window_hours=0)
    with pytest.raises(ValueError):
        Deduper(threshold=40)


def test_dedup_key_strips_decoration():
    assert dedup_key("Hello, 世界！[偷笑] 😀 123") == "hello世界123"
