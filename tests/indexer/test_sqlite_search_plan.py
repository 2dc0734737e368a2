"""How the SQLite store searches at scale (`_sqlite_search`, `_sqlite_grams`), checked against an
oracle over the records: one- and two-character terms from the bigram index find exactly what a
substring test finds; the total stops at the cap and says so, the page stays the newest matches
either side of it; totals without terms or side filters stay exact; a version-3 file gets the
bigram index at open; each thread reads on its own connection, beside a write in progress."""

from __future__ import annotations

import random
import sqlite3
import threading
from datetime import timedelta

import pytest
from support.store_records import T0, build_record

from indexer import SqliteStore
from indexer import _sqlite_search as plan
from indexer._sqlite_grams import gram_match, tokens
from indexer._sqlite_schema import SCHEMA_VERSION
from indexer.store import COUNT_CAP, Filters, SearchPage
from nlp.normalize import fold_for_search, search_text

ALPHABET = "闪退转账失败信用卡贷款AaBb1 ,.%_！，"  # CJK, ASCII letters/digits/punctuation, full-width
SOURCES = ("appstore", "weibo", "tousu")
TOPICS = ("信用卡", "信用卡/年费", "手机银行", "贷款")
CAP = 40  # the cap these tests run under: both sides of it with a few hundred records


def _records(n: int = 400, seed: int = 3):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12)))
        title = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 4))) or None
        out.append(build_record(
            text, title=title, key=str(i), at=T0 - timedelta(minutes=7 * i + rng.randint(0, 6)),
            source=rng.choice(SOURCES), label=rng.choice(("negative", "neutral", "positive")),
            topics=rng.sample(TOPICS, rng.randint(0, 2))))
    return out


def _holds(record, term: str) -> bool:
    """The oracle: a substring of what a person sees of title or text, folded, ASCII case aside."""
    seen = [search_text(record.title or ""), search_text(record.text)]
    return any(term.lower() in s.lower() for s in seen)


def _meets(record, f: Filters) -> bool:
    return ((not f.sources or record.source in f.sources)
            and (not f.sentiment or record.sentiment.label in f.sentiment)
            and (not f.topics or any(t == w or t.startswith(w + "/") for t in record.topics
                                     for w in f.topics)))


def _oracle(records, query: str, f: Filters) -> list[str]:
    terms = fold_for_search(query).split()
    found = [r for r in records if _meets(r, f) and all(_holds(r, t) for t in terms)]
    return [r.id for r in sorted(found, key=lambda r: r.created_at, reverse=True)]


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    records = _records()
    store = SqliteStore(tmp_path_factory.mktemp("plan") / "voc.db")
    store.upsert(records)
    yield store, records
    store.close()


@pytest.fixture
def capped(monkeypatch):
    monkeypatch.setattr(plan, "COUNT_CAP", CAP)


QUERIES = [("闪", Filters()), ("闪退", Filters()), ("a", Filters()), ("Ab", Filters()), ("1", Filters()),
           ("！", Filters()), ("退，", Filters()), ("%", Filters()), ("a%", Filters()), ("_", Filters()),
           ("信用卡", Filters()), ("账 失", Filters()), ("贷", Filters(sources=("tousu",))),
           ("", Filters(topics=("信用卡",))), ("", Filters(sources=("weibo",), sentiment=("negative",))),
           ("卡", Filters(topics=("贷款",), sentiment=("neutral",))), ("", Filters()),
           ("不在", Filters())]


@pytest.mark.parametrize("query, filters", QUERIES)
def test_every_page_is_the_newest_matches_and_the_total_says_if_it_stopped(filled, capped, query, filters):
    store, records = filled
    want = _oracle(records, query, filters)
    got: list[str] = []
    for page in range(1, len(records) // 15 + 2):
        found = store.search(query, filters, page=page, size=15)
        has_terms_or_sides = bool(query.split() or filters.topics)
        if len(want) > CAP and has_terms_or_sides:
            assert (found.total, found.total_capped) == (CAP, True)
        else:  # exact: below the cap, or from the roll-ups (no terms, no side filters)
            assert (found.total, found.total_capped) == (len(want), False)
        got.extend(r.id for r in found.items)
        if len(found.items) < 15:
            break
    assert got == want


def test_the_test_data_has_both_sides_of_the_cap(filled):
    _, records = filled
    sizes = [len(_oracle(records, q, f)) for q, f in QUERIES]
    assert any(n > CAP for n in sizes) and any(0 < n <= CAP for n in sizes) and 0 in sizes


def test_bigram_tokens_and_matches():
    assert tokens("闪退了", "") == "了 退了 闪退"  # every pair, and each run's last character
    assert tokens("a.b", "ab") == "a ab b"  # ASCII punctuation ends a run; title and text apart
    assert gram_match("闪退") == '"闪退"' and gram_match("贷") == '"贷"*'
    assert gram_match("5%") is None and gram_match("信用卡") is None and gram_match("") is None


def test_updates_keep_the_bigram_index_in_step(tmp_path):
    store = SqliteStore(tmp_path / "voc.db")
    store.upsert([build_record("手机银行闪退", key="a"), build_record("转账", key="b")])
    store.upsert([build_record("登录不上", key="a")])
    assert store.search("闪退").total == 0 and store.search("登录").total == 1
    assert store.search("闪").total == 0 and store.search("上").total == 1
    store.upsert([build_record("<b>闪退</b>", key="b")])  # the visible text, not the markup
    assert [r.text for r in store.search("闪退").items] == ["<b>闪退</b>"]
    assert store.search("b").total == 0
    store._conn.execute("INSERT INTO grams (grams, rank) VALUES ('integrity-check', 0)")
    store.close()


def test_a_version_3_file_gets_the_bigram_index_at_open(tmp_path, caplog):
    path = tmp_path / "old.db"
    records = _records(60)
    with SqliteStore(path) as store:
        store.upsert(records)
    with sqlite3.connect(path) as conn:  # the version-3 layout: no pairs, no (source, sentiment) index
        conn.execute("DROP TABLE grams")
        conn.execute("DROP INDEX feedback_source_sentiment")
        conn.execute("PRAGMA user_version=3")
    with SqliteStore(path) as upgraded:
        assert upgraded._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        for query in ("闪", "退", "信用", "a", "Ab"):
            found = upgraded.search(query, size=100).items
            assert [r.id for r in found] == _oracle(records, query, Filters())
        assert upgraded._conn.execute("SELECT name FROM sqlite_master WHERE name = "
                                      "'feedback_source_sentiment'").fetchone()
    assert "upgrading schema 3 -> 5" in caplog.text


def test_the_contract_additions():
    assert COUNT_CAP == 10_000 and SearchPage(total=3, items=[]).total_capped is False


def test_each_thread_reads_on_its_own_connection_beside_a_write(tmp_path):
    store = SqliteStore(tmp_path / "voc.db")
    store.upsert([build_record("手机银行闪退", key="a")])
    inside, release, seen = threading.Event(), threading.Event(), {}

    def writer() -> None:
        with store._db("test", write=True) as conn:  # a write transaction held open
            conn.execute("DELETE FROM state")
            seen["writer"] = conn
            inside.set()
            release.wait(10)

    def reader() -> None:
        seen["reader"] = store._conn
        seen["found"] = store.search("闪退").total  # must not wait for the writer

    w = threading.Thread(target=writer)
    w.start()
    assert inside.wait(10)
    r = threading.Thread(target=reader)
    r.start()
    r.join(10)
    done = not r.is_alive()
    release.set()
    w.join(10)
    assert done, "a search waited behind a write in another thread"
    assert seen["found"] == 1 and seen["reader"] is not seen["writer"] is not store._conn
    store.close()
    with pytest.raises(Exception, match="closed"):
        seen["reader"].execute("SELECT 1")  # close() closed every thread's connection
