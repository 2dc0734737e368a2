"""The README's screenshots, made from the demo: an alert as a PR reader gets it, and the console.

    .venv/bin/python docs/screenshots.py        # writes docs/img/*.png

Runs the demo (offline, bundled data) into a temporary folder, takes its incident's message from
the outbox and the send journal, and renders in headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by Selenium; nothing is downloaded):

- the email's HTML part as a mail client shows it, its inline chart included;
- the WeCom robot markdown of the same message, drawn as a chat bubble (headings, bold, quotes,
  links and WeCom's <font color> as the robot renders them; everything else as plain text).

- the web console over the demo's store (a real uvicorn on a loopback port, logged in as an
  operator): the overview, a search for 转账失败, and the sources page.

The PNGs are reduced to a 256-colour palette so a re-run adds little to the history.
"""

from __future__ import annotations

import base64
import email
import html
import re
import sys
import tempfile
from email import policy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

OUT = ROOT / "docs" / "img"
WIDTH = 820
WECOM_COLORS = {"warning": "#ff8c00", "info": "#2e7d32", "comment": "#888"}


def email_page(eml: Path) -> str:
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    page, images = "", {}
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            page = part.get_content()
        elif part.get_content_maintype() == "image":
            images[part["Content-ID"].strip("<>")] = part.get_content()
    for cid, png in images.items():
        page = page.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(png).decode())
    return page


def _inline(line: str) -> str:
    line = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", line)
    line = re.sub(r"`([^`]*)`", r"<code>\1</code>", line)
    line = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', line)
    return re.sub(r"&lt;font color=&quot;(\w+)&quot;&gt;(.*?)&lt;/font&gt;",
                  lambda m: f'<span style="color:{WECOM_COLORS.get(m[1], "#333")}">{m[2]}</span>', line)


def chat_page(markdown: str) -> str:
    """The robot markdown as WeCom draws it, in a chat bubble."""
    rows = []
    for raw in markdown.split("\n"):
        line = html.escape(raw, quote=True)
        if line.startswith("### "):
            rows.append(f"<h3>{_inline(line[4:])}</h3>")
        elif line.startswith("&gt; "):
            rows.append(f'<p class="quote">{_inline(line[5:])}</p>')
        elif line.strip():
            rows.append(f"<p>{_inline(line)}</p>")
    return f"""<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><style>
body {{ background:#ededed; margin:0; padding:24px;
       font-family:'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif; }}
.who {{ color:#888; font-size:13px; margin:0 0 6px 56px; }}
.row {{ display:flex; gap:12px; }}
.avatar {{ width:44px; height:44px; border-radius:6px; background:#3a7bd5; color:#fff;
          font-weight:bold; display:flex; align-items:center; justify-content:center; }}
.bubble {{ background:#fff; border-radius:8px; padding:10px 16px; max-width:640px; font-size:14px;
          line-height:1.55; color:#222; word-break:break-all; }}
.bubble h3 {{ font-size:16px; margin:4px 0 8px; }} .bubble p {{ margin:4px 0; }}
.quote {{ color:#666; border-left:3px solid #ccc; padding-left:8px; }}
a {{ color:#2a6ebb; text-decoration:none; }} code {{ background:#f3f3f3; padding:0 3px; }}
</style></head><body><p class="who">舆情监测机器人</p><div class="row"><div class="avatar">VOC</div>
<div class="bubble">{''.join(rows)}</div></div></body></html>"""


def shoot(page: str, target: Path, work: Path) -> None:
    from support.browser import chromium

    source = work / (target.stem + ".html")
    source.write_text(page, encoding="utf-8")
    with chromium(width=WIDTH, height=900) as browser:
        capture(browser, source.as_uri(), target, work)


def capture(browser: object, url: str, target: Path, work: Path, width: int = WIDTH,
            wait: float = 0.0) -> None:
    import time

    from PIL import Image
    from selenium.webdriver.common.by import By

    browser.get(url)  # type: ignore[attr-defined]
    time.sleep(wait)  # charts drawn by script
    for _ in range(2):  # the second pass measures with the fonts laid out at the final size
        height = browser.execute_script("return document.documentElement.scrollHeight")  # type: ignore[attr-defined]
        browser.set_window_size(width, min(int(height) + 120, 4000))  # type: ignore[attr-defined]
    browser.find_element(By.TAG_NAME, "body").screenshot(str(work / "shot.png"))  # type: ignore[attr-defined]
    image = Image.open(work / "shot.png").convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    print(f"{target.relative_to(ROOT)}  {image.width}x{image.height}  {target.stat().st_size // 1024} KiB")


def main() -> int:
    from alerts.alert import Alert
    from alerts.render.markdown import WECOM_LIMIT, alert_markdown
    from alerts.state import SEND_JOURNAL
    from indexer import SqliteStore
    from voc.demo import run_demo

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        summary = run_demo(work / "demo", progress=False)
        [message] = summary["alerts"]
        shoot(email_page(Path(message["eml"])), OUT / "alert-email.png", work)
        with SqliteStore(summary["store"]) as store:
            entry = store.get_state(SEND_JOURNAL, message["id"])
        assert entry is not None, "the demo's message is not in the send journal"
        alert = Alert.from_dict(entry["alert"])
        shoot(chat_page(alert_markdown(alert, None, "wecom", WECOM_LIMIT)), OUT / "alert-wecom.png", work)
        console_shots(Path(summary["store"]), work)
        case_shots(Path(summary["store"]), work)
    return 0


def console_shots(db: Path, work: Path) -> None:
    """The console over the demo's store: overview, a search, the sources and satisfaction pages."""
    import shutil

    from selenium.webdriver.common.by import By
    from support.browser import chromium
    from support.web_server import PASSWORDS, console

    home = work / "console"
    home.mkdir()
    for suffix in ("", "-wal", "-shm"):  # a copy of the demo store, its incidents and crawl health too
        if Path(f"{db}{suffix}").exists():
            shutil.copy(f"{db}{suffix}", home / f"voc.db{suffix}")
    with console(home, ingest=False) as web, chromium(width=1280, height=900) as browser:
        browser.get(web.url + "/login")
        browser.find_element(By.NAME, "username").send_keys("operator")
        browser.find_element(By.NAME, "password").send_keys(PASSWORDS["operator"])
        browser.find_element(By.ID, "login").click()
        for path, name, wait in (("/", "console-overview", 1.5), ("/search?q=转账失败", "console-search", 0),
                                 ("/sources", "console-sources", 0),
                                 ("/satisfaction?by=branch", "console-satisfaction", 1.5)):
            capture(browser, web.url + path, OUT / f"{name}.png", work, width=1280, wait=wait)


def case_shots(db: Path, work: Path) -> None:
    """The console's cases (工单) over a copy of the demo's store: the list of the cases the demo
    opened, and one of them after an operator assigned it, noted it and recorded its 回访."""
    import shutil
    from datetime import UTC, datetime

    from selenium.webdriver.common.by import By
    from support.browser import chromium
    from support.web_server import PASSWORDS, console

    from care.cases import CaseBook

    home = work / "cases"
    home.mkdir()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{db}{suffix}").exists():
            shutil.copy(f"{db}{suffix}", home / f"voc.db{suffix}")
    with console(home, ingest=False) as web, chromium(width=1280, height=900) as browser:
        book = CaseBook.from_settings(web.settings, web.store)
        case = next(c for c in book.all() if c.rating_before is not None)
        now = datetime.now(UTC)
        book.assign(case.id, by="operator", now=now, assignee="王敏")
        book.move(case.id, "in_progress", by="operator", now=now)
        book.note(case.id, "已联系客户，验证码通道切换后恢复", by="operator", now=now)
        book.move(case.id, "resolved", by="operator", now=now, code="fixed")
        book.callback(case.id, channel="phone", outcome="reached", satisfaction=4, by="operator", now=now,
                      note="客户表示满意")
        browser.get(web.url + "/login")
        browser.find_element(By.NAME, "username").send_keys("operator")
        browser.find_element(By.NAME, "password").send_keys(PASSWORDS["operator"])
        browser.find_element(By.ID, "login").click()
        capture(browser, web.url + "/cases", OUT / "console-cases.png", work, width=1280)
        capture(browser, web.url + f"/cases/{case.id}", OUT / "console-case.png", work, width=1280)


if __name__ == "__main__":
    raise SystemExit(main())
