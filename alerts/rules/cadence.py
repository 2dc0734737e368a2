"""How often a level rule is checked, and what that does to its chance alarms.

`voc run` checks every rule every `[alerts] interval_minutes` (5 by default), twelve looks an hour at
a 1 h window. A test built for one look per window then raises more chance alarms than its `alpha`
says. With `check_every` set in a rule's table (e.g. to the interval), `negative_spike`,
`volume_spike` and `negative_share` multiply their tail by `alerts.stats.tails.looks`, the new alarms
that many looks raise per alarm one look raises, so `alpha` means chance alarms per window-length,
whatever the cadence. "" (the default, and the shipped settings.toml) is one look per window: no
correction. `bench/alerts_real.py` measured it on the shipped model: it costs catches (41 of 48
on seeds 13-16 against 44; the README's "Detection on real text"), so settings.toml leaves it off
and its alphas are set per check.
"""

from __future__ import annotations

from datetime import timedelta

from alerts.duration import parse_duration
from alerts.rules.rule import Option

CHECK_EVERY = {
    "check_every": Option(str, "", lambda v: parse_duration(v) if v else None,
                          "how often the rule is checked (\"5m\"; \"\" = once per window): its tail "
                          "counts the new chance alarms so many looks raise (alerts/rules/cadence.py)"),
}


def checks_per_window(window: timedelta, every: timedelta | None) -> float:
    """Looks per window length: window / every, at least 1 (None: one look per window)."""
    if every is None or every <= timedelta(0):
        return 1.0
    return max(1.0, window / every)
