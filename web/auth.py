"""Users, roles, API tokens and login sessions of the console, kept in the store.

Everything lives in `FeedbackStore` state documents, so the console runs the same on SQLite and
Elasticsearch and a restart of the web process logs nobody out:

- "web_user", key the user name: `{"name", "role", "hash", "created_at", "created_by", "disabled"}`;
  the password is hashed with argon2id (`argon2-cffi`, its default parameters) and never stored;
- "web_token", key the SHA-256 of an API token: `{"user", "created_at"}`; the token itself is shown
  once (`voc users token NAME`) and sent as `Authorization: Bearer ...`; `--revoke` deletes them all;
- "web_session", key the SHA-256 of the session cookie's value: `{"user", "csrf", "created_at",
  "expires_at"}`; the CSRF token every state-changing request with that cookie must carry.

Roles, each including the ones before: viewer (reads), operator (also acknowledges, silences,
corrects labels, re-crawls and uploads), admin (also manages users). `LoginLimiter` counts failed
logins per user and per address over a sliding window (in the web process: a restart forgets it).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from indexer.store import FeedbackStore

USERS = "web_user"
TOKENS = "web_token"
SESSIONS = "web_session"
ROLES = ("viewer", "operator", "admin")
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
MIN_PASSWORD = 8

_hasher = PasswordHasher()


class AuthError(ValueError):
    """A user, role or password that cannot be accepted; the message says why in one line."""


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def can(self, role: str) -> bool:
        """Whether this user holds `role` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AuthError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def add_user(store: FeedbackStore, name: str, role: str, password: str, *, by: str = "",
             now: datetime | None = None, replace: bool = False) -> User:
    """Create user `name` (or, with `replace`, set a new role and password)."""
    if not NAME_PATTERN.fullmatch(name):
        raise AuthError(f"user name {name!r}: use 1-64 letters, digits, _ . @ or -")
    check_role(role)
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"password: at least {MIN_PASSWORD} characters")
    if store.get_state(USERS, name) is not None and not replace:
        raise AuthError(f"user {name!r} exists (change the role with `voc users role`)")
    store.put_state(USERS, name, {"name": name, "role": role, "hash": _hasher.hash(password),
                                  "created_at": _now(now).isoformat(), "created_by": by,
                                  "disabled": False})
    return User(name, role)


def get_user(store: FeedbackStore, name: str) -> User | None:
    doc = store.get_state(USERS, name)
    if doc is None or doc.get("disabled") or doc.get("role") not in ROLES:
        return None
    return User(doc["name"], doc["role"])


def list_users(store: FeedbackStore) -> list[dict[str, Any]]:
    """Every user without the hash, by name."""
    return [{k: v for k, v in doc.items() if k != "hash"}
            for _, doc in sorted(store.list_state(USERS).items())]


def set_role(store: FeedbackStore, name: str, role: str) -> User:
    doc = store.get_state(USERS, name)
    if doc is None:
        raise AuthError(f"no user {name!r}")
    doc["role"] = check_role(role)
    store.put_state(USERS, name, doc)
    return User(name, role)


def set_disabled(store: FeedbackStore, name: str, disabled: bool) -> None:
    doc = store.get_state(USERS, name)
    if doc is None:
        raise AuthError(f"no user {name!r}")
    doc["disabled"] = disabled
    store.put_state(USERS, name, doc)
    if disabled:
        revoke_tokens(store, name)
        end_sessions(store, name)


def verify_password(store: FeedbackStore, name: str, password: str) -> User | None:
    """The user when `password` is theirs (and they are enabled), else None. Always hashes once, so
    an unknown name takes as long as a wrong password."""
    doc = store.get_state(USERS, name) if NAME_PATTERN.fullmatch(name or "") else None
    stored = doc.get("hash") if doc else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if doc is None or stored is None or doc.get("disabled") or doc.get("role") not in ROLES:
        return None
    return User(doc["name"], doc["role"])


_DUMMY_HASH = _hasher.hash("not a password anybody has")


def issue_token(store: FeedbackStore, name: str, now: datetime | None = None) -> str:
    """A new API token for `name` (shown once; the store keeps its digest)."""
    if get_user(store, name) is None:
        raise AuthError(f"no user {name!r}")
    token = "voc_" + secrets.token_urlsafe(32)
    store.put_state(TOKENS, _digest(token), {"user": name, "created_at": _now(now).isoformat()})
    return token


def revoke_tokens(store: FeedbackStore, name: str) -> int:
    gone = 0
    for key, doc in store.list_state(TOKENS).items():
        if doc.get("user") == name:
            store.delete_state(TOKENS, key)
            gone += 1
    return gone


def token_user(store: FeedbackStore, token: str) -> User | None:
    doc = store.get_state(TOKENS, _digest(token)) if token else None
    return get_user(store, doc["user"]) if doc else None


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    expires_at: datetime


def start_session(store: FeedbackStore, user: User, lifetime: timedelta,
                  now: datetime | None = None) -> tuple[str, Session]:
    """A new session for `user`: (cookie value, session)."""
    sid = secrets.token_urlsafe(32)
    start = _now(now)
    session = Session(user, secrets.token_urlsafe(32), start + lifetime)
    store.put_state(SESSIONS, _digest(sid), {"user": user.name, "csrf": session.csrf,
                                             "created_at": start.isoformat(),
                                             "expires_at": session.expires_at.isoformat()})
    return sid, session


def load_session(store: FeedbackStore, sid: str, now: datetime | None = None) -> Session | None:
    doc = store.get_state(SESSIONS, _digest(sid)) if sid else None
    if doc is None:
        return None
    expires = datetime.fromisoformat(doc["expires_at"])
    user = get_user(store, doc.get("user", ""))
    if user is None or expires <= _now(now):
        store.delete_state(SESSIONS, _digest(sid))
        return None
    return Session(user, doc["csrf"], expires)


def end_session(store: FeedbackStore, sid: str) -> None:
    if sid:
        store.delete_state(SESSIONS, _digest(sid))


def end_sessions(store: FeedbackStore, name: str) -> None:
    for key, doc in store.list_state(SESSIONS).items():
        if doc.get("user") == name:
            store.delete_state(SESSIONS, key)


class LoginLimiter:
    """Failed logins per user and per address in the last `window`; over the limit, logins wait.

    `allowed(user, address)` says whether a login may be tried now; `failed` records a failure and
    `succeeded` clears the user's count. Per address the limit is 4x the per-user one (an office
    behind one NAT address)."""

    def __init__(self, per_user: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.per_user, self.per_address = per_user, per_user * 4
        self.window = window.total_seconds()
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, user: str, address: str) -> int:
        """0 when a login may be tried now, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key, limit in ((f"u:{user}", self.per_user), (f"a:{address}", self.per_address)):
                times = self._recent(key, now)
                if len(times) >= limit:
                    waits.append(int(times[0] + self.window - now) + 1)
            return max(waits, default=0)

    def failed(self, user: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (f"u:{user}", f"a:{address}"):
                self._recent(key, now).append(now)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(f"u:{user}", None)
