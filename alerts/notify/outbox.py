"""The outbox notifier: every alert (and digest) as an `.eml` file, where email goes without SMTP.

`OutboxNotifier(dir)` writes `<time>-<rule>-<alert id>.eml` (digests `digest-<day>.eml`) into `dir`,
atomically (a temporary file, fsync, rename), so readers never see a half-written message and
re-sending the same alert rewrites the same file. The message is the email's (`alerts.render`),
addressed as the SMTP notifier would address it.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from pathlib import Path

from alerts.alert import Alert
from alerts.digest import Digest
from alerts.errors import DeliveryError
from alerts.notify.base import DigestNotifier, register_notifier
from alerts.notify.recipients import check_recipients, everyone, route
from alerts.render.digest import digest_email
from alerts.render.links import Link
from alerts.render.message import build_message

log = logging.getLogger(__name__)


@register_notifier("outbox")
class OutboxNotifier(DigestNotifier):
    """Writes each alert as `<time>-<rule>-<alert id>.eml` into `directory`."""

    def __init__(self, directory: str | Path, sender: str = "voc-monitor@localhost",
                 recipients_by_severity: Mapping[str, Sequence[str]] | None = None,
                 link: Link = None, name: str = "outbox",
                 digest_recipients: Sequence[str] | None = None) -> None:
        self.directory = Path(directory)
        self.sender = sender
        self.routes = check_recipients(recipients_by_severity, required=False)
        self.digest_recipients = everyone(self.routes, digest_recipients)
        self.link = link
        self.name = name

    def path_for(self, alert: Alert) -> Path:
        rule = re.sub(r"[^A-Za-z0-9_-]", "_", alert.rule)[:40] or "rule"
        return self.directory / f"{alert.fired_at:%Y%m%dT%H%M%SZ}-{rule}-{alert.id}.eml"

    def digest_path_for(self, digest: Digest) -> Path:
        return self.directory / f"digest-{digest.day:%Y%m%d}.eml"

    def send(self, alert: Alert) -> None:
        msg = build_message(alert, self.sender, route(self.routes, alert), self.link)
        self._write(msg, self.path_for(alert), f"alert={alert.id}")

    def send_digest(self, digest: Digest) -> None:
        msg = digest_email(digest, self.sender, self.digest_recipients)
        self._write(msg, self.digest_path_for(digest), f"digest={digest.day}")

    def _write(self, msg: EmailMessage, path: Path, what: str) -> None:
        tmp_name = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("wb", dir=self.directory, suffix=".tmp",
                                             delete=False) as tmp:
                tmp_name = tmp.name
                tmp.write(msg.as_bytes())
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, path)  # readers never see a half-written .eml
        except OSError as exc:
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)
            raise DeliveryError(f"notifier={self.name} path={path}: {exc}") from exc
        log.info("notifier=%s %s path=%s", self.name, what, path)
