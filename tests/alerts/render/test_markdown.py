"""The robots' markdown: untrusted text becomes one inert line (full-width twins for markup, no bare
links). The robots themselves, with hostile comments end to end: tests/alerts/notify/test_webhooks.py."""

from __future__ import annotations

from alerts.render.markdown import md_text


def test_md_text_is_one_inert_line():
    assert md_text("a\n# b\n> c") == "a ＃ b ＞ c"
    assert md_text("<b>粗</b> &amp; [x](y)") == "粗 ＆ ［x］（y）"
    assert len(md_text("长" * 500)) == 121
    assert md_text("see http://evil.example and www.x.cn") == "see http：//evil.example and www．x.cn"
