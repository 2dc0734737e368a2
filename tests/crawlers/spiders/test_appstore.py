"""appstore spider: parsing our own feeds in Apple's shape, the real saved pages, and real crawls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scrapy.http import TextResponse
from support.http_server import serve

from core.record import Feedback
from crawlers.spiders.appstore import AppStoreSpider, feed_entries

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "fixtures" / "appstore"
JSON = {"Content-Type": "application/json; charset=utf-8"}
APP = "1234567890"


def entry(n: int, rating: int = 2, day: int = 10) -> dict:
    return {"author": {"name": {"label": f"用户{n}"}, "uri": {"label": f"https://itunes.apple.com/cn/reviews/id{n}"}},
            "im:version": {"label": "6.1.0"}, "im:rating": {"label": str(rating)},
            "id": {"label": str(9000 + n)}, "title": {"label": f"标题{n}"},
            "content": {"label": f"江南银行手机银行第{n}次转账失败，闪退", "attributes": {"type": "text"}},
            "link": {"attributes": {"rel": "related", "href": f"https://itunes.apple.com/cn/review?id={APP}"}},
            "im:voteSum": {"label": "1"}, "im:voteCount": {"label": "2"},
            "updated": {"label": f"2026-06-{day:02d}T08:00:00-07:00"}}


def feed(entries: object = None, *, with_entry: bool = True) -> bytes:
    body: dict = {"author": {"name": {"label": "iTunes Store"}},
                  "updated": {"label": "2026-06-20T09:00:00-07:00"},
                  "title": {"label": "iTunes Store: Customer Reviews"}, "id": {"label": "x"}}
    if with_entry:
        body["entry"] = entries
    return json.dumps({"feed": body}, ensure_ascii=False).encode()


def page_path(page: int, cc: str = "cn", app: str = APP) -> str:
    return f"/{cc}/rss/customerreviews/page={page}/id={app}/sortby=mostrecent/json"


APP_META = {"im:name": {"label": "江南银行"}, "id": {"label": APP}}  # old feeds: app metadata first


def spider(**kwargs: str) -> AppStoreSpider:
    return AppStoreSpider(settings_options={"app_ids": [APP]}, **kwargs)


def parse(sp: AppStoreSpider, body: bytes, page: int = 1) -> list:
    response = TextResponse(url="https://itunes.apple.com" + page_path(page), body=body, headers=JSON)
    return list(sp.parse(response, app_id=APP, country="cn", page=page))


def test_entries_single_object_missing_and_metadata() -> None:
    assert [e["id"]["label"] for e in feed_entries({"entry": entry(1)})] == ["9001"]
    assert feed_entries({}) == []
    assert [e["id"]["label"] for e in feed_entries({"entry": [APP_META, entry(2)]})] == ["9002"]


def test_parse_keeps_rating_version_title_and_requests_next_page() -> None:
    out = parse(spider(), feed([APP_META, entry(1, rating=1), entry(2, rating=4)]))
    records = [o for o in out if isinstance(o, Feedback)]
    assert [(r.rating, r.title, r.meta["version"]) for r in records] == [(1.0, "标题1", "6.1.0"),
                                                                         (4.0, "标题2", "6.1.0")]
    assert records[0].created_at.isoformat() == "2026-06-10T15:00:00+00:00"
    assert records[0].author == "用户1" and records[0].kind == "review" and records[0].source == "appstore"
    assert [o.url for o in out if not isinstance(o, Feedback)] == ["https://itunes.apple.com" + page_path(2)]


def test_page_without_entry_and_depth_error_end_paging() -> None:
    assert parse(spider(), feed(with_entry=False)) == []
    assert parse(spider(), b"CustomerReviews RSS page depth is limited to 10", page=11) == []


def test_last_allowed_page_does_not_ask_for_more() -> None:
    out = parse(spider(max_pages="50"), feed([entry(1)]), page=10)
    assert all(isinstance(o, Feedback) for o in out) and len(out) == 1


def test_since_until_window() -> None:
    sp = spider(since="2026-06-09", until="2026-06-11")
    out = parse(sp, feed([entry(1, day=12), entry(2, day=10), entry(3, day=5)]))
    assert [o.meta["review_id"] for o in out if isinstance(o, Feedback)] == ["9002"]
    assert not [o for o in out if not isinstance(o, Feedback)]  # older than since: paging stops


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared fixtures absent")
def test_real_saved_pages() -> None:
    page5 = parse(spider(), (SHARED / "497799835_cn_5.json").read_bytes(), page=5)
    records = [o for o in page5 if isinstance(o, Feedback)]
    assert len(records) == 50 and all(r.rating in (1, 2, 3, 4, 5) for r in records)
    assert all(r.meta["time_from"] == "feed" for r in records)  # 2021 entries carry no own time
    assert len({r.id for r in records}) == 50
    ratings = [r.rating for r in records]
    assert ratings.count(1.0) == 30
    assert parse(spider(), (SHARED / "1510826067_gb_2.json").read_bytes(), page=2) == []
    assert parse(spider(), (SHARED / "empty_page.json").read_bytes()) == []
    assert parse(spider(), (SHARED / "555731861_us_11.json").read_bytes(), page=11) == []
    single = json.loads((SHARED / "1510826067_gb_1.json").read_bytes())
    assert len(feed_entries(single["feed"])) == len(single["feed"]["entry"])


def test_crawl_end_to_end_then_recrawl_adds_nothing(crawl) -> None:
    routes = {page_path(1): (200, JSON, feed([APP_META, entry(1, day=14), entry(2, day=13)])),
              page_path(2): (200, JSON, feed(entry(3, day=12))),  # a single entry as an object
              page_path(3): (200, JSON, feed(with_entry=False)),
              "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private\n")}
    tables = {"appstore": {"app_ids": [APP], "countries": ["cn"]}}
    with serve(routes) as (base, log):
        first = crawl("appstore", {"base_url": base}, tables=tables)
        again = crawl("appstore", {"base_url": base}, tables=tables)
    assert (first.status, first.count("new"), first.count("pages")) == ("ok", 3, 3), first.to_dict()
    assert [s.path for s in log[:4]] == ["/robots.txt", page_path(1), page_path(2), page_path(3)]
    agent = log[1].headers["User-Agent"]
    assert "voc-monitor" in agent and "crawl-test@example.org" in agent
    assert again.status == "ok" and again.count("new") == 0 and again.count("pages") == 1
    store = crawl.store()
    try:
        assert store.total() == 3
        stored = store.search("第3次").items[0]
        assert (stored.rating, stored.title, stored.meta["version"]) == (2.0, "标题3", "6.1.0")
        assert stored.sentiment is not None
        health = store.get_state("crawl_health", "appstore")
        assert health["status"] == "ok" and health["sources"] == ["appstore"]
        assert store.get_state("cursor", f"appstore:{APP}:cn")["ids"][0] == "9001"
    finally:
        store.close()


def test_max_ten_pages(crawl) -> None:
    def answer(seen):
        page = int(seen.path.split("page=")[1].split("/")[0])
        if page > 10:
            return 200, {"Content-Type": "text/plain"}, b"CustomerReviews RSS page depth is limited to 10"
        return 200, JSON, feed([entry(page * 10 + i, day=20 - page) for i in range(2)])
    with serve(answer) as (base, log):
        result = crawl("appstore", {"base_url": base, "app_id": "777", "max_pages": "99"})
    pages = [s.path for s in log if "customerreviews" in s.path]
    assert result.status == "ok" and len(pages) == 10 and result.count("new") == 20


def test_456_is_blocked_in_health(crawl) -> None:
    with serve({page_path(1): (456, {"Content-Type": "text/html"}, b"<html>blocked</html>")}) as (base, _):
        result = crawl("appstore", {"base_url": base, "app_id": APP})
    assert result.status == "blocked" and result.exit_code == 3 and "456" in result.reason
    store = crawl.store()
    try:
        health = store.get_state("crawl_health", "appstore")
        assert health["status"] == "blocked" and health["new"] == 0
        assert store.get_state("cursor", f"appstore:{APP}:cn") is None
    finally:
        store.close()
