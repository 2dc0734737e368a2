"""The alert email as a PR reader sees it: its HTML rendered in headless Chromium (Debian's
`chromium`), the inline chart included. From the rendered page: the summary sentence and the most
copied post are visible, and the text is set in a CJK sans-serif font stack."""

from __future__ import annotations

import base64
from datetime import timedelta

from support.alerts import HOUR, NOW, fill, hourly_history, record, spread
from support.browser import chromium

from alerts import OutboxNotifier, build_message, build_rule, run_rules
from alerts.render.view import summary_for


def _html_with_chart(message) -> str:
    """The HTML part with its cid: image inlined as a data: URL, as a mail client shows it."""
    msg = build_message(message, "voc@bank.example", ["pr@bank.example"])
    html, png = "", b""
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            html = part.get_content()
        elif part.get_content_type() == "image/png":
            png, cid = part.get_content(), part["Content-ID"].strip("<>")
    assert html and png
    return html.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(png).decode())


def test_rendered_email_shows_the_summary_and_the_top_cluster(store, tmp_path):
    fill(store, hourly_history(NOW - HOUR, 7 * 24, 4))
    viral = record(NOW - 20 * HOUR, text="江南银行手机银行转账失败，钱扣了没到账，必须给个说法")
    fill(store, [viral, *spread(NOW - HOUR, 30)])
    copies = [record(NOW - HOUR + i * timedelta(minutes=6), text=viral.text + "，同样", duplicate_of=viral.id)
              for i in range(8)]
    for i, c in enumerate(copies):
        c.author = f"u{i}"
    fill(store, copies)
    rule = build_rule({"name": "spike", "type": "negative_spike", "group_by": ["topic"], "baseline_weeks": 1})
    [message] = run_rules([rule], store, [OutboxNotifier(tmp_path / "outbox")], NOW).fired
    page = tmp_path / "email.html"
    page.write_text(_html_with_chart(message), encoding="utf-8")
    from selenium.webdriver.common.by import By

    with chromium() as browser:
        browser.get(page.as_uri())
        summary = browser.find_element(By.ID, "summary")
        assert summary.is_displayed() and summary.text == summary_for(message)
        top = browser.find_element(By.CSS_SELECTOR, "#clusters tr:first-child")
        assert top.is_displayed() and "转账失败，钱扣了没到账" in top.text and "×8" in top.text
        assert "8 位作者" in top.text and "原帖早于时间窗" in top.text
        chart = browser.find_element(By.TAG_NAME, "img")
        assert browser.execute_script("return arguments[0].naturalWidth", chart) > 0  # it loaded
        font = browser.execute_script("return getComputedStyle(document.body).fontFamily")
        assert "Noto Sans CJK SC" in font and font.rstrip().endswith("sans-serif")
        browser.save_screenshot(str(tmp_path / "email.png"))
    assert (tmp_path / "email.png").stat().st_size > 10_000
