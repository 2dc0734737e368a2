"""The alert email as `build_message` renders it: both MIME parts and the inline chart, untrusted text
escaped by the templates (and inert: no markup, no template syntax), recovery/escalation rendering,
links to the data, merged identical comments."""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser
from urllib.parse import unquote

from support.alerts import check_message, parts

from alerts import build_message
from alerts.render.links import discover_link_for
from alerts.render.message import render_html


def test_the_email_is_complete_before_any_notifier_touches_it(alert):
    check_message(build_message(alert, "v@b.example", ["a@b.example"]).as_bytes(), alert)


class _Tags(HTMLParser):
    """Every tag and attribute a browser would see in the HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data):
        self.text.append(data)


def test_a_hostile_comment_comes_out_inert(alert):
    """Markup, quotes and template syntax in a comment are text in the HTML: never a tag, an
    attribute, or a template the renderer evaluates."""
    hostile = 'x"><script>alert(1)</script> {{ 7*7 }} {% if true %}yes{% endif %} \' onmouseover=\'y'
    first = alert.samples[0]
    alert.samples[0] = first.with_(text=hostile, title='标题 "{{ config }}" <i>', url='https://x.example/"q')
    html = render_html(alert)
    # the row as a reader's browser gets it: every quote and bracket escaped, the braces as written
    assert ('<td><b>标题 &quot;{{ config }}&quot;</b><br>x&quot;&gt;alert(1) {{ 7*7 }} '
            '{% if true %}yes{% endif %} &#x27; onmouseover=&#x27;y '
            '<a href="https://x.example/&quot;q">原文</a></td>') in html
    parsed = _Tags()
    parsed.feed(html)
    assert "script" not in parsed.tags and "i" not in parsed.tags
    assert {name for name, _ in parsed.attrs} <= {"charset", "style", "align", "cellpadding", "border",
                                                  "src", "alt", "width", "height", "href", "lang",
                                                  "id", "name", "content"}
    assert 'x">alert(1) {{ 7*7 }} {% if true %}yes{% endif %} \' onmouseover=\'y ' in parsed.text
    assert ("href", 'https://x.example/"q') in parsed.attrs  # the quote stayed inside the link
    text = parts(build_message(alert, "v@b.example"))["text/plain"]
    assert "{{ 7*7 }} {% if true %}yes{% endif %}" in text


def test_kibana_link_replaces_the_search_command(alert):
    msg = build_message(alert, "v@b.example", ["a@b.example"], link="https://kibana.example/app/discover#/x")
    content = parts(msg)
    assert '<a href="https://kibana.example/app/discover#/x">' in content["text/html"]
    assert "voc search" not in content["text/plain"]


def test_link_for_is_called_with_the_alert(alert):
    seen = []

    def link_for(a):
        seen.append(a.id)
        return f"https://kibana.example/app/discover#/?_a=(query:'{a.key}')"

    content = parts(build_message(alert, "v@b.example", link=link_for))
    assert seen == [alert.id]
    expected = "https://kibana.example/app/discover#/?_a=(query:&#x27;topic=手机银行&#x27;)"
    assert f'<a href="{expected}">' in content["text/html"]
    # a link builder that returns nothing (no Kibana for this rule) falls back to the search command
    content = parts(build_message(alert, "v@b.example", link=lambda a: None))
    assert "voc search" in content["text/plain"]


def test_without_a_series_there_is_no_chart(alert):
    del alert.details["series"]
    msg = build_message(alert, "v@b.example")
    assert [p.get_content_type() for p in msg.get_payload()] == ["text/plain", "text/html"]
    assert "cid:" not in parts(msg)["text/html"]


def test_an_unreadable_series_skips_the_chart_with_a_warning(alert, caplog):
    alert.details["series"] = [{"t": "2024-05-06T01:00:00+00:00", "count": -3, "baseline": 4.0}]
    caplog.set_level(logging.WARNING)
    msg = build_message(alert, "v@b.example")
    assert "image/png" not in parts(msg)
    assert "chart=skipped" in caplog.text and "series[0].count" in caplog.text


def test_escalation_and_recovery_render_distinctly(alert):
    alert.kind = "escalation"
    alert.details["previous_count"] = 12
    msg = build_message(alert, "v@b.example")
    assert msg["Subject"].startswith("[警告·升级] ")
    text = parts(msg)["text/plain"]
    assert "升级：数量自上次告警以来至少翻倍（上次告警 12 条），现为 38 条。" in text
    assert msg["Message-ID"] != build_message(alert.__class__(**{**vars(alert), "kind": "alert"}),
                                              "v@b.example")["Message-ID"]

    alert.kind, alert.count, alert.samples, alert.cluster_sizes = "recovery", 3, [], {}
    msg = build_message(alert, "v@b.example")
    assert msg["Subject"].startswith("[已恢复正常] ")
    content = parts(msg)
    assert "已恢复正常：当前 3 条，基线 " in content["text/plain"]
    assert "background:#dff0d8" in content["text/html"]  # the green banner
    assert "代表性负面评论" not in content["text/plain"]  # a recovery has no comments to show
    assert "image/png" in content  # the chart shows the way back to the baseline


def test_identical_comments_from_different_clusters_are_shown_once(alert):
    first, second = alert.samples[0], alert.samples[1]
    twin = second.with_(text=" ".join(first.text.split()) + "  ")
    alert.samples[1] = twin
    alert.cluster_sizes[twin.id] = 2
    text = parts(build_message(alert, "v@b.example"))["text/plain"]
    assert text.count(first.text.split("</script>")[1].strip()) == 1
    assert f"（×{alert.cluster_sizes[first.id] + 2}）" in text


def test_discover_link_for_an_alert(alert):
    html = parts(build_message(alert, "v@b.example", link=discover_link_for("https://kibana.bank/")))["text/html"]
    [href] = re.findall(r'<a href="(https://kibana\.bank/[^"]+)">打开数据视图</a>', html)
    fragment = unquote(href.replace("&amp;", "&"))
    assert "/app/discover#/?_g=" in href and "2024-05-06T01:00:00.000Z" in fragment
    assert "手机银行" in fragment and "negative" in fragment


def test_an_alert_counting_likely_negatives_says_so_and_links_to_them(store):
    """A rule with negative_score counts records by their calibrated P(negative): the title says
    负面（含疑似）, and the command and the Kibana link select by that score, not by the label."""
    from support.alerts import HOUR, NOW, fill, hourly_history, spread

    from alerts import build_rule
    from alerts.render.view import measure

    fill(store, hourly_history(NOW - HOUR, 7 * 24, 4))
    fill(store, spread(NOW - HOUR, 36))
    options = {"name": "spike", "type": "negative_spike", "group_by": ["topic"], "baseline_weeks": 1}
    [labelled] = build_rule(options).evaluate(store, NOW)
    plain = parts(build_message(labelled, "v@b.example"))["text/plain"]
    assert "--sentiment negative" in plain and "含疑似" not in plain
    [scored] = build_rule({**options, "negative_score": 0.2}).evaluate(store, NOW)
    assert scored.details["negative_score"] == 0.2
    scored.details["rule_type"] = "negative_spike"  # as run_rules records it
    assert measure(scored).startswith("手机银行 负面（含疑似）评论 1 小时 36 条")
    plain = parts(build_message(scored, "v@b.example"))["text/plain"]
    assert "手机银行 负面（含疑似） 1 小时 36 条" in plain
    assert "--min-negative 0.2" in plain and "--sentiment negative" not in plain
    url = unquote(discover_link_for("https://kibana.example")(scored) or "")
    assert "sentiment.scores.negative >= 0.2" in url and "sentiment.label:(" not in url
