"""`voc demo` end to end with the REAL shipped sentiment model, in a fresh working directory:
bundled data → importers → pipeline → SQLite → alert rules → .eml in the outbox → summary."""

from __future__ import annotations

import email
import email.header
import email.policy
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "nlp" / "model"

pytestmark = pytest.mark.skipif(
    not (MODEL / "config.json").is_file(),
    reason="the shipped sentiment model (nlp/model/) is not there yet: make model")


def test_demo_runs_end_to_end_and_fires_the_incident_alert(tmp_path, monkeypatch, capsys) -> None:
    from indexer import SqliteStore
    from indexer.store import Filters
    from voc.cli import main

    monkeypatch.chdir(tmp_path)
    for name in ("VOC_SETTINGS", "VOC_STORE__PATH", "VOC_NLP__MODEL_PATH", "VOC_NOTIFY__OUTBOX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VOC_STORE__PATH", str(tmp_path / "elsewhere.db"))  # the demo ignores it
    stale = tmp_path / "var" / "demo" / "voc.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an old demo store that must be replaced")

    code = main(["demo", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert summary["store"] == "var/demo/voc.db" and not (tmp_path / "elsewhere.db").exists()

    # The alert for the 手机银行 incident was written as an email into the demo outbox.
    emls = sorted((tmp_path / "var" / "demo" / "outbox").glob("*.eml"))
    assert emls, f"no alert email; alerts={summary['alerts']} errors={summary['alert_errors']}"
    assert {Path(a["eml"]).name for a in summary["alerts"]} == {p.name for p in emls}
    # One incident, one message: the 手机银行 spike leads, every other rule's firing rides along.
    [message] = summary["alerts"]
    assert message["rule"] == "negative_spike_topic" and message["key"] == "topic=手机银行"
    assert message["incident"] and message["related"] >= 5
    [path] = emls
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert "手机银行" in str(msg["Subject"]) and msg["X-VOC-Incident"] == message["incident"]
    text = msg.get_body(("plain",)).get_content()
    # the most reposted post of the window leads the evidence; no Kibana link on the embedded store
    clusters = text.split("转发最多的帖子")[1].split("代表性原帖")[0]
    assert "1. [" in clusters and "位作者" in clusters.splitlines()[1]
    assert "localhost:5601" not in text and "查看数据：voc search" in text

    # Satisfaction: the branch survey's CSAT by branch, its key drivers (the generator makes 等候时间
    # weigh most), every response once.
    sat = summary["satisfaction"]
    # every response, the 29 that wrote no open answer too (they make no record)
    branch = summary["imported"]["branch_survey"]
    assert sum(g["n"] for g in sat["by_branch"]["groups"]) == branch["rows"] > branch["records"]
    assert sat["key_drivers"]["drivers"][0]["question"].endswith("等候时间满意度（1-5分）")

    # The summary agrees with the store it describes.
    with SqliteStore(tmp_path / "var" / "demo" / "voc.db") as store:
        total = store.total()
        assert summary["by_source"]["total"] == total == summary["pipeline"]["stored"]
        imported = summary["imported"]
        assert total == (imported["survey"]["records"] + imported["branch_survey"]["records"]
                         + imported["posts"]["records"])
        assert sum(g["count"] for g in summary["by_source"]["groups"]) == total
        sources = {g["key"] for g in summary["by_source"]["groups"]}
        assert sources >= {"appstore", "weibo", "tousu", "survey:wjx"}
        sentiment = {g["key"]: g["count"] for g in summary["sentiment"]["groups"]}
        assert sum(sentiment.values()) == total
        assert sentiment["negative"] == store.total(Filters(sentiment=("negative",)))
        assert sentiment["neutral"] > 0 and sentiment["positive"] > 0
        assert summary["pipeline"]["duplicates"] == total - store.total(Filters(distinct_clusters=True))
        assert summary["pipeline"]["duplicates"] > 0  # the reposted angry post
        # every firing is in the history, each with the incident it belongs to
        assert len(store.alerts()) == 1 + message["related"]
        assert {a["incident"] for a in store.alerts()} == {message["incident"]}



def test_demo_onset_finds_the_bundled_incident_posts() -> None:
    """bench/demo_onset.py knows the incident by its URLs: the 160 posts of the last six
    hours of the bundled posts.jsonl, and no background post."""
    import sys
    from datetime import datetime, timedelta

    sys.path.insert(0, str(ROOT / "bench"))
    from demo_onset import incident_urls

    urls = incident_urls()
    posts = [json.loads(line) for line in (ROOT / "demo" / "posts.jsonl").read_text("utf-8").splitlines()]
    end = max(datetime.fromisoformat(p["created_at"]) for p in posts)
    chosen = [p for p in posts if p["url"] in urls]
    assert len(urls) == len(chosen) == 160
    assert all(end - datetime.fromisoformat(p["created_at"]) <= timedelta(hours=6) for p in chosen)
    assert {p["kind"] for p in chosen} == {"post", "review", "complaint"}  # no news item
    background = [p for p in posts if p["url"] not in urls]
    assert len(background) == 1840 and len({p["url"] for p in posts}) == 2000
