"""The SQLite store searches what a person sees (issue 16, item 6): the visible text of Weibo HTML,
folded like the query (traditional → simplified, full-width → half-width); the record keeps its
text as written; a version-2 file (its index over the stored markup) is re-indexed at open; an
upsert says what was new, updated or unchanged and writes nothing for the unchanged."""

from __future__ import annotations

import sqlite3

import pytest

from indexer import SqliteStore
from indexer._sqlite_schema import SCHEMA_VERSION

IMG = '<img src="https://h5.sinaimg.cn/m/emoticon/icon/default/d_xixi-0a2ec7.png" alt="[嘻嘻]">'
WEIBO = f'手机银行转账失败{IMG}，<a href="https://m.weibo.cn/search?q=%23转账%23">#转账#</a>'

# The v2 layout: the index over body's stored title and text, markup included.
V2_FTS = """
CREATE VIRTUAL TABLE fts USING fts5(title, text, content='body', content_rowid='rid', tokenize='trigram');
CREATE TRIGGER body_ai AFTER INSERT ON body BEGIN
    INSERT INTO fts (rowid, title, text) VALUES (new.rid, new.title, new.text);
END;
CREATE TRIGGER body_ad AFTER DELETE ON body BEGIN
    INSERT INTO fts (fts, rowid, title, text) VALUES ('delete', old.rid, old.title, old.text);
END;
CREATE TRIGGER body_au AFTER UPDATE ON body BEGIN
    INSERT INTO fts (fts, rowid, title, text) VALUES ('delete', old.rid, old.title, old.text);
    INSERT INTO fts (rowid, title, text) VALUES (new.rid, new.title, new.text);
END;
INSERT INTO fts (fts) VALUES ('rebuild');
PRAGMA user_version=2;
"""


def integrity(store: SqliteStore) -> None:
    """FTS5's own check that the index matches its content (the visible text), row for row, and
    that the bigram index is sound (contentless: FTS5 cannot compare it with the text; the search
    tests do)."""
    store._conn.execute("INSERT INTO fts (fts, rank) VALUES ('integrity-check', 1)")
    store._conn.execute("INSERT INTO grams (grams, rank) VALUES ('integrity-check', 0)")


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "voc.db")
    yield s
    s.close()


def test_markup_is_not_searched_the_visible_text_is(store, make):
    post = make(WEIBO, source="weibo", kind="post")
    store.upsert([post, make("图片在这里：sinaimg.cn 是新浪的图床", key="plain")])
    assert [r.id for r in store.search("sinaimg").items] == [make("x", key="plain").id]
    assert store.search("img").total == 1 and store.search("src").total == 0
    assert store.search("rc").total == 0  # the 1-2 character scan reads the visible text too
    assert store.search("[嘻嘻]").total == 1 and store.search("失败[嘻嘻]，#转账#").total == 1
    assert store.get(post.id).text == WEIBO  # the record keeps its text as written
    integrity(store)


@pytest.mark.parametrize("query", ["轉賬失敗", "转账失败", "轉賬", "ＡＴＭ机", "atm机", "ATM機 转账"])
def test_the_query_is_folded_as_the_texts_are(store, make, query):
    store.upsert([make("ATM机转账失败", key="simplified"), make("ＡＴＭ機轉賬失敗", key="traditional"),
                  make("今天天气不错", key="other")])
    assert store.search(query).total == 2, query


def test_title_is_searched_by_its_visible_text_too(store, make):
    store.upsert([make("正文", title="<b>信用卡</b>年費")])
    assert store.search("信用卡年费").total == 1 and store.search("<b>").total == 0


def test_updates_keep_the_index_in_step(store, make):
    store.upsert([make(WEIBO, key="a")])
    store.upsert([make("没有图片了", key="a")])
    assert store.search("嘻嘻").total == 0 and store.search("没有图片").total == 1
    store.upsert([make(WEIBO, key="a", title="標題")])
    assert store.search("嘻嘻").total == 1 and store.search("标题").total == 1
    integrity(store)


def test_upsert_says_new_updated_and_unchanged(store, make):
    batch = [make("手机银行闪退", key="1"), make(WEIBO, key="2"), make("信用卡", key="3")]
    first = store.upsert(batch)
    assert (first.stored, first.created, first.updated, first.unchanged) == (3, 3, 0, 0)
    again = store.upsert(batch)
    assert (again.stored, again.created, again.updated, again.unchanged) == (3, 0, 0, 3)
    assert again.counted
    changed = [make("手机银行闪退", key="1", label="negative"), make(WEIBO, key="2"),
               make("新的", key="4")]
    third = store.upsert(changed)
    assert (third.created, third.updated, third.unchanged) == (1, 1, 1)
    assert store.get(changed[0].id).sentiment.label == "negative"
    assert store.total() == 4
    integrity(store)


def test_an_unchanged_record_is_not_written(store, make):
    record = make("手机银行闪退", topics=["手机银行"])
    store.upsert([record])
    store._conn.execute("CREATE TRIGGER refuse BEFORE UPDATE ON feedback BEGIN "
                        "SELECT RAISE(ABORT, 'an unchanged record was rewritten'); END")
    assert store.upsert([record]).unchanged == 1  # no UPDATE ran
    held = store._conn.execute("SELECT SUM(n) FROM roll").fetchone()[0]
    assert held == 1 and store.counts(record.created_at, record.created_at.replace(year=2027))[0].count == 1


def _as_version_2(path) -> None:
    """Turn a current file into the version-2 layout: no search columns, the index over body."""
    with sqlite3.connect(path) as conn:
        for name in ("body_ai", "body_ad", "body_au"):
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP TABLE fts")
        conn.execute("DROP TABLE grams")  # version 4's, like the index below
        conn.execute("DROP INDEX feedback_source_sentiment")
        conn.execute("DROP VIEW body_search")
        conn.execute("ALTER TABLE body DROP COLUMN search_title")
        conn.execute("ALTER TABLE body DROP COLUMN search_text")
        conn.executescript(V2_FTS)


def test_a_version_2_file_is_reindexed_over_the_visible_text_at_open(tmp_path, make, caplog):
    path = tmp_path / "old.db"
    records = [make(WEIBO, key=str(i), source="weibo") for i in range(5)]
    records += [make("ＡＴＭ機轉賬失敗", key="t"), make("普通的评论", key="p")]
    with SqliteStore(path) as store:
        store.upsert(records)
    _as_version_2(path)
    with sqlite3.connect(path) as conn:  # what version 2 found: the markup
        assert conn.execute("SELECT rowid FROM fts WHERE fts MATCH '\"sinaimg\"'").fetchall()
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    with SqliteStore(path) as upgraded:
        assert upgraded._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        assert upgraded.search("sinaimg").total == 0
        assert upgraded.search("嘻嘻").total == 5 and upgraded.search("转账失败").total == 6
        assert upgraded.search("轉賬").total == 6 and upgraded.search("普通").total == 1
        assert upgraded.search("嘻").total == 5 and upgraded.search("rc").total == 0  # the pairs too
        assert {r.id: r for r in upgraded.get_many([r.id for r in records]).values()} == {
            r.id: r for r in records}
        assert upgraded.upsert(records).unchanged == len(records)
        integrity(upgraded)
    assert "upgrading schema 2 -> 5" in caplog.text
