"""`negative_spike` on a real SQLite store: volume floor, Poisson tail, Bonferroni, seasonal baseline,
near-duplicate clusters."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from support.alerts import HOUR, NOW, fill, hourly_history, record, spread

from alerts import build_rule
from alerts.stats.baseline import seasonal_baseline
from alerts.stats.tails import poisson_sf, predictive_sf
from indexer.store import Filters

WEEKS4 = 28 * 24


def rule(**options):
    return build_rule({"name": "spike", "type": "negative_spike", **options})


def test_fires_on_37_vs_4(store):
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 4))
    fill(store, spread(NOW - HOUR, 37))
    alerts = rule(group_by=["topic"]).evaluate(store, NOW)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.key == "topic=手机银行" and alert.group == {"topic": "手机银行"}
    assert alert.count == 37
    assert alert.baseline == pytest.approx(4.0)
    assert alert.title == "手机银行 负面 1 小时 37 条，基线 4"
    assert alert.ratio == pytest.approx(37 / 4)
    # the predictive tail over four weeks' windows: wider than Poisson(4), still tiny
    assert alert.p_value == pytest.approx(predictive_sf(37, 4.0, 4), rel=1e-6, abs=0)
    assert poisson_sf(37, 4.0) < alert.p_value < 1e-12
    assert alert.window_end == NOW and alert.window_start == NOW - HOUR
    assert len(alert.samples) == 5 and all(s.negative for s in alert.samples)
    assert all(NOW - HOUR <= s.created_at < NOW for s in alert.samples)


def test_overall_group_is_titled_all(store):
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 4))
    fill(store, spread(NOW - HOUR, 37))
    [alert] = rule().evaluate(store, NOW)
    assert alert.key == "" and alert.title.startswith("全部 负面 1 小时 37 条")


def test_no_fire_on_3_vs_1_even_with_ratio(store):
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 1))
    fill(store, spread(NOW - HOUR, 3))
    assert rule().evaluate(store, NOW) == []
    # without the volume floor and ratio guard, the Poisson test alone still refuses (p ~ 0.08)
    assert rule(min_count=1, min_ratio=1.0).evaluate(store, NOW) == []


def test_ratio_guard_holds_back_significant_but_small_rises(store):
    fill(store, hourly_history(NOW - HOUR, WEEKS4 + 24, 20))
    fill(store, spread(NOW - HOUR, 36))  # p ~ 3e-3 over four weeks' windows, but only 1.8x
    assert rule().evaluate(store, NOW) == []
    assert len(rule(min_ratio=1.5).evaluate(store, NOW)) == 1


def test_bonferroni_changes_a_borderline_case(store):
    topics = ["手机银行"] + [f"话题{i}" for i in range(19)]
    # one record may carry many topics and counts once under each: 4 an hour per topic, cheaply
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 4, topics=topics))
    fill(store, spread(NOW - HOUR, 12))  # P(X >= 12 | 4) ~ 9e-4: below 0.01, above 0.01 / 20
    assert 0.01 / 20 < poisson_sf(12, 4.0) < 0.01
    alone = rule(topics=["手机银行"]).evaluate(store, NOW)
    assert [a.count for a in alone] == [12] and alone[0].details["groups_tested"] == 1
    assert rule(group_by=["topic"]).evaluate(store, NOW) == []
    assert len(rule(group_by=["topic"], alpha=0.2).evaluate(store, NOW)) == 1


def _seasonal_history(store, weeks: int):
    """2 negatives an hour, except 10 in the hour-of-week of the checked window."""
    for h in range(1, weeks * 7 * 24 + 1):
        start = NOW - HOUR - h * HOUR
        same_hour_of_week = h % (7 * 24) == 0
        fill(store, spread(start, 10 if same_hour_of_week else 2))
        fill(store, [record(start + HOUR / 2, label="neutral", topic=None, source="weibo")])


def test_baseline_is_seasonal_with_full_history(store):
    _seasonal_history(store, 4)
    base = seasonal_baseline(store, NOW - HOUR, NOW, (), Filters(sentiment=("negative",)), 4, 7)
    assert base.weeks_with_data == 4 and base.weight == 1.0
    assert base.seasonal[""] == pytest.approx(10.0)
    # the same hour on each of the 7 trailing days: 2 each day, 10 a week ago
    assert base.trailing[""] == pytest.approx((6 * 2 + 10) / 7)
    assert base.trailing_windows == 7
    assert base.get("") == pytest.approx(10.0)


def test_baseline_blends_with_trailing_while_history_is_short(store):
    _seasonal_history(store, 2)
    base = seasonal_baseline(store, NOW - HOUR, NOW, (), Filters(sentiment=("negative",)), 4, 7)
    assert base.weeks_with_data == 2 and base.weight == 0.5
    trailing = (6 * 2 + 10) / 7
    assert base.get("") == pytest.approx(0.5 * 10 + 0.5 * trailing)
    # the rule reports the same figures (without the robust baseline: the 10 a week ago is this
    # hour-of-week's level, which the trailing days cannot know, so the robust trailing mean is 2)
    fill(store, spread(NOW - HOUR, 40))
    [alert] = rule(robust_baseline=False).evaluate(store, NOW)
    assert alert.baseline == pytest.approx(0.5 * 10 + 0.5 * trailing)
    assert alert.details["weeks_with_data"] == 2 and alert.details["seasonal"] == pytest.approx(10)
    [robust] = rule().evaluate(store, NOW)
    assert robust.baseline == pytest.approx(0.5 * 10 + 0.5 * 2) and robust.details["history_outliers"] == 1


def test_trailing_mean_counts_only_days_the_system_ran(store):
    # two days of history at 3 an hour: the 7-day trailing mean must be 3, not 3 * 2 / 7
    start_of_day = NOW.replace(hour=0) - timedelta(days=2)
    hours = int((NOW - HOUR - start_of_day) / HOUR)
    fill(store, hourly_history(NOW - HOUR, hours, 3))
    base = seasonal_baseline(store, NOW - HOUR, NOW, (), Filters(sentiment=("negative",)), 4, 7)
    assert base.weeks_with_data == 0
    assert base.trailing_windows == 2  # the same hour yesterday and the day before
    assert base.get("") == pytest.approx(3.0)


def test_trailing_mean_follows_the_time_of_day(store):
    """A quiet night hour is compared with the quiet night hours before it, not with the day's mean:
    4 negatives at 01:00-02:00 each night, 40 an hour by day."""
    night_end = NOW.replace(hour=2)
    records = []
    for h in range(1, 3 * 24 + 1):
        start = night_end - HOUR - h * HOUR
        records += spread(start, 4 if start.hour == 1 else 40)
    fill(store, records)
    base = seasonal_baseline(store, night_end - HOUR, night_end, (), Filters(sentiment=("negative",)), 4, 7)
    assert base.trailing_windows == 3 and base.get("") == pytest.approx(4.0)
    fill(store, spread(night_end - HOUR, 14))  # 3.5x the night's usual: an alert, not "below the mean"
    [alert] = rule().evaluate(store, night_end)
    assert alert.count == 14 and alert.baseline == pytest.approx(4.0)


def test_no_history_no_alert(store):
    fill(store, spread(NOW - HOUR, 200))
    assert rule().evaluate(store, NOW) == []


def test_near_duplicates_count_once_and_show_cluster_size(store):
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 1))
    head = record(NOW - timedelta(minutes=50), text="<b>转账失败</b> 钱扣了没到账")
    copies = [record(NOW - timedelta(minutes=40 - i), text="转账失败 钱扣了没到账",
                     duplicate_of=head.id) for i in range(24)]
    fill(store, [head, *copies, *spread(NOW - HOUR, 5)])
    assert rule().evaluate(store, NOW) == []  # 30 records, but only 6 distinct
    fill(store, spread(NOW - HOUR, 8))
    [alert] = rule().evaluate(store, NOW)
    assert alert.count == 14
    assert alert.cluster_sizes[head.id] == 25
    assert alert.samples[0].id == head.id  # the biggest cluster leads
    assert all(s.duplicate_of is None for s in alert.samples)


def test_other_sentiments_and_groups_do_not_count(store):
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 4))
    fill(store, spread(NOW - HOUR, 37, label="positive"))
    fill(store, spread(NOW - HOUR, 37, topic="信用卡", source="weibo"))
    alerts = rule(group_by=["source", "topic"]).evaluate(store, NOW)
    assert [a.key for a in alerts] == ["source=weibo,topic=信用卡"]
    assert alerts[0].title.startswith("weibo · 信用卡 负面")
    assert all(s.source == "weibo" and s.topics == ["信用卡"] for s in alerts[0].samples)


def test_a_repost_wave_of_an_old_post_counts_once_and_its_first_post_is_shown(store):
    """Copies whose first post is older than the window count once for their cluster (not zero
    times), and the email shows that first post with the copies' count."""
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 1))
    old = [record(NOW - timedelta(days=3), text=f"老帖{i}：手机银行转账失败钱被扣") for i in range(12)]
    fill(store, old)
    copies = [record(NOW - HOUR + timedelta(minutes=2 * i + 1), duplicate_of=old[i % 12].id)
              for i in range(12)] + [record(NOW - timedelta(minutes=5), duplicate_of=old[0].id)
                                     for _ in range(8)]
    fill(store, copies)
    [alert] = rule(min_count=5).evaluate(store, NOW)
    assert alert.count == 12  # 12 clusters, the first posts three days old
    assert alert.samples[0].id == old[0].id and alert.cluster_sizes[old[0].id] == 9


def test_the_long_window_catches_a_climb_the_short_one_misses(store):
    """1 an hour of baseline; then 5, 4 and 3 in the last three hours: the last hour (3) is under
    the floor of 4, but the 3 h window (12 vs 3, p = 8e-4 over four weeks' windows) fires, with
    the Bonferroni share of two windows."""
    fill(store, hourly_history(NOW - 3 * HOUR, WEEKS4, 1))
    for k, n in enumerate((5, 4, 3)):
        fill(store, spread(NOW - (3 - k) * HOUR, n))
    assert rule(min_count=4, min_ratio=3.0).evaluate(store, NOW) == []
    [alert] = rule(min_count=4, min_ratio=3.0, long_window="3h").evaluate(store, NOW)
    assert alert.count == 12 and alert.window_start == NOW - 3 * HOUR
    assert alert.title.startswith("全部 负面 3 小时 12 条")
    assert alert.details["p_threshold"] == pytest.approx(0.01 / 2)


def test_the_first_working_day_after_a_holiday_is_not_a_spike(store):
    """Two normal weeks (4 negatives an hour), then an 8-day holiday at a quarter of that: the
    holiday days are quiet days (under half the upper-quartile day's volume) and leave the baseline, so
    11 negatives now are 2.75x the normal 4, not 4.4x a holiday-diluted 2.5."""
    fill(store, hourly_history(NOW - 8 * 24 * HOUR, 14 * 24, 4))
    fill(store, hourly_history(NOW, 8 * 24, 1))
    fill(store, spread(NOW - HOUR, 10))  # + the holiday's 1 in that hour: 11
    args = (store, NOW - HOUR, NOW, (), Filters(sentiment=("negative",), distinct_clusters=True), 2, 7)
    assert seasonal_baseline(*args).get("") == pytest.approx(2.5)
    skipping = seasonal_baseline(*args, skip_quiet_days=True)
    assert skipping.get("") == pytest.approx(4.0)
    # the trailing part reached back past the holiday for its 7 working days (not 0 of them, which
    # left the baseline on the one seasonal window two weeks ago)
    assert skipping.trailing_windows == 7 and skipping.trailing[""] == pytest.approx(4.0)
    assert seasonal_baseline(*args).trailing_windows == 7  # without skipping: the holiday days
    assert rule(min_ratio=3.0, baseline_weeks=2).evaluate(store, NOW) == []


def test_an_earlier_incident_does_not_raise_the_baseline(store):
    """Four weeks at 2 negatives an hour about 手机银行; three days ago the same hour held an outage
    (30 more). The next outage, is judged against the ordinary 2, not against a mean that
    the first outage raised (2 + 30/7 over the trailing days): 10 now fires, and says one history window
    was left out. Without the robust baseline it does not."""
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 2))
    fill(store, spread(NOW - HOUR - 3 * 24 * HOUR, 30))
    fill(store, spread(NOW - HOUR, 10))
    args = (store, NOW - HOUR, NOW, (), Filters(sentiment=("negative",), distinct_clusters=True), 0, 7)
    assert seasonal_baseline(*args).get("") == pytest.approx(2 + 30 / 7)
    robust = seasonal_baseline(*args, robust=True)
    assert robust.get("") == pytest.approx(2.0) and robust.outliers == {"": 1}
    options = {"baseline_weeks": 0, "min_count": 5, "min_ratio": 3.0, "alpha": 0.003}
    [alert] = rule(**options).evaluate(store, NOW)
    assert alert.count == 10 and alert.baseline == pytest.approx(2.0)
    assert alert.details["history_outliers"] == 1
    assert rule(robust_baseline=False, **options).evaluate(store, NOW) == []


def test_ordinary_variation_is_not_taken_for_an_incident(store):
    """Poisson noise around 3 an hour (seeded): no history window stands out, so the robust
    baseline is the plain mean, to the last digit."""
    import random

    rng = random.Random(5)
    for h in range(1, 8 * 24 + 1):
        start = NOW - HOUR - h * HOUR
        n = sum(rng.random() < 0.03 for _ in range(100))  # Binomial(100, 0.03), about Poisson(3)
        fill(store, spread(start, n))
    args = (store, NOW - HOUR, NOW, (), Filters(sentiment=("negative",)), 1, 7)
    plain, robust = seasonal_baseline(*args), seasonal_baseline(*args, robust=True)
    assert robust.get("") == plain.get("") and robust.outliers == {}



def _surge(store, positive_now: int, negative_now: int, neutral_now: int = 0, positive_usual: int = 10,
           negative_usual: int = 1):
    """Four weeks of 5 neutral, `positive_usual` positive and `negative_usual` negative 信用卡 records
    an hour, then the last hour's."""
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 5, label="neutral", topic="信用卡"))
    fill(store, hourly_history(NOW - HOUR, WEEKS4, positive_usual, label="positive", topic="信用卡"))
    fill(store, hourly_history(NOW - HOUR, WEEKS4, negative_usual, label="negative", topic="信用卡"))
    fill(store, spread(NOW - HOUR, 5 + neutral_now, label="neutral", topic="信用卡"))
    fill(store, spread(NOW - HOUR, positive_now, label="positive", topic="信用卡"))
    fill(store, spread(NOW - HOUR, negative_now, label="negative", topic="信用卡"))


def test_a_positive_surge_brings_its_usual_share_of_negatives_and_is_no_spike(store):
    # 60 positive posts against 10 are 50 - 2 sqrt(10) beyond chance and bring 0.1 (1 negative per
    # 10 positives) of that, 4.4 more expected negatives: the 6 the classifier calls negative are
    # what such a surge brings, not an incident
    _surge(store, positive_now=60, negative_now=6)
    assert rule(group_by=["topic"], min_count=4, min_ratio=3.0).evaluate(store, NOW) == []
    [plain] = rule(group_by=["topic"], min_count=4, min_ratio=3.0, volume_adjusted=False).evaluate(store, NOW)
    assert plain.key == "topic=信用卡" and plain.count == 6


def test_a_negative_burst_with_the_models_misses_still_fires(store):
    # 12 negatives the model found and 12 it missed, read as neutral (as misses are): neutral
    # records do not raise the expectation, nor do 2 positives above 10 (within chance)
    _surge(store, positive_now=12, negative_now=12, neutral_now=12)
    [alert] = rule(group_by=["topic"], min_count=4, min_ratio=3.0).evaluate(store, NOW)
    assert alert.count == 12 and alert.baseline == pytest.approx(1.0)
    assert alert.details["volume_adjustment"] == 0.0
    assert alert.details["baseline_used"] == pytest.approx(1.0)
    assert alert.title == "信用卡 负面 1 小时 12 条，基线 1"


def test_the_adjustment_assumes_at_most_the_share_cap(store):
    # a group with as many negatives as positives: a positive surge must not bring one expected
    # negative per post
    _surge(store, positive_now=15, negative_now=20, positive_usual=5, negative_usual=5)
    [alert] = rule(group_by=["topic"], min_count=4, min_ratio=2.0).evaluate(store, NOW)
    assert alert.details["volume_adjustment"] == pytest.approx((15 - 5 - 2 * math.sqrt(5)) * 0.2)
    uncapped = rule(group_by=["topic"], min_count=4, min_ratio=2.0, volume_share_cap=0.99)
    assert uncapped.evaluate(store, NOW) == []


def test_a_group_silent_for_weeks_is_judged_against_the_floor_not_a_made_up_history(store):
    # four weeks in which 信用卡 had no negative at all, then 6 in the hour: the tail is about
    # Poisson(floor), not the predictive tail of a history that held the floor's mean
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 3, label="neutral", topic="信用卡"))
    fill(store, spread(NOW - HOUR, 6, label="negative", topic="信用卡"))
    alpha = 5e-5
    assert poisson_sf(6, 0.5) < alpha < predictive_sf(6, 0.5, 4)
    [alert] = rule(group_by=["topic"], min_count=4, min_ratio=3.0, alpha=alpha).evaluate(store, NOW)
    assert alert.key == "topic=信用卡" and alert.count == 6 and alert.baseline == 0.0
    assert alert.details["seasonal_weight"] == 1.0 and alert.details["weeks_with_data"] == 4
    # the larger of "0 over 4 windows" (1.6e-5) and Poisson(0.5) (1.4e-5)
    assert alert.p_value == pytest.approx(max(predictive_sf(6, 0.0, 4), poisson_sf(6, 0.5)), rel=1e-9)


def test_a_young_history_of_silence_stays_cautious(store):
    # one day of history: the predictive tail of "0 in one or two windows" is the wide one
    fill(store, hourly_history(NOW - HOUR, 24, 3, label="neutral", topic="信用卡"))
    fill(store, spread(NOW - HOUR, 6, label="negative", topic="信用卡"))
    assert rule(group_by=["topic"], min_count=4, min_ratio=3.0, alpha=5e-5).evaluate(store, NOW) == []


UNSURE = {"negative": 0.35, "neutral": 0.5, "positive": 0.15}  # a complaint the argmax calls neutral


def _unsure_burst(store, negatives_now: int, unsure_now: int) -> None:
    """Four weeks of 1 negative, 1 unsure and 5 plain neutral 信用卡 records an hour, then the hour's."""
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 1, topic="信用卡"))
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 1, label="neutral", scores=UNSURE, topic="信用卡"))
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 5, label="neutral", topic="信用卡"))
    fill(store, spread(NOW - HOUR, negatives_now, topic="信用卡"))
    fill(store, spread(NOW - HOUR, unsure_now, label="neutral", scores=UNSURE, topic="信用卡"))


def test_negative_score_counts_the_complaints_the_label_calls_neutral(store):
    # 3 labelled negatives against 1 is nothing; with the 9 the model was unsure of (P = 0.35),
    # 12 likely negatives against 2 an hour is a spike, and the title says it counts likely ones
    _unsure_burst(store, negatives_now=3, unsure_now=9)
    assert rule(group_by=["topic"], min_count=4, min_ratio=3.0).evaluate(store, NOW) == []
    [alert] = rule(group_by=["topic"], min_count=4, min_ratio=3.0, negative_score=0.3).evaluate(store, NOW)
    assert alert.count == 12 and alert.baseline == pytest.approx(2.0)
    assert alert.title == "信用卡 负面（含疑似） 1 小时 12 条，基线 2"
    assert alert.details["negative_score"] == 0.3
    assert {s.sentiment.label for s in alert.samples} == {"negative", "neutral"}
    assert alert.samples[0].negative  # the most negative first
    # above the unsure records' score the threshold counts what the label counts
    assert rule(group_by=["topic"], min_count=4, min_ratio=3.0, negative_score=0.4).evaluate(store, NOW) == []


def test_negative_score_is_zero_or_a_probability():
    from alerts.errors import RuleConfigError

    for bad in (1.0, -0.1, 2):
        with pytest.raises(RuleConfigError, match="negative_score"):
            rule(negative_score=bad)
    assert rule(negative_score=0.0).filters.sentiment == ("negative",)
    scored = rule(negative_score=0.15).filters
    assert scored.sentiment == () and scored.min_negative_score == 0.15 and scored.distinct_clusters


def test_a_positive_surge_raises_the_likely_negatives_baseline_too(store):
    # the volume adjustment holds with negative_score: 60 positive posts against 10 bring their
    # usual share of likely negatives (2 an hour against 10 positives: 0.2 of 43.7 beyond chance),
    # so 12 unsure records against 2 + 8.7 are no spike
    _surge(store, positive_now=60, negative_now=0)
    fill(store, hourly_history(NOW - HOUR, WEEKS4, 1, label="neutral", scores=UNSURE, topic="信用卡"))
    fill(store, spread(NOW - HOUR, 12, label="neutral", scores=UNSURE, topic="信用卡"))
    options = {"group_by": ["topic"], "min_count": 4, "min_ratio": 3.0, "negative_score": 0.3}
    assert rule(**options).evaluate(store, NOW) == []
    [plain] = rule(**options, volume_adjusted=False).evaluate(store, NOW)
    assert plain.count == 12 and plain.details["volume_adjustment"] == 0.0


def test_checked_every_five_minutes_the_tail_counts_the_new_alarms_of_twelve_looks(store):
    from alerts.stats.tails import looks

    fill(store, hourly_history(NOW - HOUR, WEEKS4, 1))
    fill(store, spread(NOW - HOUR, 8))  # 8 against 1: P ~ 1e-5 for one look an hour
    [once] = rule(min_count=4, alpha=0.003).evaluate(store, NOW)
    [often] = rule(min_count=4, alpha=0.003, check_every="5m").evaluate(store, NOW)
    factor = looks(8, 1.0, 12)
    assert 5 < factor < 12 and once.details.get("looks", 1.0) == 1.0
    assert often.p_value == pytest.approx(once.p_value * factor) and often.details["looks"] == factor
    # a count that one hourly look finds significant is chance for twelve looks an hour
    borderline = once.p_value * 2
    assert rule(min_count=4, alpha=borderline).evaluate(store, NOW)
    assert rule(min_count=4, alpha=borderline, check_every="5m").evaluate(store, NOW) == []
    # checked less often than the window is long: one look per window, no correction
    [hourly] = rule(min_count=4, alpha=0.003, check_every="2h").evaluate(store, NOW)
    assert hourly.p_value == once.p_value
