"""The audit log: who did what in the console or with `voc users`, read at /admin/audit and by
`voc audit`.

State namespace "audit", one document per action, key `<ISO time>-<random>` so keys sort by time:
`{"at", "user", "action", "target", "detail", "address"}`. Actions are short verbs
(`login`, `login_failed`, `logout`, `silence`, `acknowledge`, `feedback`, `label`, `crawl`,
`upload`, `user_add`, `user_role`, `user_disable`, `token_issue`, `token_revoke`). Nothing here is
ever a secret: passwords and tokens are not logged, only that they were set or issued. The log
keeps the newest `KEEP` entries.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from indexer.store import FeedbackStore

AUDIT = "audit"
KEEP = 20_000


def record(store: FeedbackStore, user: str, action: str, target: str = "", detail: str = "", *,
           address: str = "", now: datetime | None = None) -> dict[str, Any]:
    at = (now or datetime.now(UTC)).astimezone(UTC)
    doc = {"at": at.isoformat(), "user": user, "action": action, "target": target,
           "detail": detail, "address": address}
    store.put_state(AUDIT, f"{at.strftime('%Y%m%dT%H%M%S.%f')}-{secrets.token_hex(4)}", doc)
    return doc


def entries(store: FeedbackStore, limit: int = 200, user: str | None = None,
            action: str | None = None) -> list[dict[str, Any]]:
    """Newest first."""
    found = sorted(store.list_state(AUDIT).items(), reverse=True)
    out = [doc for _, doc in found if (user is None or doc.get("user") == user)
           and (action is None or doc.get("action") == action)]
    for key, _ in found[KEEP:]:
        store.delete_state(AUDIT, key)
    return out[:limit]
