"""`OutboxNotifier`: one parseable `.eml` per alert (the same bytes email would carry), rewritten
on a retry; a directory it cannot write is a delivery error. And the notifier registry."""

from __future__ import annotations

import pytest
from support.alerts import ROUTES, check_message

from alerts import NOTIFIERS, DeliveryError, EmailNotifier, OutboxNotifier, notifier_kinds
from alerts.notify import WEBHOOKS, DingTalkNotifier, WeComNotifier, webhook_flavors


def test_outbox_writes_one_parseable_eml_per_alert(alert, tmp_path):
    outbox = OutboxNotifier(tmp_path / "outbox", sender="voc@bank.example", recipients_by_severity=ROUTES)
    outbox.send(alert)
    outbox.send(alert)  # a retried delivery rewrites the same file
    [path] = (tmp_path / "outbox").iterdir()
    assert path.name.isascii() and path.suffix == ".eml" and alert.id in path.name
    msg = check_message(path.read_bytes(), alert)
    assert msg["To"] == "pr@bank.example, duty@bank.example"


def test_outbox_failure_is_a_delivery_error(alert, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(DeliveryError, match="notifier=outbox"):
        OutboxNotifier(blocker).send(alert)


def test_registry_and_link():
    assert NOTIFIERS == {"outbox": OutboxNotifier, "email": EmailNotifier, "wecom": WeComNotifier,
                         "dingtalk": DingTalkNotifier}


def test_notifier_kinds_and_webhook_flavors_come_from_the_registries():
    # each notifier module registers itself on import; the settings schema reads these names
    assert notifier_kinds() == ("outbox", "email", "wecom", "dingtalk")
    assert webhook_flavors() == ("wecom", "dingtalk") == WEBHOOKS.names()
    assert WEBHOOKS["wecom"] is WeComNotifier
