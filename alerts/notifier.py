"""The `Notifier` base class and the small pieces every notifier shares: severity routing and links.

A notifier has a `name` (unique among those configured; the send journal records who already has an
alert), `wants(alert)` (severity routing), `send(alert)` and `send_digest(digest)`; both sends raise
`DeliveryError` when they cannot deliver. Concrete notifiers live in `alerts/notifiers.py` (outbox,
email) and `alerts/webhooks.py` (WeCom, DingTalk); the registry is `alerts.notifiers.NOTIFIERS`.

A link to the data is either a fixed URL (e.g. a Kibana view) or `link_for(alert) -> URL | None`
(a Discover URL built for the alert's rule, key and window); `resolve_link` turns either into text.
`discover_link_for(kibana_url)` is that builder for Kibana: the alert's window, its group as filters
(source, topic, entity, kind) and negative sentiment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from alerts.alert import Alert
from alerts.errors import NotifierConfigError
from core.record import SEVERITIES
from indexer.store import NONE_KEY, Filters

if TYPE_CHECKING:
    from alerts.digest import Digest

log = logging.getLogger(__name__)

Link = str | Callable[[Alert], str | None] | None


class Notifier:
    name = "notifier"

    def wants(self, alert: Alert) -> bool:
        """Whether this notifier should get `alert` at all (e.g. has recipients for its severity)."""
        return True

    def send(self, alert: Alert) -> None:
        """Hand the alert over or raise DeliveryError. A notifier that raises PartialDelivery (some
        recipients have it) also takes `skip`, the recipients the journal says already have it."""
        raise NotImplementedError

    def send_digest(self, digest: Digest) -> None:
        raise NotImplementedError(f"notifier {self.name} does not send digests")


def check_severities(severities: Iterable[str] | None, option: str = "severities") -> frozenset[str]:
    """The set of severities a notifier takes (None = all); an unknown tier is a config error."""
    if severities is None:
        return frozenset(SEVERITIES)
    if isinstance(severities, str):
        raise NotifierConfigError(f"{option}: expected a list of severities, got the string {severities!r}")
    chosen = frozenset(severities)
    unknown = sorted(chosen - set(SEVERITIES))
    if unknown:
        raise NotifierConfigError(f"{option}: unknown severity {unknown[0]!r}; use {list(SEVERITIES)}")
    if not chosen:
        raise NotifierConfigError(f"{option}: empty; leave it out to take every severity")
    return chosen


def resolve_link(link: Link, alert: Alert) -> str | None:
    """The URL (or text) pointing at the alert's data, or None when there is none."""
    if link is None or isinstance(link, str):
        return link or None
    try:
        return link(alert) or None
    except Exception:  # a broken link builder must not hold back the alert; it falls back to `voc search`
        log.exception("alert=%s link_for=failed", alert.id)
        return None


_GROUP_FILTERS = {"source": "sources", "topic": "topics", "entity": "entities", "kind": "kinds"}


def discover_link_for(kibana_url: str) -> Callable[[Alert], str | None]:
    """`link_for` pointing at Kibana Discover: the alert's negative records in its window and group."""
    from indexer.discover import discover_url  # Elasticsearch mode only; keeps the import out of SQLite runs

    def link_for(alert: Alert) -> str | None:
        by_field = {_GROUP_FILTERS[f]: (v,) for f, v in alert.group.items()
                    if f in _GROUP_FILTERS and v != NONE_KEY}
        filters = Filters(sentiment=("negative",), **by_field)
        return discover_url(kibana_url, "", filters, alert.window_start, alert.window_end)

    return link_for
