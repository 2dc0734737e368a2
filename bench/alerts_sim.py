"""The alert rules against eight simulated weeks of feedback with known incidents; and one full check
over 1,000,000 records.

    nice -n 10 .venv/bin/python bench/alerts_sim.py                  # both parts (~10 min on 2 cores)
    nice -n 10 .venv/bin/python bench/alerts_sim.py --skip-timing    # detection figures only

Part 1 writes 8 weeks of hourly feedback (daily and weekly seasonality, Poisson noise) into a real
SQLite store, with injected incidents: negative spikes of 1.5x-10x the hour's negative baseline
lasting 1-6 h, negative-share shifts at steady volume, a blocked crawler and a silently empty one, a
new complaint term, critical risk records. It then replays checks through `alerts.run_rules` (the
realert window and all) from week 3 on: hourly, and every 5 minutes (the check interval) during the
first 65 minutes of each incident. Hourly steps elsewhere save time but can miss a false alarm that
would only show in a window not ending on the hour. Each rule runs at its defaults (plus the topic
spike rule shipped in settings.toml), next to two baselines computed here on the same store:

- fixed threshold: negatives in the last hour >= 3x the mean hourly negatives of the first 2 weeks;
- ElastAlert-style spike: this hour >= 3x the hour before, and >= 10 (its threshold_cur).

Printed per rule: incidents of the kinds it is meant for detected, median delay from incident start,
>= 3x spikes caught within 65 min (first hour + one check interval), false alarms per week (alerts
outside every incident's span + 3 h). Part 2 times full checks (all rules) over 1M records, 5 minutes
apart from a cold start (emerging_term builds up to 3 of its 7 day tables a check) to steady state,
with time per store call.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts import build_rules, run_rules  # noqa: E402
from core.record import DISPLAY_TZ, Feedback, Sentiment  # noqa: E402
from indexer.sqlite import SqliteStore  # noqa: E402
from indexer.store import Filters  # noqa: E402

START = datetime(2024, 3, 4, tzinfo=DISPLAY_TZ)  # a Monday
WEEKS = 8
HOUR = timedelta(hours=1)
MIN5 = timedelta(minutes=5)
DAILY = [0.4, 0.3, 0.22, 0.2, 0.2, 0.25, 0.4, 0.7, 1.0, 1.3, 1.5, 1.5,
         1.3, 1.3, 1.4, 1.4, 1.3, 1.2, 1.2, 1.3, 1.4, 1.3, 0.9, 0.6]
WEEKLY = [1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.7]
SOURCES = {"appstore": 0.25, "weibo": 0.35, "tousu": 0.2, "rss:caixin": 0.05, "site:forum": 0.15}
SPIDERS = {"appstore": "appstore", "weibo": "weibo", "tousu": "tousu", "rss:caixin": "rss",
           "site:forum": "site:forum"}
TOPICS = ["手机银行", "信用卡", "贷款", "转账", "理财", "网点服务", None]
TOPIC_P = [0.3, 0.2, 0.12, 0.1, 0.08, 0.1, 0.1]
NEG_SHARE, POS_SHARE = 0.2, 0.3
PHRASES = ["登录不了一直转圈", "客服电话打不通", "信用卡额度降低", "排队时间太长", "理财收益太低",
           "验证码收不到", "网点服务态度差", "手续费乱收", "贷款审批太慢", "更新以后闪退",
           "人脸识别失败", "积分兑换不了",
           "还款日提醒太晚", "柜员办事太慢", "广告推送太多", "利率又涨了", "账单看不懂", "年费不退"]
SENT = {label: Sentiment(label, {label: 0.9}, "sim") for label in ("negative", "neutral", "positive")}
RULES = [
    {"name": "negative_spike", "type": "negative_spike"},
    {"name": "negative_spike_topic", "type": "negative_spike", "group_by": ["topic"], "min_count": 10,
     "min_ratio": 3.0, "alpha": 0.01},  # as shipped in settings.toml
    {"name": "negative_share", "type": "negative_share"},
    {"name": "risk_term", "type": "risk_term"},
    {"name": "source_silent", "type": "source_silent"},
    {"name": "emerging_term", "type": "emerging_term"},
]
MEANT_FOR = {"negative_spike": "spike", "negative_spike_topic": "spike", "fixed_threshold": "spike",
             "elastalert_spike": "spike", "negative_share": "share", "risk_term": "risk",
             "source_silent": "outage", "emerging_term": "term"}


@dataclass
class Incident:
    kind: str  # spike | share | outage | term | risk
    start: datetime
    hours: int
    size: float = 0.0  # spike: multiple of the hour's negative baseline; share: negative share
    topic: str | None = None
    source: str = ""
    blocked: bool = False
    text: str = ""

    @property
    def end(self) -> datetime:
        return self.start + self.hours * HOUR

    def label(self) -> str:
        extra = {"spike": f"{self.size:g}x {self.topic}", "share": f"share {self.size:.0%}",
                 "outage": f"{self.source} {'blocked' if self.blocked else 'silent'}",
                 "term": self.text, "risk": "critical flags"}[self.kind]
        return f"{self.kind} {self.start.strftime('%m-%d %H:%M')} {self.hours}h {extra}"


def rate(hour: datetime, base: float) -> float:
    local = hour.astimezone(DISPLAY_TZ)
    return base * DAILY[local.hour] * WEEKLY[local.weekday()]


def plan_incidents(rng: random.Random) -> list[Incident]:
    kinds = ([("spike", m, h) for m, h in [(1.5, 2), (2, 1), (2, 3), (1.5, 6), (2, 2), (1.5, 1)]]
             + [("spike", m, h) for m in (3, 4, 5, 8, 10) for h in (1, 3)]
             + [("spike", m, h) for m, h in [(3, 1), (3, 2), (3, 6), (5, 1), (3, 1), (6, 2), (3, 3), (4, 1)]]
             + [("share", 0.45, 3), ("share", 0.4, 2), ("share", 0.5, 3)]
             + [("outage", 0, 8), ("outage", 0, 6), ("term", 0, 3), ("term", 0, 2), ("risk", 0, 1),
                ("risk", 0, 1), ("risk", 0, 1)])
    rng.shuffle(kinds)
    span = (WEEKS - 2) * 7 * 24 - 24  # hours from week 3 on, a day kept free at the end
    step = span / len(kinds)
    out = []
    for i, (kind, size, hours) in enumerate(kinds):
        start = START + timedelta(days=14) + int(i * step + rng.uniform(0, step - hours - 4)) * HOUR \
            + rng.randrange(12) * MIN5
        inc = Incident(kind, start, hours, size)
        if kind == "spike":
            inc.topic = rng.choice(TOPICS[:-1])
        elif kind == "outage":
            inc.source, inc.blocked = ("weibo", True) if not any(o.blocked for o in out) else ("tousu", False)
        elif kind == "term":
            inc.topic, inc.text = ("转账", "转账失败钱扣了") if not any(o.kind == "term" for o in out) \
                else ("理财", "理财产品暴雷了")
        out.append(inc)
    return out


class Generator:
    def __init__(self, base: float, incidents: list[Incident], seed: int) -> None:
        self.base, self.incidents, self.serial = base, incidents, 0
        self.np = np.random.default_rng(seed)
        self.rng = random.Random(seed)
        self.sources, self.weights = list(SOURCES), list(SOURCES.values())

    def record(self, at: datetime, label: str, source: str, topic: str | None, text: str = "",
               risk: list | None = None) -> Feedback:
        self.serial += 1
        if label == "negative" and not text:
            text = "，".join(self.rng.sample(PHRASES, 2))
        return Feedback(id=f"s{self.serial}", source=source, kind="review", text=text, created_at=at,
                        sentiment=SENT[label], topics=[topic] if topic else [], risk=risk or [])

    def hour(self, hour: datetime) -> list[Feedback]:
        active = [i for i in self.incidents if i.start < hour + HOUR and i.end > hour]
        lam = rate(hour, self.base)
        n = int(self.np.poisson(lam))
        share = NEG_SHARE
        for inc in active:
            if inc.kind == "share":
                share = inc.size
        offsets = self.np.uniform(0, 3600, n)
        src = self.rng.choices(self.sources, self.weights, k=n)
        top = self.rng.choices(TOPICS, TOPIC_P, k=n)
        draws = self.np.uniform(0, 1, n)
        out = []
        for k in range(n):
            at = hour + timedelta(seconds=float(offsets[k]))
            if any(inc.kind == "outage" and inc.source == src[k] and inc.start <= at < inc.end
                   for inc in active):
                continue
            if any(inc.kind == "share" and not inc.start <= at < inc.end for inc in active):
                label = "negative" if draws[k] < NEG_SHARE else "neutral"
            else:
                label = ("negative" if draws[k] < share
                         else "positive" if draws[k] > 1 - POS_SHARE else "neutral")
            risk = [{"flag": "投诉", "severity": "warning"}] if draws[k] > 0.99 else None
            out.append(self.record(at, label, src[k], top[k], risk=risk))
        for inc in active:
            lo, hi = max(inc.start, hour), min(inc.end, hour + HOUR)
            frac = (hi - lo) / HOUR
            if inc.kind == "spike":
                extra = self.np.poisson((inc.size - 1) * lam * NEG_SHARE * frac)
            elif inc.kind == "term":
                extra = self.np.poisson(10 * frac)
            elif inc.kind == "risk" and lo == inc.start:
                extra = 2
            else:
                continue
            for _ in range(int(extra)):
                at = lo + (hi - lo) * self.rng.random()
                risk = [{"flag": "挤兑", "severity": "critical"}] if inc.kind == "risk" else None
                out.append(self.record(at, "negative", self.rng.choices(self.sources, self.weights)[0],
                                       inc.topic, text=inc.text, risk=risk))
        return out


def fill(store: SqliteStore, gen: Generator, weeks: int = WEEKS) -> int:
    total, batch = 0, []
    for h in range(weeks * 7 * 24):
        batch += gen.hour(START + h * HOUR)
        if len(batch) >= 5000:
            store.upsert(batch)
            total, batch = total + len(batch), []
    store.upsert(batch)
    return total + len(batch)


def health(store: SqliteStore, now: datetime, incidents: list[Incident]) -> None:
    """Every spider's crawl_health as of `now`: a crawl finished 10 min ago."""
    for source, spider in SPIDERS.items():
        blocked = any(i.kind == "outage" and i.blocked and i.source == source
                      and i.start + timedelta(minutes=20) <= now < i.end for i in incidents)
        store.put_state("crawl_health", spider, {
            "spider": spider, "sources": [source], "status": "blocked" if blocked else "ok",
            "reason": "HTTP 403" if blocked else "", "started_at": (now - 2 * MIN5).isoformat(),
            "finished_at": (now - 2 * MIN5).isoformat()})


class Baselines:
    """The two detectors every monitor starts with, on the same store, with the same realert window."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        neg = Filters(sentiment=("negative",), distinct_clusters=True)
        first = store.counts(START, START + timedelta(days=14), None, (), neg)
        self.fixed = 3 * (first[0].count if first else 0) / (14 * 24)
        self.neg = neg
        self.last: dict[str, datetime] = {}

    def check(self, now: datetime) -> list[str]:
        def n(a: datetime, b: datetime) -> int:
            rows = self.store.counts(a, b, None, (), self.neg)
            return rows[0].count if rows else 0
        cur, ref = n(now - HOUR, now), n(now - 2 * HOUR, now - HOUR)
        fired = []
        hits = (("fixed_threshold", cur >= self.fixed), ("elastalert_spike", cur >= 10 and cur >= 3 * ref))
        for name, hit in hits:
            if hit and (name not in self.last or now >= self.last[name] + timedelta(hours=6)):
                self.last[name] = now
                fired.append(name)
        return fired


def replay(store: SqliteStore, incidents: list[Incident]) -> tuple[dict[str, list[datetime]], int, float]:
    rules = build_rules(RULES)
    baselines = Baselines(store)
    first, last = START + timedelta(days=14), START + WEEKS * timedelta(days=7)
    times = {first + h * HOUR for h in range(int((last - first) / HOUR) + 1)}
    for inc in incidents:
        times |= {inc.start + k * MIN5 for k in range(1, 14)}
    fired: dict[str, list[datetime]] = defaultdict(list)
    began = time.perf_counter()
    for i, now in enumerate(sorted(times)):
        health(store, now, incidents)
        report = run_rules(rules, store, [], now)
        if report.errors:
            raise SystemExit(f"rule errors at {now}: {report.errors}")
        # every firing decided (a message's lead, the firings it carries, those an open incident took
        # quietly): the rules' own detections, as before incidents grouped them into messages
        for alert in report.recorded:
            if alert.kind != "recovery":  # notices that a level came back down are not alarms
                fired[alert.rule].append(now)
        for name in baselines.check(now):
            fired[name].append(now)
        if i % 200 == 0:
            print(f"  replay {i}/{len(times)} checks  {time.perf_counter() - began:.0f}s", flush=True)
    return fired, len(times), time.perf_counter() - began


def score(fired: dict[str, list[datetime]], incidents: list[Incident], weeks: float) -> None:
    spans = [(i.start, i.end + 3 * HOUR) for i in incidents]
    print(f"\n{'rule':22} {'meant for':9} {'detected':>9} {'median delay':>13} {'>=3x in 65min':>14} "
          f"{'FA/week':>8}")
    for name in [r["name"] for r in RULES] + ["fixed_threshold", "elastalert_spike"]:
        kind = MEANT_FOR[name]
        mine = [i for i in incidents if i.kind == kind]
        delays, big_ok, big = [], 0, 0
        for inc in mine:
            hits = [t for t in fired.get(name, []) if inc.start <= t <= inc.end + HOUR]
            delay = (hits[0] - inc.start) / timedelta(minutes=1) if hits else None
            if delay is not None:
                delays.append(delay)
            if kind == "spike" and inc.size >= 3:
                big += 1
                big_ok += delay is not None and delay <= 65
        false = sum(1 for t in fired.get(name, []) if not any(a <= t <= b for a, b in spans))
        median = f"{statistics.median(delays):.0f} min" if delays else "-"
        caught = f"{big_ok}/{big} {big_ok / big:.0%}" if big else "-"
        print(f"{name:22} {kind:9} {len(delays):>4}/{len(mine):<4} {median:>13} {caught:>14} "
              f"{false / weeks:>8.2f}")


def misses(fired: dict[str, list[datetime]], incidents: list[Incident]) -> None:
    print("\nspikes >= 3x missed within 65 min by negative_spike (overall):")
    for inc in incidents:
        if inc.kind == "spike" and inc.size >= 3:
            soon = inc.start + timedelta(minutes=65)
            if not [t for t in fired.get("negative_spike", []) if inc.start <= t <= soon]:
                usual = rate(inc.start, ARGS.rate) * NEG_SHARE
                print(f"  {inc.label()}  hour baseline ~{usual:.0f} negatives")


class TimedStore:
    """The store with time per call kind (method + group_by + interval + filter fields) recorded."""

    def __init__(self, store: SqliteStore) -> None:
        self.store, self.spent = store, defaultdict(lambda: [0, 0.0])

    def __getattr__(self, name: str):
        method = getattr(self.store, name)

        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                key = name
                if name == "counts":
                    start, end, interval, group_by, filters = (list(args) + [None, (), Filters()])[:5]
                    span = (end - start) / HOUR
                    used = [f for f, v in filters.__dict__.items() if v not in ((), None, False)]
                    key = (f"counts(span={span:.0f}h interval={interval} group_by={tuple(group_by)} "
                           f"filters={used})")
                cell = self.spent[key]
                cell[0] += 1
                cell[1] += time.perf_counter() - began
        return timed


def timing(records: int, workdir: Path) -> None:
    base = records / sum(rate(START + h * HOUR, 1.0) for h in range(WEEKS * 7 * 24))
    store = SqliteStore(workdir / "timing.db")
    began = time.perf_counter()
    n = fill(store, Generator(base, [], seed=2))
    print(f"\n1M store: {n} records written in {time.perf_counter() - began:.0f}s")
    rules = build_rules(RULES)
    end = START + WEEKS * timedelta(days=7) - timedelta(hours=14)  # a weekday 10:00
    # The first checks after a start fill emerging_term's day tables (3 a check); then steady state.
    labels = ["first (cold start)", "second", "third", "steady state"]
    for label, now in zip(labels, (end + i * MIN5 for i in range(len(labels))), strict=True):
        timed = TimedStore(store)
        began = time.perf_counter()
        run_rules(rules, timed, [], now)
        total = time.perf_counter() - began
        print(f"one full check ({len(rules)} rules, {label}): {total:.2f}s  (target < 2 s)")
        for key, (calls, spent) in sorted(timed.spent.items(), key=lambda kv: -kv[1][1])[:4]:
            print(f"    {spent:6.2f}s  {calls:3d}x  {key}")
    store.close()


def main() -> None:
    rng = random.Random(1)
    incidents = plan_incidents(rng)
    with tempfile.TemporaryDirectory(prefix="voc-alerts-sim-") as tmp:
        if not ARGS.skip_sim:
            store = SqliteStore(Path(tmp) / "sim.db")
            began = time.perf_counter()
            n = fill(store, Generator(ARGS.rate, incidents, seed=1))
            print(f"simulated {n} records over {WEEKS} weeks (mean {ARGS.rate:g}/h before seasonality), "
                  f"{len(incidents)} incidents, written in {time.perf_counter() - began:.0f}s")
            fired, checks, spent = replay(store, incidents)
            weeks = (WEEKS - 2)
            print(f"replayed {checks} checks over {weeks} weeks in {spent:.0f}s "
                  f"({spent / checks * 1000:.0f} ms/check)")
            score(fired, incidents, weeks)
            misses(fired, incidents)
            store.close()
        if not ARGS.skip_timing:
            timing(ARGS.timing_records, Path(tmp))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=250.0, help="records per hour before seasonality")
    parser.add_argument("--timing-records", type=int, default=1_000_000)
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-sim", action="store_true")
    ARGS = parser.parse_args()
    main()
