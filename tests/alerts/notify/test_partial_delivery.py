"""Issue 14, item 3, against a real aiosmtpd server: a recipient refused with a temporary 451 while
the others accept is retried alone (nobody gets it twice); one refused with 550 is not retried."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from aiosmtpd.controller import Controller
from support.alerts import NOW, spike_rules, spike_store
from support.smtp import Collector, free_port

from alerts import EmailNotifier, run_rules
from alerts.state import SendJournal

ROUTES = {"warning": ["pr@bank.example", "service@bank.example"]}


@dataclass
class Picky(Collector):
    """Refuses `address` with `reply` the first `times` times it is given as a recipient."""

    address: str = "service@bank.example"
    reply: str = "451 4.2.1 mailbox busy, try later"
    times: int = 1
    refusals: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address == self.address and len(self.refusals) < self.times:
            self.refusals.append(address)
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"




def serve(handler):
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller


def test_a_temporarily_refused_recipient_is_retried_alone(store):
    spike_store(store)
    handler = Picky()
    controller = serve(handler)
    try:
        email = EmailNotifier("127.0.0.1", controller.port, "voc@bank.example", ROUTES, security="none")
        first = run_rules(spike_rules(), store, [email], NOW)
        [alert_id] = first.pending
        entry = SendJournal(store).get(alert_id)
        assert entry["recipients"]["email"]["done"] == ["pr@bank.example"]
        assert "451" in entry["last_error"]
        second = run_rules(spike_rules(), store, [email], NOW + timedelta(minutes=2))  # after the backoff
    finally:
        controller.stop()
    assert second.sent == [alert_id]
    assert [m.rcpt_tos for m in handler.messages] == [["pr@bank.example"], ["service@bank.example"]]


def test_a_recipient_refused_for_good_is_not_retried(store):
    spike_store(store)
    handler = Picky(reply="550 5.1.1 no such mailbox", times=5)
    controller = serve(handler)
    try:
        email = EmailNotifier("127.0.0.1", controller.port, "voc@bank.example", ROUTES, security="none")
        report = run_rules(spike_rules(), store, [email], NOW)
        later = run_rules(spike_rules(), store, [email], NOW + timedelta(minutes=2))
    finally:
        controller.stop()
    [alert_id] = report.sent
    entry = SendJournal(store).get(alert_id)
    assert entry["status"] == "sent"
    assert "550" in entry["recipients"]["email"]["refused"]["service@bank.example"]
    assert not later.sent and [m.rcpt_tos for m in handler.messages] == [["pr@bank.example"]]
