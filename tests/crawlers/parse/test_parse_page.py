"""crawlers.parse.page: JSON, a refusal page (blocked) and any other non-JSON (layout changed)."""

import pytest

from crawlers.parse.errors import BlockedPage, LayoutChanged
from crawlers.parse.page import load_json, looks_blocked


def test_json_bytes_and_text():
    assert load_json(b'{"ok": 1}', "x") == {"ok": 1}
    assert load_json('[1, "银行"]', "x") == [1, "银行"]


@pytest.mark.parametrize("page", [
    "<html><head><title>微博-安全验证</title></head><body>请输入验证码</body></html>",
    "<!doctype html><script>location='https://passport.weibo.cn/signin/login'</script>",
    "<html><body><h1>访问频繁</h1></body></html>",
])
def test_refusal_pages_are_blocked(page):
    with pytest.raises(BlockedPage, match="weibo search: a refusal page"):
        load_json(page.encode(), "weibo search")


@pytest.mark.parametrize("page, kind", [("<html><body><div class='new-app'></div></body></html>", "HTML"),
                                        ("", "text"), ("callback({\"ok\":1})", "text")])
def test_other_non_json_is_a_layout_change(page, kind):
    with pytest.raises(LayoutChanged, match=f"{kind} instead of JSON"):
        load_json(page, "tousu feed")


def test_looks_blocked():
    assert looks_blocked("  <title>验证码</title>") == "验证码"
    assert looks_blocked("<html>正常页面</html>") is None
