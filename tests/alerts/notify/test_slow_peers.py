"""Issue 14, item 4: peers that answer slowly. The SMTP and webhook timeouts come from the settings
(`[notify] smtp_timeout`, `webhook_timeout`); a real aiosmtpd server that takes 1.5 s to accept
DATA and a local robot that takes 1.5 s to answer each get every alert once (with the old fixed
10 s timeout a 15 s server got 9 emails for 5 alerts). What a peer that answers after the timeout
costs is the README's "at least once" case; the last test shows it, so the README cannot drift."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aiosmtpd.controller import Controller
from support.alerts import NOW, spike_rules, spike_store
from support.http_sink import HttpSink
from support.smtp import Collector, Received, free_port

from alerts import run_rules
from alerts.state import SendJournal
from core.settings import load_settings
from voc.alerting import notifiers_from_settings

DELAY = 1.5


@dataclass
class Slow(Collector):
    """Takes DELAY seconds to accept the first `slow` messages, then answers at once."""

    slow: int = 99
    calls: int = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.calls += 1
        if self.calls <= self.slow:  # the whole message is in: a real server has it by now
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content))
            await asyncio.sleep(DELAY)
            return "250 Message accepted for delivery"
        return await super().handle_DATA(server, session, envelope)


def settings(tmp_path: Path, body: str):
    path = tmp_path / "settings.toml"
    path.write_text(f'[notify]\noutbox = "{tmp_path / "outbox"}"\n'
                    'recipients = {warning = ["pr@bank.example"]}\n' + body, encoding="utf-8")
    return load_settings(path, env={})


def smtp_run(store, tmp_path: Path, timeout: float, slow: int = 99):
    spike_store(store)
    handler = Slow(slow=slow)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        conf = settings(tmp_path, f'smtp_host = "127.0.0.1"\nsmtp_port = {controller.port}\n'
                                  f'smtp_security = "none"\nsmtp_timeout = {timeout}\n')
        notifiers = notifiers_from_settings(conf)
        first = run_rules(spike_rules(), store, notifiers, NOW)
        second = run_rules(spike_rules(), store, notifiers, NOW + timedelta(minutes=30))
    finally:
        controller.stop()
    return handler, first, second, notifiers


def test_a_slow_smtp_server_within_the_timeout_gets_each_alert_once(store, tmp_path):
    handler, first, second, notifiers = smtp_run(store, tmp_path, timeout=10)
    assert notifiers[1].timeout == 10
    [alert_id] = first.sent
    assert not second.sent and not second.pending and len(handler.messages) == 1
    assert SendJournal(store).get(alert_id)["status"] == "sent"


def test_a_server_slower_than_the_timeout_is_the_at_least_once_case(store, tmp_path):
    handler, first, second, _ = smtp_run(store, tmp_path, timeout=0.5, slow=1)
    [alert_id] = first.pending  # the client gave up before the server's 250
    assert "timed out" in SendJournal(store).get(alert_id)["last_error"]
    # the server kept the first copy; the retry delivers it again, with the same Message-ID
    assert second.sent == [alert_id] and len(handler.messages) == 2
    ids = {m.data.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0] for m in handler.messages}
    assert len(ids) == 1


def test_a_slow_robot_within_the_webhook_timeout_gets_each_alert_once(store, tmp_path):
    spike_store(store)
    with HttpSink() as sink:
        conf = settings(tmp_path, f'webhook_timeout = 10\n[notify.webhooks]\n'
                                  f'wecom = "{sink.url("/cgi-bin/webhook/send?key=k")}"\n')
        notifiers = notifiers_from_settings(conf)
        sink.hold()
        threading.Timer(DELAY, sink.release).start()  # answers 1.5 s late
        first = run_rules(spike_rules(), store, notifiers, NOW)
        second = run_rules(spike_rules(), store, notifiers, NOW + timedelta(minutes=30))
    assert notifiers[1].timeout == 10
    assert first.sent and not second.sent and len(sink.requests) == 1
