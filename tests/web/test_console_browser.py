"""The console in headless Chromium (Debian's chromium + chromium-driver, support.browser) against
a real uvicorn over a real SQLite store: log in, search, hostile text stays text, a viewer has no
re-crawl button, an operator re-crawls a loopback App Store replay and watches the job reach done,
a survey upload reports its bad row's line number, a label correction reaches `voc labels export`."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.browser import chromium, wait_for
from support.browser import login as sign_in
from support.http_server import serve
from support.web_server import PASSWORDS, console

from core.record import Feedback, Sentiment

NOW = datetime.now(UTC).replace(microsecond=0)
NEG = {"negative": 0.9, "neutral": 0.05, "positive": 0.05}
EVIL = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\"> 闪退了"
RECORDS = [
    Feedback(id="b0001", source="appstore", kind="review", text="江南银行手机银行转账失败三次",
             created_at=NOW - timedelta(hours=1), url="https://apps.example/r/1",
             sentiment=Sentiment("negative", NEG, "test"), topics=["手机银行"]),
    Feedback(id="b0002", source="tousu", kind="complaint", text=EVIL, created_at=NOW - timedelta(hours=2),
             sentiment=Sentiment("negative", NEG, "test"), topics=["手机银行/闪退"]),
]


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


def _by():
    from selenium.webdriver.common.by import By

    return By


def login(browser, web, name: str) -> None:
    sign_in(browser, web.url, name, PASSWORDS[name])


def test_log_in_search_and_hostile_text_stays_text(tmp_path, browser):
    By = _by()
    with console(tmp_path, RECORDS, ingest=False) as web:
        browser.get(web.url + "/search?q=转账")
        assert "/login" in browser.current_url  # not logged in: the login page
        login(browser, web, "viewer")
        browser.get(web.url + "/search")
        box = browser.find_element(By.ID, "q")
        box.send_keys("转账失败")
        browser.find_element(By.ID, "go").click()
        wait_for(browser, lambda: "转账失败" in browser.find_element(By.ID, "hits").text)
        [hit] = browser.find_elements(By.CSS_SELECTOR, "li.hit")
        assert "b0001" in hit.text and hit.find_element(By.TAG_NAME, "mark").text == "转账失败"
        browser.get(web.url + "/records/b0002")
        text = browser.find_element(By.CSS_SELECTOR, "li.hit .text").text
        assert "<script>document.title='pwned'</script>" in text and "onerror" in text
        assert browser.title != "pwned" and "pwned" not in browser.title
        assert browser.find_elements(By.CSS_SELECTOR, "li.hit .text img") == []
        assert browser.find_elements(By.CSS_SELECTOR, "li.hit .text script") == []


def test_a_viewer_has_no_recrawl_button(tmp_path, browser):
    By = _by()
    with console(tmp_path, RECORDS, ingest=False) as web:
        web.store.put_state("crawl_health", "appstore", {"spider": "appstore", "sources": ["appstore"],
                                                         "status": "ok", "finished_at": NOW.isoformat(),
                                                         "items": 3, "new": 3})
        login(browser, web, "viewer")
        browser.get(web.url + "/sources")
        assert "App Store" in browser.find_element(By.ID, "sources").text
        assert browser.find_elements(By.CSS_SELECTOR, "button.recrawl") == []
        client = web.client()
        client.login("viewer")
        token = client.csrf("/sources")
        assert client.post("/api/crawl", json_body={"source": "appstore"},
                           headers={"X-CSRF-Token": token}).status == 403


APP = "1234567890"
JSON = {"Content-Type": "application/json; charset=utf-8"}


def _feed(entries: list[dict] | None) -> bytes:
    body: dict = {"updated": {"label": "2026-06-20T09:00:00-07:00"}, "id": {"label": "x"}}
    if entries is not None:
        body["entry"] = entries
    return json.dumps({"feed": body}, ensure_ascii=False).encode()


def _entry(n: int) -> dict:
    when = (NOW - timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return {"author": {"name": {"label": f"用户{n}"}}, "im:version": {"label": "6.1.0"},
            "im:rating": {"label": "1"}, "id": {"label": str(7000 + n)}, "title": {"label": f"标题{n}"},
            "content": {"label": f"江南银行手机银行第{n}次闪退", "attributes": {"type": "text"}},
            "updated": {"label": when}}


def _page(n: int) -> str:
    return f"/cn/rss/customerreviews/page={n}/id={APP}/sortby=mostrecent/json"


def test_an_operator_recrawls_and_watches_the_job_finish(tmp_path, browser, monkeypatch):
    """The button queues a job in the store; a worker (crawlers.jobs.work, as `voc worker` runs it)
    picks it up and runs the real crawl against a loopback App Store replay; the job page follows it
    to done with the new records' count."""
    from crawlers import jobs

    By = _by()
    routes = {_page(1): (200, JSON, _feed([_entry(1), _entry(2)])), _page(2): (200, JSON, _feed(None))}
    with serve(routes) as (base, _log):
        settings_file = tmp_path / "settings.toml"
        settings_file.write_text(
            f'[app]\nvar_dir = "{tmp_path / "var"}"\n[bank]\nname = "江南银行"\n'
            f'[store]\nbackend = "sqlite"\npath = "{tmp_path / "voc.db"}"\n'
            f'[crawl.defaults]\ncontact = "test@example.org"\ndelay = 0\nautothrottle = false\n'
            f'retry_times = 1\nbackoff = 0.1\n'
            f'[crawl.appstore]\napp_ids = ["{APP}"]\ncountries = ["cn"]\nbase_url = "{base}"\n',
            encoding="utf-8")
        monkeypatch.setenv("VOC_SETTINGS", str(settings_file))
        with console(tmp_path, RECORDS, ingest=False) as web:
            web.store.put_state("crawl_health", "appstore", {
                "spider": "appstore", "sources": ["appstore"], "status": "blocked",
                "reason": "HTTP 403", "finished_at": NOW.isoformat(), "items": 0, "new": 0})
            stop = threading.Event()
            worker = threading.Thread(target=jobs.work, args=(web.store,), daemon=True,
                                      kwargs={"var_dir": tmp_path / "var", "worker": "test-worker",
                                              "poll": 0.3, "stop": stop})
            worker.start()
            try:
                login(browser, web, "operator")
                browser.get(web.url + "/sources")
                row = browser.find_element(By.CSS_SELECTOR, 'tr[data-source="appstore"]')
                assert "被封禁" in row.text and "HTTP 403" in row.text
                row.find_element(By.CSS_SELECTOR, "button.recrawl").click()
                wait_for(browser, lambda: "/jobs/" in browser.current_url)
                wait_for(browser, lambda: browser.find_element(By.ID, "job-state").text == "done", timeout=90)
                assert browser.find_element(By.ID, "job-new").text == "2"
                assert browser.find_element(By.ID, "job-status").text == "ok"
                assert "appstore" in browser.find_element(By.ID, "job-log").text
            finally:
                stop.set()
                worker.join(timeout=30)
            assert web.store.get("appstore:7001") is not None or web.store.total() == len(RECORDS) + 2


def test_a_survey_upload_names_the_bad_row(tmp_path, browser):
    By = _by()
    export = tmp_path / "survey.csv"
    export.write_text("序号,提交答卷时间,您对手机银行满意吗,意见建议\n"
                      "1,2026/6/1 10:00:00,满意,转账很快\n"
                      "2,不是时间,不满意,登录老是失败\n"
                      "3,2026/6/1 11:00:00,不满意,客服电话打不进去\n", encoding="utf-8")
    with console(tmp_path, RECORDS) as web:
        login(browser, web, "operator")
        browser.get(web.url + "/surveys")
        browser.find_element(By.ID, "upload-file").send_keys(str(export))
        browser.find_element(By.ID, "upload").click()
        wait_for(browser, lambda: browser.find_elements(By.ID, "result"))
        result = browser.find_element(By.ID, "result").text
        assert "第 3 行" in result, result  # the header is line 1, the bad response line 3
        assert "导入 2 条意见" in browser.find_element(By.ID, "upload-summary").text


def test_a_label_correction_reaches_the_export(tmp_path, browser, capsys, monkeypatch):
    from selenium.webdriver.support.ui import Select

    from voc.cli import main

    By = _by()
    with console(tmp_path, RECORDS, ingest=False) as web:
        login(browser, web, "operator")
        browser.get(web.url + "/records/b0001")
        Select(browser.find_element(By.ID, "label-sentiment")).select_by_value("neutral")
        browser.find_element(By.ID, "label-save").click()
        wait_for(browser, lambda: browser.find_elements(By.ID, "correction"))
        assert "neutral" in browser.find_element(By.ID, "correction").text
        monkeypatch.setenv("VOC_STORE__PATH", str(Path(web.settings.store.path)))
        monkeypatch.delenv("VOC_SETTINGS", raising=False)
        assert main(["labels", "export"]) == 0
        [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert (row["record_id"], row["label"], row["model_label"]) == ("b0001", "neutral", "negative")
