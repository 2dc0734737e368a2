"""nlp.normalize: HTML, width/whitespace folding, traditional -> simplified, URLs and mentions."""

import pytest

from nlp.normalize import fold_for_matching, normalize, strip_html

WEIBO = (
    '<a href="//s.weibo.com/weibo?q=%23某银行%23"><span class="surl-text">#某银行信用卡#</span></a>'
    '额度又被降了<span class="url-icon"><img alt="[怒]" src="//h5.sinaimg.cn/m/emoticon/nu.png" '
    'style="width:1em; height:1em;"></span>&amp;客服不理人<br />'
    '<a href="/n/小王" usercard="name=小王">@小王</a> 你也是吗 '
    '<a href="https://t.cn/A6abc"><span class="url-icon"><img src="link.png"></span>'
    '<span class="surl-text">网页链接</span></a>'
)


def test_weibo_html_keeps_emoji_alt_and_topic_and_drops_the_rest():
    assert normalize(WEIBO) == "#某银行信用卡#额度又被降了[怒]&客服不理人 你也是吗"


def test_strip_html_unescapes_entities_after_tags():
    assert strip_html("&lt;b&gt;不是标签&lt;/b&gt; <b>是</b>") == "<b>不是标签</b> 是"
    assert strip_html("&#x4e2d;&#22269;") == "中国"


def test_full_width_ascii_folds_but_chinese_punctuation_stays():
    assert normalize("ＡＢＣ１２３％＠ｘ") == "ABC123%@x"
    punct = "，。！？、；：“”（）"
    assert normalize(f"好{punct}差") == f"好{punct}差"


def test_whitespace_and_zero_width():
    assert normalize("  手机\u3000银行\n\n\t闪退\u200b了\xa0 ") == "手机 银行 闪退了"


def test_traditional_to_simplified():
    assert normalize("手機銀行轉賬失敗，態度很差") == "手机银行转账失败，态度很差"


def test_urls_removed():
    assert normalize("看这里https://t.cn/A6xYz9 和 www.example.com/a?b=1 结束") == "看这里 和 结束"
    assert normalize("链接http://x.cn/abc中文紧跟") == "链接 中文紧跟"


@pytest.mark.parametrize(("raw", "expected"), [
    ("@小王 你好", "你好"),
    ("回复@小王:你好", "回复 你好"),
    ("转发//@路人甲: 太坑了//@路人乙:真的", "转发 太坑了 真的"),
    ("@某银行客服 ，在吗", "，在吗"),
    ("@招商银行你们太过分", "@招商银行你们太过分"),  # run-on: the handle's end is unknown, keep it
    ("结尾提到@某银行客服", "结尾提到@某银行客服"),
])
def test_mentions(raw, expected):
    assert normalize(raw) == expected


def test_empty_and_plain():
    assert normalize("") == ""
    assert normalize("信用卡额度太低") == "信用卡额度太低"


@pytest.mark.parametrize("text", [
    WEIBO,
    "手機銀行ＡＰＰ又閃退！（氣死）",
    "乾隆皇帝著名的後花園 in 臺灣",
    "表情😡🙏组合 and ASCII",
    "",
])
def test_fold_for_matching_keeps_length(text):
    folded = fold_for_matching(text)
    assert len(folded) == len(text)


def test_fold_for_matching_folds():
    assert fold_for_matching("手機銀行ＡＰＰ") == "手机银行app"
    assert fold_for_matching("<b>工行</b>") == "   工行    "


def test_angle_brackets_that_are_not_tags_survive():
    assert normalize("利率<3%，收益>2%") == "利率<3%，收益>2%"
    assert normalize("<b>江南银行</b> <script>x()</script>") == "江南银行 x()"


def test_controls_and_terminal_escapes_are_stripped_before_the_models():
    from nlp.normalize import strip_controls

    hostile = "转账\x1b[2J\x1b]0;title\x07失败\x00\x08\u202e了\r\n第二行\t完"
    assert strip_controls(hostile) == "转账失败了\n第二行\t完"
    assert normalize(hostile) == "转账失败了 第二行 完"
    assert strip_controls("普通评论") == "普通评论"
