"""`search_text` and `fold_for_search` (nlp/normalize.py): the form the stores search, for the text
a person sees and for the query alike (issue 16, item 6)."""

from __future__ import annotations

import pytest

from nlp.normalize import fold_for_search, search_text

IMG = '<img src="https://h5.sinaimg.cn/m/emoticon/icon/default/d_xixi-0a2ec7.png" alt="[嘻嘻]">'


def test_search_text_is_what_a_person_sees() -> None:
    text = f'转账失败{IMG}<br/><a href="https://m.weibo.cn/search?q=%23转账%23">#转账#</a>&amp;'
    assert search_text(text) == "转账失败[嘻嘻] #转账#&"
    assert "sinaimg" not in search_text(text)
    assert search_text("信用卡\x1b[31m被盗刷\x00了") == "信用卡被盗刷了"
    # a person sees links and @names written out: they stay searchable
    assert search_text("详见 https://bank.example.com/a @江南银行客服 回复") == (
        "详见 https://bank.example.com/a @江南银行客服 回复")


@pytest.mark.parametrize(("raw", "folded"), [
    ("轉賬失敗", "转账失败"), ("ＡＴＭ機", "ATM机"), ("１００％", "100%"),
    ("信用卡，年费！", "信用卡，年费！"),
    ("手机\u3000银行", "手机 银行"), ("闪\u200b退", "闪退"), ("", ""),
])
def test_fold_for_search_folds_as_normalize_does(raw: str, folded: str) -> None:
    assert fold_for_search(raw) == folded
    assert search_text(raw) == folded
