"""The pipeline over real parts: a tiny random transformers model, the shipped taxonomy, the real
Deduper and a real SQLite file. Store failures are real too: a closed SqliteStore refuses writes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from core.errors import PipelineError
from core.record import SENTIMENT_LABELS
from core.settings import load_settings
from indexer import SqliteStore
from nlp.dedup import Deduper
from voc.pipeline import STAGES, Pipeline, build_pipeline, seed_deduper
from voc.spool import retry_spool

ANGRY = "江南银行手机银行今晚转账失败三次，钱被扣了对方没收到，客服电话一直打不进去，必须给个说法！"


def make_pipeline(classifier: Any, tagger: Any, store: Any, tmp_path: Path, **kw: Any) -> Pipeline:
    return Pipeline(classifier, tagger, Deduper(window_hours=72), store, progress=False,
                    spool_dir=tmp_path / "spool", **kw)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = SqliteStore(tmp_path / "voc.db")
    yield store
    store.close()


def test_records_are_classified_tagged_and_stored(classifier, tagger, store, record, tmp_path) -> None:
    html = '在江南银行办了信用卡 <span class="url-icon"><img alt="[怒]" src="//x/d.png"></span>'
    records = [record(html, "1"), record("江南行的手机银行总是闪退", "2"),
               record("招商银行的理财还不错", "3")]
    report = make_pipeline(classifier, tagger, store, tmp_path, batch_size=2).run(records)

    assert (report.received, report.stored, report.rejected, report.spooled) == (3, 3, [], [])
    assert set(report.seconds) == set(STAGES) and all(v >= 0 for v in report.seconds.values())
    stored = store.get(records[0].id)
    assert stored is not None
    assert stored.text == html  # the original text is kept; only the models see the normalized one
    assert stored.sentiment is not None and stored.sentiment.label in SENTIMENT_LABELS
    assert stored.sentiment.model == classifier.version
    assert abs(sum(stored.sentiment.scores.values()) - 1) < 1e-4
    assert stored.fingerprint is not None and len(stored.fingerprint) == 16
    banks = [e for e in stored.entities if e["type"] == "bank"]
    assert banks and banks[0]["ours"] is True
    for entity in stored.entities:  # offsets point into the original text
        assert stored.text[entity["start"]:entity["end"]] == entity["text"]
    alias = store.get(records[1].id)
    assert alias is not None and any(e["canonical"] == "江南银行" and e["ours"] for e in alias.entities)
    assert alias.topics, "the shipped taxonomy tags 手机银行 闪退"


def test_invalid_records_are_rejected_with_reasons_and_the_batch_goes_on(
        classifier, tagger, store, record, tmp_path) -> None:
    good = record("网点排队两个小时，只开了一个窗口", "good")
    empty = record('<a href="https://t.cn/x"></a>   ', "empty")
    bad_kind = record("正常的一条", "bad-kind")
    bad_kind.kind = "tweet"  # mutated after construction, as a careless spider might
    report = make_pipeline(classifier, tagger, store, tmp_path).run([empty, good, {"text": "x"}, bad_kind])

    assert report.received == 4 and report.stored == 1
    reasons = dict(report.rejected)
    assert set(reasons) == {empty.id, "#3", bad_kind.id}
    assert "empty" in reasons[empty.id]
    assert "not a Feedback" in reasons["#3"]
    assert "tweet" in reasons[bad_kind.id]
    assert store.get(good.id) is not None and store.get(empty.id) is None


def test_near_duplicates_are_counted_and_linked(classifier, tagger, store, record, tmp_path) -> None:
    tails = ["", "！", " 转发"]
    copies = [record(ANGRY + tail, f"c{i}", hours_ago=1 - i / 60) for i, tail in enumerate(tails)]
    other = record("请问江南银行周六营业吗，想去办一张借记卡", "other")
    report = make_pipeline(classifier, tagger, store, tmp_path).run(copies + [other])

    assert report.duplicates == 2
    assert store.get(copies[2].id).duplicate_of == copies[0].id
    assert store.get(other.id).duplicate_of is None


def test_running_twice_stores_each_record_once(classifier, tagger, store, record, tmp_path) -> None:
    records = [record(f"第{i}条：江南银行信用卡额度调整了", str(i)) for i in range(5)]
    pipeline = make_pipeline(classifier, tagger, store, tmp_path)
    pipeline.run(records)
    pipeline.run(records)
    assert store.total() == 5


def test_a_failing_store_spools_the_batch_and_retry_replays_it(
        classifier, tagger, record, tmp_path) -> None:
    db = tmp_path / "voc.db"
    broken = SqliteStore(db)
    broken.close()  # a real failure: every upsert now raises StoreUnavailable
    records = [record(f"江南银行手机银行第{i}次登录失败", str(i)) for i in range(3)]
    report = make_pipeline(classifier, tagger, broken, tmp_path, batch_size=2, chunk_size=2).run(records)

    assert report.stored == 0 and len(report.spooled) == 3 and len(report.spool_files) == 2
    assert all("closed" in reason for _, reason in report.spooled)
    lines = [json.loads(line) for f in report.spool_files for line in Path(f).read_text("utf-8").splitlines()]
    assert {line["record"]["id"] for line in lines} == {r.id for r in records}
    assert all(line["record"]["sentiment"]["label"] in SENTIMENT_LABELS and line["error"] for line in lines)

    still_down = retry_spool(broken, tmp_path / "spool")
    assert (still_down.replayed, still_down.remaining) == (0, 3)
    assert len(list((tmp_path / "spool").glob("*.jsonl"))) >= 1  # kept for the next try

    with SqliteStore(db) as store:
        replay = retry_spool(store, tmp_path / "spool")
        assert (replay.replayed, replay.remaining, replay.errors) == (3, 0, [])
        assert store.total() == 3
        assert store.get(records[0].id).sentiment is not None  # the understanding came along
    assert list((tmp_path / "spool").glob("*.jsonl")) == []


def test_unreadable_spool_lines_are_kept_aside(tmp_path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "x.jsonl").write_text("{not json\n", encoding="utf-8")
    with SqliteStore(tmp_path / "voc.db") as store:
        report = retry_spool(store, spool)
    assert report.errors and "unreadable" in report.errors[0]
    assert (spool / "x.bad").read_text("utf-8") == "{not json\n"


def test_seeded_deduper_sees_copies_of_stored_records(classifier, tagger, store, record, tmp_path) -> None:
    first = record(ANGRY, "first", hours_ago=3)
    make_pipeline(classifier, tagger, store, tmp_path).run([first])
    deduper = Deduper(window_hours=72)
    assert seed_deduper(deduper, store, window_hours=72) == 1
    later = Pipeline(classifier, tagger, deduper, store, progress=False, spool_dir=tmp_path / "spool")
    copy = record(ANGRY + "！！", "copy", hours_ago=1)
    assert later.run([copy]).duplicates == 1
    assert store.get(copy.id).duplicate_of == first.id


def test_build_pipeline_from_settings(tiny_model_dir, record, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={"VOC_NLP__MODEL_PATH": str(tiny_model_dir),
                                  "VOC_STORE__PATH": str(tmp_path / "s.db")})
    pipeline = build_pipeline(settings, progress=False)
    try:
        report = pipeline.run([record("江南银行的客服态度很好", "a")])
        assert report.stored == 1 and pipeline.store.total() == 1
    finally:
        pipeline.store.close()
    assert (tmp_path / "s.db").exists()


def test_batch_size_must_be_positive(classifier, tagger, store, tmp_path) -> None:
    with pytest.raises(PipelineError):
        make_pipeline(classifier, tagger, store, tmp_path, batch_size=0)


def test_bank_sources_read_short_bank_names_as_banks(tagger):
    from voc.pipeline import about_banking

    text = "民生这次做得不错"
    assert about_banking("appstore") and about_banking("survey:wjx")
    assert not about_banking("weibo") and not about_banking("rss:jrj")
    in_app = tagger.tag(text, banking=about_banking("appstore"))
    on_weibo = tagger.tag(text, banking=about_banking("weibo"))
    assert [e["canonical"] for e in in_app.entities if e["type"] == "bank"] == ["民生银行"]
    assert not [e for e in on_weibo.entities if e["type"] == "bank"]


def test_edited_taxonomy_from_settings_reaches_the_tagger(tmp_path, monkeypatch):
    """A PR team edits a copy of the taxonomy and points `[nlp] taxonomy` at it: no code change."""
    import nlp.tagging
    from voc.pipeline import load_tagger

    shipped = Path(nlp.tagging.__file__).with_name("taxonomy.toml")
    edited = tmp_path / "taxonomy.toml"
    edited.write_text(
        shipped.read_text(encoding="utf-8")
        + '\n[topics."数字人民币"]\nkeywords = ["数字人民币", "数币钱包"]\n', encoding="utf-8")
    monkeypatch.setenv("VOC_NLP__TAXONOMY", str(edited))
    text = "数币钱包开不了，客服说等通知"
    assert "数字人民币" in load_tagger(load_settings()).tag(text).topics
    monkeypatch.delenv("VOC_NLP__TAXONOMY")
    assert "数字人民币" not in load_tagger(load_settings()).tag(text).topics


def test_a_failing_stage_surfaces(classifier, store, record, tmp_path) -> None:
    class Broken:
        def tag(self, text: str, banking: bool = False) -> Any:
            raise RuntimeError("tagger exploded")

    pipeline = make_pipeline(classifier, Broken(), store, tmp_path)
    with pytest.raises(RuntimeError, match="tagger exploded"):
        pipeline.run([record("手机银行闪退", "b1")])


def test_an_over_long_comment_is_stored_whole_and_read_as_head_and_tail(classifier, tagger, store, record,
                                                                       tmp_path) -> None:
    """Issue 14, item 6: a 3.5-million-character paste is kept whole in the store; the models, dedup
    and the tagger read a bounded part of it, and meta says so (bench/huge_comment.py: peak RSS)."""
    from voc.pipeline import MODEL_CHARS

    huge = record(ANGRY * 80_000, "huge")
    small = record(ANGRY, "small", hours_ago=2)
    report = make_pipeline(classifier, tagger, store, tmp_path).run([small, huge])
    assert report.stored == 2 and not report.rejected
    stored = store.get(huge.id)
    assert stored.text == ANGRY * 80_000
    assert stored.meta["text_truncated_for_models"] == len(ANGRY) * 80_000
    assert all(e["end"] <= MODEL_CHARS for e in stored.entities)
    assert "手机银行" in stored.topics  # tagged from its head
    assert "text_truncated_for_models" not in store.get(small.id).meta


def test_mask_store_keeps_no_personal_number_and_offsets_stay_true(classifier, tagger, store, record,
                                                                     tmp_path) -> None:
    text = "江南银行信用卡被盗刷，我的电话13812345678，卡号6222020200112233445"
    kept = make_pipeline(classifier, tagger, store, tmp_path).run([record(text, "kept")])
    masked = make_pipeline(classifier, tagger, store, tmp_path, mask_store=True).run(
        [record(text, "masked")])
    assert kept.stored == masked.stored == 1
    assert store.get(record(text, "kept").id).text == text  # [privacy] keep_original = true
    stored = store.get(record(text, "masked").id)
    assert "13812345678" not in stored.text and "6222020200112233445" not in stored.text
    bank = next(e for e in stored.entities if e["type"] == "bank")
    assert stored.text[bank["start"]:bank["end"]] == bank["text"] == "江南银行"


def test_a_store_down_when_the_run_starts_spools_everything(tiny_model_dir, record, tmp_path,
                                                            monkeypatch) -> None:
    """Issue 14, item 7: the deduper's seeding read failed and `voc import` exited with nothing
    spooled. Now the run goes on unseeded and every batch reaches the spool."""
    monkeypatch.setenv("VOC_NLP__MODEL_PATH", str(tiny_model_dir))
    monkeypatch.setenv("VOC_APP__VAR_DIR", str(tmp_path / "var"))
    down = SqliteStore(tmp_path / "voc.db")
    down.close()  # every call now raises StoreUnavailable, the seeding search first
    pipeline = build_pipeline(load_settings(None, env=dict(os.environ)), store=down, progress=False)
    report = pipeline.run([record(f"江南银行第{i}次转账失败", f"d{i}") for i in range(3)])
    assert report.stored == 0 and len(report.spooled) == 3
    assert all(Path(f).is_relative_to(tmp_path / "var" / "spool") for f in report.spool_files)


def test_times_no_store_can_hold_are_rejected_with_their_reason(classifier, tagger, store, record,
                                                                tmp_path) -> None:
    from datetime import UTC, datetime

    old = record("1900年的评论", "old")
    old.created_at = datetime(1900, 1, 1, tzinfo=UTC)
    good = record("正常的评论", "good")
    report = make_pipeline(classifier, tagger, store, tmp_path).run([old, good])
    assert report.stored == 1 and not report.spooled
    assert report.rejected == [(old.id, "created_at 1900-01-01T00:00:00+00:00 is outside 1970–2262")]
