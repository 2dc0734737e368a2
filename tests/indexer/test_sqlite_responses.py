"""Survey responses in the SQLite store: `put_responses`, `rating_counts` against counts made here
by plain loops, week and month cut in the display timezone (DST included), the response of a
rated survey record kept by `upsert`, and the version-4 file's state documents moved at open."""

from __future__ import annotations

import json
import random
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.record import Feedback
from indexer.errors import StoreQueryError
from indexer.sqlite import SqliteStore
from indexer.store import Filters, RatingCount

SHANGHAI = ZoneInfo("Asia/Shanghai")


def doc(key: str, at: datetime, rating: float, **segments: str) -> dict:
    return {"key": key, "source": "survey:wjx", "survey_id": "s1", "created_at": at.isoformat(),
            "rating": rating, "scale": [1, 5], "question": "总体满意度", "segments": segments}


def as_counter(rows: list[RatingCount]) -> Counter:
    return Counter({(tuple(sorted(r.key.items())), r.scale, r.rating): r.count for r in rows})


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "voc.db")
    yield s
    s.close()


def test_counts_by_branch_and_month_match_a_plain_count(store):
    rng = random.Random(3)
    start = datetime(2026, 1, 1, tzinfo=SHANGHAI)
    docs, expected = [], Counter()
    for i in range(3000):
        at = start + timedelta(minutes=rng.randrange(200 * 24 * 60))
        branch = rng.choice(["江南银行鼓楼支行", "江南银行西湖支行", None])
        rating = float(rng.randint(1, 5))
        docs.append(doc(f"k{i}", at, rating, **({"branch": branch} if branch else {})))
        month = at.astimezone(SHANGHAI).strftime("%Y-%m")
        expected[((("branch", branch or "(none)"), ("month", month)), (1, 5), rating)] += 1
    assert store.put_responses(docs) == 3000
    assert store.put_responses(docs[:100]) == 100  # again: replaced, not added
    assert as_counter(store.rating_counts(["branch", "month"])) == expected


def test_months_and_weeks_are_cut_at_local_midnight(store):
    # 23:30 on 31 May in Shanghai is 15:30 UTC: May, not June; Sunday 23:59 is the week before Monday.
    store.put_responses([doc("a", datetime(2026, 5, 31, 23, 30, tzinfo=SHANGHAI), 5),
                         doc("b", datetime(2026, 6, 1, 0, 10, tzinfo=SHANGHAI), 1),
                         doc("c", datetime(2026, 6, 7, 23, 59, tzinfo=SHANGHAI), 4),
                         doc("d", datetime(2026, 6, 8, 0, 0, tzinfo=SHANGHAI), 4)])
    months = {r.rating: r.key["month"] for r in store.rating_counts(["month"])}
    assert months == {5.0: "2026-05", 1.0: "2026-06", 4.0: "2026-06"}
    weeks = Counter()
    for r in store.rating_counts(["week"]):
        weeks[r.key["week"]] += r.count
    assert weeks == {"2026-W22": 1, "2026-W23": 2, "2026-W24": 1}  # 1 June 2026 is a Monday


def test_a_dst_timezone_cuts_months_at_its_own_midnight(tmp_path):
    store = SqliteStore(tmp_path / "ny.db", timezone="America/New_York")
    try:
        ny = ZoneInfo("America/New_York")
        # 23:30 on 31 March (EDT, UTC-4) and on 31 October (EDT) and 30 November 23:30 (EST, UTC-5)
        store.put_responses([doc("m", datetime(2026, 3, 31, 23, 30, tzinfo=ny), 5),
                             doc("o", datetime(2026, 10, 31, 23, 30, tzinfo=ny), 4),
                             doc("n", datetime(2026, 11, 30, 23, 30, tzinfo=ny), 3),
                             doc("d", datetime(2026, 12, 1, 0, 30, tzinfo=ny), 2)])
        months = {r.rating: r.key["month"] for r in store.rating_counts(["month"])}
        assert months == {5.0: "2026-03", 4.0: "2026-10", 3.0: "2026-11", 2.0: "2026-12"}
    finally:
        store.close()


def test_filters_and_bad_input(store):
    store.put_responses([doc("a", datetime(2026, 5, 1, tzinfo=UTC), 5),
                         {**doc("b", datetime(2026, 5, 2, tzinfo=UTC), 2), "source": "survey:csv"}])
    only = store.rating_counts([], Filters(sources=("survey:csv",)))
    assert [(r.rating, r.count) for r in only] == [(2.0, 1)]
    assert [d["key"] for d in store.iter_responses(Filters(since=datetime(2026, 5, 2, tzinfo=UTC)))] == ["b"]
    with pytest.raises(StoreQueryError, match="shoe_size"):
        store.rating_counts(["shoe_size"])
    with pytest.raises(StoreQueryError, match="no rating"):
        store.put_responses([doc("c", datetime(2026, 5, 3, tzinfo=UTC), 3),
                             {**doc("d", datetime(2026, 5, 3, tzinfo=UTC), 3), "rating": None}])
    assert [d["key"] for d in store.iter_responses()] == ["a", "b"]  # the batch was refused whole


def test_a_rated_survey_record_keeps_its_response(store):
    at = datetime(2026, 5, 1, 2, tzinfo=UTC)
    meta = {"survey_id": "s1", "line": 7, "response": "survey:wjx:s1:rabc", "scale": [0, 10],
            "rating_question": "推荐意愿（0-10分）", "segments": {"channel": "手机银行"},
            "choices": {"推荐意愿（0-10分）": "9"}}
    answers = [Feedback(id=f"r{k}", source="survey:wjx", kind="survey", text=f"回答{k}", created_at=at,
                        rating=9.0, meta={**meta, "question": f"q{k}"}) for k in range(2)]
    post = Feedback(id="p", source="weibo", kind="post", text="帖子", created_at=at, rating=1.0)
    store.upsert([*answers, post])
    [found] = list(store.iter_responses())
    assert (found["key"], found["scale"], found["question"], found["segments"]) == (
        "survey:wjx:s1:rabc", [0, 10], "推荐意愿（0-10分）", {"channel": "手机银行"})
    assert [(r.key, r.scale, r.count) for r in store.rating_counts(["channel"])] == [
        ({"channel": "手机银行"}, (0, 10), 1)]  # two answers, one response


def test_a_version_4_file_moves_its_response_documents_at_open(tmp_path):
    path = tmp_path / "old.db"
    SqliteStore(path).close()
    kept = {"key": "survey:wjx:s1:3", "source": "survey:wjx", "survey_id": "s1", "line": 3,
            "created_at": "2026-05-01T10:00:00+08:00", "rating": 2.0,
            "choices": {"1、网点": "鼓楼支行", "3、总体满意度（1-5分）": "2"}, "segments": {}}
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE response")
        conn.execute("INSERT INTO state VALUES ('survey_response', ?, ?, 0)",
                     (kept["key"], json.dumps(kept, ensure_ascii=False)))
        conn.execute("PRAGMA user_version=4")
    store = SqliteStore(path)
    try:
        [moved] = list(store.iter_responses())
        assert (moved["key"], moved["question"], moved["segments"]) == (
            "survey:wjx:s1:3", "3、总体满意度（1-5分）", {"branch": "鼓楼支行"})
        assert store.list_state("survey_response") == {}
    finally:
        store.close()


def _plain(docs: list[dict], by: list[str], tz: ZoneInfo, since=None, until=None) -> Counter:
    out: Counter = Counter()
    for d in docs:
        at = datetime.fromisoformat(d["created_at"])
        if (since and at < since) or (until and at >= until):
            continue
        local = at.astimezone(tz)
        key = []
        for name in by:
            if name == "month":
                key.append((name, local.strftime("%Y-%m")))
            elif name == "week":
                year, week, _ = local.isocalendar()
                key.append((name, f"{year}-W{week:02d}"))
            else:
                key.append((name, d["segments"].get(name, "(none)")))
        out[(tuple(sorted(key)), tuple(d["scale"]), float(d["rating"]))] += 1
    return out


def test_roll_ups_and_the_response_rows_give_the_same_counts_through_updates(tmp_path):
    """One grouped text field and day bounds come from the daily roll-ups, anything else from the
    response rows; both equal a plain count, also after responses change branch and rating."""
    rng = random.Random(8)
    start = datetime(2026, 2, 20, 7, 13, tzinfo=UTC)
    docs = []
    for i in range(2000):
        segments = {"branch": rng.choice(["甲支行", "乙支行", "丙支行"]),
                    "channel": rng.choice(["APP", "柜台"])}
        if i % 7 == 0:
            del segments["channel"]
        docs.append({**doc(f"k{i}", start + timedelta(minutes=rng.randrange(90 * 1440)),
                           float(rng.randint(1, 5))), "segments": segments})
    store = SqliteStore(tmp_path / "voc.db")
    try:
        store.put_responses(docs)
        changed = [{**d, "rating": 1.0, "segments": {"branch": "丁支行"}} for d in docs[:300]]
        store.put_responses(changed)
        docs = changed + docs[300:]
        midnight = datetime(2026, 3, 10, tzinfo=SHANGHAI)
        odd = datetime(2026, 3, 10, 9, 30, tzinfo=SHANGHAI)
        for by, since in ((["branch", "month"], None), (["channel", "week"], midnight), (["month"], None),
                          (["branch", "channel", "month"], None), (["branch"], odd)):
            found = store.rating_counts(by, Filters(since=since))
            assert as_counter(found) == _plain(docs, by, SHANGHAI, since=since), (by, since)
    finally:
        store.close()
    again = SqliteStore(tmp_path / "voc.db", timezone="America/New_York")  # roll-ups rebuilt for it
    try:
        ny = ZoneInfo("America/New_York")
        assert as_counter(again.rating_counts(["branch", "month"])) == _plain(docs, ["branch", "month"], ny)
    finally:
        again.close()
