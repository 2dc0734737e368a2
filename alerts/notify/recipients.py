"""Email recipients by severity: checking `[notify.recipients]` and choosing who gets an alert.

A route table maps a severity (`info`, `warning`, `critical`), `default` or `operators` to email
addresses. `check_recipients` validates one, `route(routes, alert)` picks the alert's recipients
(operators for alerts meant for them, else its severity's, else the default list) and
`everyone(routes, chosen)` the digest's (`chosen`, else every address that gets some alert, once).
An alert for a team's lead (`details["audience"] == "team_lead"`, `case_overdue`) carries its own
addresses in `details["recipients"]` and goes to them; without any, it is routed by severity.
Shared by the outbox (which writes the same To: as email would) and the SMTP notifier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alerts.alert import Alert
from alerts.errors import NotifierConfigError
from core.record import SEVERITIES

OPERATORS = "operators"  # a route key beside the severities (see `route`)
TEAM_LEAD = "team_lead"  # an audience whose addresses the alert carries (see `route`)


def check_recipients(recipients_by_severity: Mapping[str, Sequence[str]] | None,
                     required: bool) -> dict[str, tuple[str, ...]]:
    """The route table; NotifierConfigError names a bad severity or address list."""
    routes: dict[str, tuple[str, ...]] = {}
    for severity, addresses in (recipients_by_severity or {}).items():
        if severity not in (*SEVERITIES, "default", OPERATORS):
            raise NotifierConfigError(f"recipients: unknown severity {severity!r}; "
                                      f"use {list(SEVERITIES)}, 'default' or '{OPERATORS}'")
        if isinstance(addresses, str) or not all(isinstance(a, str) and "@" in a for a in addresses):
            raise NotifierConfigError(f"recipients.{severity}: expected a list of email addresses")
        routes[severity] = tuple(addresses)
    if required and not any(routes.values()):
        raise NotifierConfigError("recipients: no email address for any severity")
    return routes


def route(routes: Mapping[str, tuple[str, ...]], alert: Alert) -> tuple[str, ...]:
    """Who gets `alert`: the operators for alerts meant for them (a source went silent or is
    blocked) when operators are configured; a team lead's alert (an overdue case) its own
    `details["recipients"]`; else the recipients of its severity."""
    if alert.details.get("audience") == OPERATORS and routes.get(OPERATORS):
        return routes[OPERATORS]
    own = alert.details.get("recipients")
    if alert.details.get("audience") == TEAM_LEAD and isinstance(own, list) and own \
            and all(isinstance(a, str) and "@" in a for a in own):
        return tuple(own)
    return routes.get(alert.severity) or routes.get("default") or ()


def everyone(routes: Mapping[str, tuple[str, ...]], chosen: Sequence[str] | None) -> tuple[str, ...]:
    """Digest recipients: `chosen`, else every address that gets some alert, each once."""
    if chosen is not None:
        if isinstance(chosen, str) or not all(isinstance(a, str) and "@" in a for a in chosen):
            raise NotifierConfigError("digest_recipients: expected a list of email addresses")
        return tuple(chosen)
    return tuple(dict.fromkeys(a for addresses in routes.values() for a in addresses))
