"""The console's cases pages over a real uvicorn and a real SQLite store: the list masks the
contact, the case page shows it to an operator only, an operator walks a case through its statuses
with CSRF-checked forms (each change in the history and the audit log), a viewer may not change a
case, and the JSON twins answer the same."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from support.web_server import console

from care.cases import CaseBook
from core.record import Feedback


def test_cases_in_the_console(tmp_path: Path) -> None:
    record = Feedback(id="r1", source="tousu", kind="complaint", text="信用卡被盗刷 <script>x</script>",
                      created_at=datetime(2025, 11, 3, 1, tzinfo=UTC))
    with console(tmp_path, records=[record], ingest=False) as web:
        case = CaseBook.from_settings(web.settings, web.store).open(
            "信用卡被盗刷", team="信用卡中心", severity="critical", by="routing", now=datetime.now(UTC),
            records=["r1"], contact={"name": "张先生", "phone": "13812345678"})
        viewer, operator = web.client(), web.client()
        assert viewer.get("/cases").status == 303  # not logged in: to /login
        viewer.login("viewer")
        operator.login("operator")

        listing = viewer.get("/cases")
        assert listing.status == 200 and case.id in listing.text and "工单" in listing.text
        assert "13812345678" not in listing.text and "138****5678" in listing.text
        assert "13812345678" not in viewer.get(f"/cases/{case.id}").text  # a viewer sees it masked
        page = operator.get(f"/cases/{case.id}")
        assert "13812345678" in page.text and "&lt;script&gt;" in page.text and "<script>x" not in page.text
        api = viewer.get("/api/cases").json()
        assert api["total"] == 1 and api["cases"][0]["contact"]["phone"] == "138****5678"

        token = operator.csrf(f"/cases/{case.id}")
        assert operator.post(f"/cases/{case.id}/status", {"status": "in_progress"}).status == 403  # no CSRF
        for action, form in (("assign", {"assignee": "wang", "team": "信用卡中心"}),
                             ("status", {"status": "in_progress"}), ("note", {"text": "已冻结卡片"}),
                             ("status", {"status": "waiting_customer"}), ("status", {"status": "resolved"}),
                             ("callback", {"channel": "phone", "outcome": "reached", "satisfaction": "5"}),
                             ("status", {"status": "closed", "code": "compensated"})):
            reply = operator.post(f"/cases/{case.id}/{action}", {**form, "csrf_token": token})
            assert reply.status == 303, (action, reply.text)
        refused = operator.post(f"/cases/{case.id}/status", {"status": "resolved", "csrf_token": token})
        assert refused.status == 400 and "can go to open" in refused.text
        assert viewer.post(f"/cases/{case.id}/note", {"text": "x", "csrf_token": viewer.csrf()}).status == 403

        done = operator.get(f"/api/cases/{case.id}").json()
        assert done["status"] == "closed" and done["resolution_code"] == "compensated"
        assert [(h["action"], h.get("to"), h["by"]) for h in done["history"]] == [
            ("open", "open", "routing"), ("assign", None, "operator"), ("status", "in_progress", "operator"),
            ("note", None, "operator"), ("status", "waiting_customer", "operator"),
            ("status", "resolved", "operator"), ("callback", None, "operator"),
            ("status", "closed", "operator")]
        assert done["callbacks"][0]["satisfaction"] == 5
        page = operator.get(f"/cases/{case.id}").text
        assert "已关闭" in page and "已冻结卡片" in page
        opened = operator.post("/api/cases", json_body={"title": "网点排队", "team": "网点运营部"},
                               headers={"X-CSRF-Token": token})
        assert opened.status == 201 and opened.json()["team"] == "网点运营部"
        from web import audit

        actions = [e["action"] for e in audit.entries(web.store, limit=50)]
        assert actions.count("case_status") == 4 and "case_callback" in actions and "case_open" in actions
