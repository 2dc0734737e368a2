"""The console's satisfaction page over a real uvicorn: the CSAT table by branch (escaped, small
groups flagged), the JSON twin with the trend, and headless Chromium drawing the trend chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.browser import chromium, login, wait_for
from support.web_server import PASSWORDS, console

from core.record import Feedback, Sentiment, make_id

NOW = datetime.now(UTC).replace(microsecond=0)


def answers() -> list[Feedback]:
    out = []
    for i in range(80):
        branch = "鼓楼支行" if i % 2 else "<b>西湖</b>支行"
        rating = 5.0 if (i % 2 == 0 or i % 3 == 0) else 2.0
        out.append(Feedback(
            id=make_id("survey:wjx", native_id=f"s:{i}"), source="survey:wjx", kind="survey",
            text="排队太久" if rating < 3 else "很好", created_at=NOW - timedelta(days=i), rating=rating,
            sentiment=Sentiment("neutral", {"negative": .3, "neutral": .4, "positive": .3}, "t"),
            topics=["排队等候"] if rating < 3 else [],
            meta={"survey_id": "s", "line": i + 2, "choices": {"1、您办理业务的网点": branch,
                                                             "3、总体满意度（1-5分）": str(int(rating))}}))
    return out


def test_satisfaction_page_table_json_and_chart(tmp_path):
    from selenium.webdriver.common.by import By

    with console(tmp_path, answers(), ingest=False) as web:
        client = web.client()
        client.login("viewer")
        page = client.get("/satisfaction?by=branch").text
        assert "&lt;b&gt;西湖&lt;/b&gt;支行" in page and "<b>西湖</b>" not in page
        data = client.get("/api/satisfaction?by=branch").json()
        rows = {g["key"]["branch"]: g for g in data["table"]["groups"]}
        assert rows["<b>西湖</b>支行"]["csat"] == 1.0 and rows["<b>西湖</b>支行"]["n"] == 40
        gulou = rows["鼓楼支行"]
        assert gulou["n"] == 40 and abs(gulou["csat"] - 13 / 40) < 1e-9  # i odd and divisible by 3
        assert [g["key"]["month"] for g in data["trend"]] == sorted(g["key"]["month"] for g in data["trend"])
        assert data["drivers"][0]["name"] == "排队等候" and data["drivers"][0]["gap"] < 0
        assert client.get("/api/satisfaction?by=shoe").status == 400
        with chromium() as browser:
            login(browser, web.url, "viewer", PASSWORDS["viewer"])
            browser.get(web.url + "/satisfaction")
            chart = "[data-chart=satisfaction] canvas"
            wait_for(browser, lambda: browser.find_elements(By.CSS_SELECTOR, chart))
            assert "鼓楼支行" in browser.find_element(By.ID, "csat").text
