"""Errors raised by the stores behind `indexer.FeedbackStore`.

Tree::

    StoreError                  anything a store refuses or cannot do
    ├── StoreUnavailable        cannot open / write / read the backend (file, disk, lock, missing
    │                           SQLite feature, cluster down); the caller may spool and retry
    ├── StoreDenied             the backend refused the account (HTTP 401/403: a missing privilege);
    │                           permanent until the privileges change, never retried as an outage
    ├── StoreQueryError         a bad argument: unknown group_by field, naive datetime, bad severity,
    │   (also ValueError)       non-positive interval, alert without a rule, non-JSON state value
    └── UnknownBackend          `open_store()` got a backend name not in `indexer.STORES`
        (also ValueError)

Library errors (`sqlite3.Error`, ...) are wrapped with `raise ... from exc`. A single record that
cannot be stored does not raise: it comes back in `UpsertResult.failed` with its reason.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every store error."""


class StoreUnavailable(StoreError):
    """The backend cannot be reached, opened or written; nothing was changed by the failed call."""


class StoreDenied(StoreError):
    """The backend refused the account (401/403); the message names what was refused."""


class StoreQueryError(StoreError, ValueError):
    """An argument to a store method is not valid; the message names it."""


class UnknownBackend(StoreError, ValueError):
    """`open_store()` was asked for a backend that is not registered."""
