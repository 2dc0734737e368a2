"""Hostile text and broken notifiers in delivery (issue 14, item 1): a source name holding CR/LF
becomes a one-line Subject (no injected header), and a notifier that raises something other than
DeliveryError marks that one journal entry failed while the other alerts go out."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

from support.alerts import HOUR, NOW, fill, spread

from alerts import OutboxNotifier, build_rule, run_rules
from alerts.notify import Notifier
from alerts.render.text import one_line
from alerts.state import SendJournal

EVIL = "evil\r\nBcc: x@evil.example"


def silent_rule():
    return build_rule({"name": "silent", "type": "source_silent"})


def test_a_source_name_with_crlf_becomes_a_one_line_subject(store, tmp_path):
    fill(store, [r for h in range(4, 3 * 24) for r in spread(NOW - h * HOUR, 6, label="neutral",
                                                            source=EVIL)])
    outbox = OutboxNotifier(tmp_path / "outbox")
    report = run_rules([silent_rule()], store, [outbox], NOW)
    assert report.ok and len(report.sent) == 1 and not report.failed
    [eml] = list((tmp_path / "outbox").glob("*.eml"))
    msg = message_from_bytes(eml.read_bytes(), policy=default)
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"] and "evil Bcc: x@evil.example" in msg["Subject"]


def test_one_line_drops_controls_bidi_overrides_and_separators():
    assert one_line("a\r\nb\u2028c\u202ed\x00e\t f") == "a b c d e f"


class Broken(Notifier):
    """Raises a plain ValueError for alerts of one key (a renderer bug), delivers the rest."""

    name = "broken"

    def __init__(self, key: str) -> None:
        self.key, self.got = key, []

    def send(self, alert):
        if alert.key == self.key:
            raise ValueError("cannot render this alert")
        self.got.append(alert.key)


def test_one_poisoned_entry_is_marked_failed_and_the_others_go_out(store):
    fill(store, [r for h in range(4, 3 * 24) for src in ("weibo", "tousu")
                 for r in spread(NOW - h * HOUR, 6, label="neutral", source=src)])
    notifier = Broken("source=tousu")
    report = run_rules([silent_rule()], store, [notifier], NOW)
    assert notifier.got == ["source=weibo"]
    assert len(report.sent) == 1 and len(report.failed) == 1 and not report.pending
    journal = SendJournal(store)
    [failed] = [journal.get(i) for i in report.failed]
    assert failed["status"] == "failed" and "ValueError: cannot render this alert" in failed["last_error"]
    # the next check neither crashes nor retries the poisoned entry
    later = run_rules([silent_rule()], store, [notifier], NOW + HOUR / 12)
    assert later.ok and notifier.got == ["source=weibo"]


def test_comment_text_in_messages_loses_controls_and_bidi_overrides():
    from alerts.render.markdown import md_text
    from alerts.render.text import clip

    hostile = "信用卡\x00被盗刷\u202e了\x1b[2J"
    assert clip(hostile) == "信用卡被盗刷了" and "\u202e" not in md_text(hostile)


def test_personal_numbers_in_comments_are_masked_in_every_message():
    from alerts.render.markdown import md_text
    from alerts.render.text import clip

    comment = "客服让我打13812345678，卡号6222020200112233445，身份证110101199003071234"
    for shown in (clip(comment), md_text(comment)):
        assert "13812345678" not in shown and "6222020200112233445" not in shown
        assert "110101199003071234" not in shown and "5678" in shown  # (markdown: full-width ＊)
