"""Issue 15's bug: `[app] timezone` was documented, but the alert rules, messages and digests used
the module constant Asia/Shanghai. A deployment in New York got Shanghai days. Now loading the
settings makes `[app] timezone` the display timezone that every window, day and shown time follows."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from support.alerts import fill, hourly_history, spike_rules, spread

from alerts import run_rules
from alerts.render.message import render_text
from alerts.rules.emerging_term import _day_start as term_day_start
from alerts.stats.baseline import _day_start as baseline_day_start
from core.record import display_tz, parse_time, to_display
from core.settings import load_settings
from indexer import open_settings_store
from voc.alerting import send_daily_digest

NY = ZoneInfo("America/New_York")
NOW = datetime(2024, 1, 8, 10, 0, tzinfo=NY)  # winter: New York is UTC-5, Shanghai UTC+8


def new_york(tmp_path: Path):
    path = tmp_path / "settings.toml"
    path.write_text(f'[app]\ntimezone = "America/New_York"\nvar_dir = "{tmp_path / "var"}"\n'
                    f'[store]\npath = "{tmp_path / "voc.db"}"\n[notify]\noutbox = "{tmp_path / "out"}"\n',
                    encoding="utf-8")
    return load_settings(path, env={})


def test_the_settings_zone_is_the_display_zone(tmp_path: Path) -> None:
    settings = new_york(tmp_path)
    assert display_tz() == NY == settings.display_tz
    assert parse_time("2024-01-08 09:00") == datetime(2024, 1, 8, 14, 0, tzinfo=UTC)  # naive = NY
    assert to_display(datetime(2024, 1, 8, 14, 0, tzinfo=UTC)) == "2024-01-08 09:00"
    midnight = datetime(2024, 1, 8, 5, 0, tzinfo=UTC)  # 00:00 in New York (13:00 in Shanghai)
    moment = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
    assert baseline_day_start(moment) == midnight == term_day_start(moment)


def test_an_alert_and_a_digest_in_new_york_speak_new_york_time(tmp_path: Path) -> None:
    settings = new_york(tmp_path)
    store = open_settings_store(settings)
    try:
        fill(store, hourly_history(NOW - timedelta(hours=1), 7 * 24, 4))
        fill(store, spread(NOW - timedelta(hours=1), 36))
        report = run_rules(spike_rules(), store, [], NOW.astimezone(UTC), dry_run=True)
        [alert] = report.fired
        text = render_text(alert)
        assert "2024-01-08 09:00 – 2024-01-08 10:00（America/New_York）" in text
        assert "--since 2024-01-08T09:00 --until 2024-01-08T10:00" in text  # naive = New York
        sent = send_daily_digest(settings, store, NOW + timedelta(days=1))
    finally:
        store.close()
    assert sent.sent == ["outbox"]
    [eml] = [p for p in (tmp_path / "out").iterdir() if "digest" in p.name]
    body = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    text = body.get_body(("plain",)).get_content()
    # 2024-01-09 10:00 in New York is 23:00 in Shanghai: "the day before" is 01-08 here, 01-09 there
    assert "2024-01-08" in body["Subject"] and "America/New_York" in text
