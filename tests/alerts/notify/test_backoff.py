"""Retry backoff of failed deliveries: 1, 2, 4 ... minutes, capped at 60; `due` reads the journal entry."""

from __future__ import annotations

from datetime import timedelta

from support.alerts import NOW

from alerts.notify.retry import due, next_attempt


def test_backoff_grows_and_is_capped():
    delays = [next_attempt(n, NOW) - NOW for n in range(0, 10)]
    minutes = [d / timedelta(minutes=1) for d in delays]
    assert minutes == [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert next_attempt(10_000, NOW) - NOW == timedelta(minutes=60)
    entry = {"next_attempt_at": next_attempt(3, NOW).isoformat()}
    assert not due(entry, NOW + timedelta(minutes=3)) and due(entry, NOW + timedelta(minutes=4))
    assert due({}, NOW) and due({"next_attempt_at": None}, NOW)
