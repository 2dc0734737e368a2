"""`python -m alerts.probe`: what a configured level rule saw of one group, check by check, on a
real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.alerts import HOUR, NOW, fill, hourly_history, spread

from alerts.probe import main
from indexer.sqlite import SqliteStore

SETTINGS = str(Path(__file__).resolve().parents[2] / "settings.toml")


def test_the_probe_prints_the_counts_baselines_and_thresholds_the_rule_tests(tmp_path, capsys):
    path = tmp_path / "voc.db"
    store = SqliteStore(path)
    fill(store, hourly_history(NOW - HOUR, 7 * 24, 1))  # one negative 手机银行 record an hour
    fill(store, spread(NOW - HOUR, 9))
    store.close()
    at = NOW.strftime("%Y-%m-%d %H:%M")
    assert main([str(path), "--at", at, "--minutes", "10", "--group", "topic=手机银行",
                 "--settings", SETTINGS]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(NOW.strftime("%m-%d %H:%M"))
    assert "1 小时 9 vs 1.00" in lines[0] and "3 小时 11 vs " in lines[0]
    # the same tail and threshold the rule itself computes at that check
    from alerts.rules import build_rule
    from core.settings import load_settings

    [spec] = [r for r in load_settings(SETTINGS, env={}).alerts.rules if r["name"] == "negative_spike_topic"]
    with SqliteStore(path) as reopened:
        [alert] = [a for a in build_rule(spec).evaluate(reopened, NOW) if a.key == "topic=手机银行"]
    assert f"p={alert.p_value:.1e} (needs <= {alert.details['p_threshold']:.1e})" in lines[0]
    # a score threshold above every record's P(negative) (0.9 in these records) counts nothing
    assert main([str(path), "--at", at, "--minutes", "0", "--group", "topic=手机银行",
                 "--settings", SETTINGS, "--negative-score", "0.95"]) == 0
    assert "1 小时 0 vs 0.00" in capsys.readouterr().out


def test_bad_arguments_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as missing:
        main([str(tmp_path / "none.db"), "--at", "2026-01-01 10:00", "--settings", SETTINGS])
    assert missing.value.code == 2 and "is not a file" in capsys.readouterr().err
    path = tmp_path / "voc.db"
    SqliteStore(path).close()
    with pytest.raises(SystemExit) as other:
        main([str(path), "--at", "2026-01-01 10:00", "--rule", "viral_post", "--settings", SETTINGS])
    assert other.value.code == 2 and "cluster_growth" in capsys.readouterr().err
