"""The console over real HTTP: a real uvicorn on a loopback port over a real SQLite store
(support.web_server). Logins, roles, CSRF, the login limiter, API tokens and their revocation, the
security headers, the JSON API's shape, escaping, masking and the audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from support.web_server import PASSWORDS, console

from core.record import Feedback, Sentiment

NOW = datetime.now(UTC).replace(microsecond=0)
NEG = {"negative": 0.9, "neutral": 0.05, "positive": 0.05}


def rec(i: int, text: str, *, source: str = "appstore", topics: tuple[str, ...] = ("手机银行",),
        hours: float = 1, label: str = "negative", dup: str | None = None) -> Feedback:
    return Feedback(id=f"w{i:04d}", source=source, kind="review", text=text,
                    created_at=NOW - timedelta(hours=hours), url=f"https://apps.example/r/{i}",
                    sentiment=Sentiment(label, NEG, "test"), topics=list(topics), duplicate_of=dup)


RECORDS = [rec(1, "手机银行转账失败，客服电话 13812345678 打不通"),
           rec(2, "<script>alert(1)</script> <img src=x onerror=alert(2)> 闪退", hours=2),
           rec(3, "信用卡额度被降了", topics=("信用卡",), source="tousu", hours=3),
           rec(4, "手机银行转账失败，客服电话 13812345678 打不通！", dup="w0001", hours=0.5),
           rec(5, "理财收益还行", topics=("理财/基金/存款利率",), label="positive", hours=30)]


@pytest.fixture
def web(tmp_path):
    with console(tmp_path, RECORDS, ingest=False) as running:
        yield running


def test_pages_need_a_login_and_the_api_a_credential(web):
    client = web.client()
    reply = client.get("/search?q=转账")
    assert reply.status == 303 and reply.headers["location"].startswith("/login?next=/search")
    assert client.get("/api/search?q=转账").status == 401
    assert client.get("/healthz").status == 200
    assert client.login("viewer").status == 303
    assert client.get("/search?q=转账").status == 200


def test_session_cookie_and_security_headers(web):
    client = web.client()
    login = client.login("viewer")
    cookie = login.headers["set-cookie"]
    assert "voc_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # [web] https is off here
    page = client.get("/")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text.split("</head>")[1]  # no inline script in the body
    assert 'style="' not in page.text


def test_a_write_without_the_csrf_token_is_refused(web):
    client = web.client()
    client.login("operator")
    assert client.post("/alerts/silence", {"target": "incident:x", "duration": "1h"}).status == 403
    assert client.post("/alerts/silence", {"target": "x:y", "csrf_token": "forged"}).status == 403
    assert client.post("/api/crawl", json_body={"source": "appstore"}).status == 403
    token = client.csrf("/alerts")
    ok = client.post("/alerts/silence", {"target": "negative_spike_topic:topic=手机银行",
                                         "duration": "1h", "csrf_token": token})
    assert ok.status == 303
    assert "negative_spike_topic:topic=手机银行" in web.store.list_state("silence")
    # the login form has its own token
    assert client.post("/login", {"username": "viewer", "password": PASSWORDS["viewer"]}).status == 403


def test_wrong_passwords_are_rate_limited(web):
    client = web.client()
    for _ in range(web.settings.web.login_attempts):
        assert client.login("operator", "wrong-password").status == 401
    limited = client.login("operator")  # even the right password waits now
    assert limited.status == 429 and int(limited.headers["retry-after"]) > 0
    assert "请" in limited.text and "秒后再试" in limited.text
    other = web.client()
    assert other.login("viewer").status == 303  # another user is not held back
    actions = [e["action"] for e in json.loads(_as_admin(web).get("/api/audit").text)]
    assert actions.count("login_failed") == web.settings.web.login_attempts and "login_limited" in actions


def _as_admin(web):
    client = web.client()
    assert client.login("admin").status == 303
    return client


def test_bearer_token_works_until_revoked(web, capsys, monkeypatch):
    from voc.cli import main

    monkeypatch.setenv("VOC_STORE__PATH", str(web.settings.store.path))
    assert main(["users", "token", "operator"]) == 0
    token = capsys.readouterr().out.strip()
    client = web.client()
    auth = {"Authorization": f"Bearer {token}"}
    reply = client.get("/api/search?q=转账失败&limit=5", headers=auth)
    assert reply.status == 200
    data = reply.json()
    assert data["total"] == 2 and {"id", "text", "source", "kind", "sentiment", "created_at", "url"} <= set(
        data["hits"][0])
    assert "13812345678" not in reply.text and "138****5678" in reply.text  # masked on the way out
    assert main(["users", "token", "operator", "--revoke"]) == 0
    assert client.get("/api/search?q=转账失败", headers=auth).status == 401


def test_roles_are_checked_on_the_server(web):
    viewer = web.client()
    viewer.login("viewer")
    token = viewer.csrf("/sources")
    assert "重新采集" not in viewer.get("/sources").text
    assert viewer.post("/api/crawl", json_body={"source": "appstore"},
                       headers={"X-CSRF-Token": token}).status == 403
    assert viewer.post("/sources/crawl", {"source": "appstore", "csrf_token": token}).status == 403
    assert viewer.get("/admin/users").status == 403
    operator = web.client()
    operator.login("operator")
    token = operator.csrf("/sources")
    accepted = operator.post("/api/crawl", json_body={"source": "appstore"}, headers={"X-CSRF-Token": token})
    assert accepted.status == 202 and accepted.json()["state"] == "queued"
    job = operator.get(f"/api/jobs/{accepted.json()['id']}").json()
    assert job["source"] == "appstore" and job["requested_by"] == "operator"
    assert operator.post("/api/crawl", json_body={"source": "nope"},
                         headers={"X-CSRF-Token": token}).status == 400


def test_hostile_text_is_escaped_and_copies_fold(web):
    client = web.client()
    client.login("viewer")
    page = client.get("/records/w0002").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    hits = client.get("/search?q=转账失败").text
    assert hits.count('class="hit"') == 1 and "另有 1 条相似" in hits  # the copy folded under its first post
    assert "<mark>转账失败</mark>" in hits
    assert "138****5678" in hits and "13812345678" not in hits


def test_search_filters_paging_and_csv(web):
    client = web.client()
    client.login("viewer")
    data = client.get("/api/search?topic=信用卡").json()
    assert [h["id"] for h in data["hits"]] == ["w0003"]
    data = client.get("/api/search?source=appstore&sentiment=negative").json()
    assert data["total"] == 3
    assert client.get("/api/search?sentiment=angry").status == 400
    csv_reply = client.get("/search.csv?q=转账失败")
    assert csv_reply.headers["content-type"].startswith("text/csv")
    lines = csv_reply.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("id,created_at,source") and len(lines) == 3


def test_label_correction_is_exported_for_training(web, capsys, monkeypatch):
    from voc.cli import main

    client = web.client()
    client.login("operator")
    token = client.csrf("/records/w0003")
    reply = client.post("/records/w0003/label", {"sentiment": "neutral", "topics": "信用卡,收费/手续费",
                                                 "csrf_token": token})
    assert reply.status == 303
    page = client.get("/records/w0003").text
    assert "人工更正" in page and "operator" in page and "收费/手续费" in page
    monkeypatch.setenv("VOC_STORE__PATH", str(web.settings.store.path))
    assert main(["labels", "export"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["record_id"] == "w0003" and row["label"] == "neutral" and row["model_label"] == "negative"
    assert row["topics"] == ["信用卡", "收费/手续费"] and row["corrected_by"] == "operator"
    assert {"text", "label", "dataset", "domain", "split"} <= set(row)


def test_admin_manages_users_and_reads_the_audit_log(web):
    admin = _as_admin(web)
    token = admin.csrf("/admin/users")
    assert admin.post("/admin/users", {"username": "pr-li", "password": "pr-li-pass-1", "role": "viewer",
                                       "csrf_token": token}).status == 303
    assert admin.post("/admin/users/pr-li", {"role": "operator", "action": "role",
                                             "csrf_token": token}).status == 303
    li = web.client()
    assert li.login("pr-li", "pr-li-pass-1").status == 303
    assert "操作员" in li.get("/").text
    audit = admin.get("/admin/audit").text
    assert "user_add" in audit and "user_role" in audit and "pr-li" in audit
    assert admin.post("/admin/users/pr-li", {"action": "disable", "csrf_token": token}).status == 303
    assert li.get("/").status == 303  # the disabled user's session ended


def test_trusted_user_header_is_off_by_default_and_checked_when_on(tmp_path):
    with console(tmp_path / "off", RECORDS, ingest=False) as web:
        assert web.client().get("/", headers={"X-Remote-User": "admin"}).status == 303  # ignored
    with console(tmp_path / "on", RECORDS, ingest=False,
                 env={"VOC_WEB__TRUSTED_USER_HEADER": "X-Remote-User"}) as web:
        client = web.client()
        page = client.get("/", headers={"X-Remote-User": "viewer"})
        assert page.status == 200 and "viewer" in page.text
        assert client.get("/", headers={"X-Remote-User": "intruder"}).status == 403
        # a write still needs a session's CSRF token: the proxy's header alone changes nothing
        reply = client.post("/alerts/silence", {"target": "a:b"}, headers={"X-Remote-User": "admin"})
        assert reply.status == 403
        # the proxy's user gets a session with the pages (and so a CSRF token): writes work then
        admin = web.client()
        page = admin.get("/alerts", headers={"X-Remote-User": "operator"})
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        reply = admin.post("/alerts/silence", {"target": "a:b", "duration": "1h", "csrf_token": token},
                           headers={"X-Remote-User": "operator"})
        assert reply.status == 303 and "a:b" in web.store.list_state("silence")


def test_search_by_calibrated_negative_score_and_the_scored_incident_link(web):
    """`min_negative` keeps records whose P(negative) reaches it (what a rule with negative_score
    counts), round-trips through paging links, is checked; a scored incident's page links to it."""
    from alerts.incidents import Incident, IncidentBook

    client = web.client()
    client.login("viewer")
    assert client.get("/api/search?min_negative=0.5").json()["total"] == 5  # all at 0.9
    assert client.get("/api/search?min_negative=0.95").json()["total"] == 0
    for bad in ("2", "x", "-0.1"):
        assert client.get(f"/api/search?min_negative={bad}").status == 400
    page = client.get("/search?min_negative=0.5&size=2").text
    assert 'name="min_negative" value="0.5"' in page and "min_negative=0.5" in page
    opened = NOW - timedelta(hours=2)
    incident = Incident(id="inc-scored", title="手机银行 负面（含疑似） 1 小时 12 条，基线 2",
                        opened_at=opened, updated_at=opened, severity="warning",
                        lead="spike:topic=手机银行",
                        keys={"spike:topic=手机银行": {"rule": "spike", "key": "topic=手机银行",
                                                    "negative_score": 0.2}})
    IncidentBook(web.store).save(incident)
    html = client.get("/incidents/inc-scored").text
    assert "/search?min_negative=0.2&amp;since=" in html and "负面（含疑似）评论" in html
