"""Where an alert points for its data: a fixed URL, a per-alert link builder, or nothing.

A link is either a fixed URL (e.g. a Kibana view) or `link_for(alert) -> URL | None` (a Discover
URL built for the alert's rule, key and window); `resolve_link` turns either into text, and a broken
builder never holds the alert back (it falls back to the `voc search` command). Every notifier takes
a `link`; the email and the robot markdown render what `resolve_link` gives.

`discover_link_for(kibana_url)` is that builder for Kibana: the alert's window, its group as filters
(source, topic, entity, kind) and negative sentiment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from alerts.alert import Alert
from indexer.store import NONE_KEY, Filters

log = logging.getLogger(__name__)

Link = str | Callable[[Alert], str | None] | None


def resolve_link(link: Link, alert: Alert) -> str | None:
    """The URL (or text) pointing at the alert's data, or None when there is none."""
    if link is None or isinstance(link, str):
        return link or None
    try:
        return link(alert) or None
    except Exception:  # a broken link builder must not hold back the alert; it falls back to `voc search`
        log.exception("alert=%s link_for=failed", alert.id)
        return None


class ConsoleLinks:
    """Links into the web console at `base` ([web] url): the incident's page (the data link) and
    the 有用 / 误报 feedback pages of one alert (`feedback_links`)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def __call__(self, alert: Alert) -> str:
        target = f"incidents/{quote(alert.incident)}" if alert.incident else f"alerts/{quote(alert.id)}"
        return f"{self.base}/{target}"

    def feedback(self, alert: Alert) -> dict[str, str]:
        return {verdict: f"{self.base}/alerts/{quote(alert.id)}/feedback?verdict={verdict}"
                for verdict in ("useful", "false_alarm")}


def feedback_links(link: object, alert: Alert) -> dict[str, str]:
    """verdict -> URL where a reader says 有用 / 误报, when the link is the console's; else {}."""
    if isinstance(link, ConsoleLinks):
        return link.feedback(alert)
    return {}


_GROUP_FILTERS = {"source": "sources", "topic": "topics", "entity": "entities", "kind": "kinds"}


def discover_link_for(kibana_url: str) -> Callable[[Alert], str | None]:
    """`link_for` pointing at Kibana Discover: the alert's negative records in its window and group."""
    from indexer.discover import discover_url  # Elasticsearch mode only; keeps the import out of SQLite runs

    def link_for(alert: Alert) -> str | None:
        by_field: dict[str, Any] = {_GROUP_FILTERS[f]: (v,) for f, v in alert.group.items()
                    if f in _GROUP_FILTERS and v != NONE_KEY}
        score = alert.details.get("negative_score")  # the rule counted likely negatives too
        filters = (Filters(min_negative_score=float(score), **by_field) if score
                   else Filters(sentiment=("negative",), **by_field))
        return discover_url(kibana_url, "", filters, alert.window_start, alert.window_end)

    return link_for
