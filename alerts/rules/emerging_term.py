"""`emerging_term`: a word in negative comments far above its own baseline ("转账失败", "暴雷").

Topics come from a taxonomy someone wrote; a new issue has no topic yet. This rule names it. It
reads the negative records of [now - window, now) (near-duplicate clusters once), takes their
candidate terms (alerts.rules.terms: character bigrams/trigrams and Latin words), and for every term in at
least `min_support` records compares its support with what its share of negative records over the
trailing `baseline_days` (display-timezone days before the window's day) predicts:

    expected = max(baseline_floor, share_in_baseline * negatives_in_window)
    fires when support >= min_ratio * expected and P(X >= support | Poisson(expected)) <= alpha / m

(m = terms tested). Measuring against the term's *share* keeps the busy hours from lifting every
common word. A firing n-gram is then named by growing it while most of its comments agree
("账失" -> "转账失败", alerts.rules.terms.extend). What is left must name a *new* issue; `drop`
lists the filters that see to it (all three by default; `drop = []` is the rule as it was before
them, kept to measure them: bench/emerging_terms.py):

- generic: a word of ordinary days is not new, however much it rose: an n-gram in at least
  `generic_share` (1 %) of the baseline's negative records, and in `min_support` of them, is not
  named; nor is a name that is one of the words of any complaint (terms.GENERIC: 失败, 问题, 投诉).
- fragments: a name inside a longer one that 80 % of its comments hold gives way to it (余额少 ->
  余额少了; a name may end in 了); a longer one held by fewer is the shorter one plus noise and gives
  way to the shorter (terms.strongest).
- known: a name that is, or is part of, an existing topic's name or keyword or a product's name in
  the taxonomy (`taxonomy`, "" = the shipped one: 手机银行, 信用卡, 征信) is the topic rules'
  business; our bank's names (`ignore`) and the mentions the tagger marked `ours` on each record
  are cut out of the text before terms are taken, so no term holds or straddles them.

A name found in the same comments as a stronger one is listed with it (`details["related_terms"]`).
One alert per term, key `term=<term>`, at most `max_terms` per check, samples = comments holding it.

The baseline is cheap: per day, the term document frequencies (terms in >= 2 records) are computed
once and kept in the store (state namespace "term_baseline", key `<rule>:<YYYY-MM-DD>`), recomputed
once `SETTLE` after the day ended so that late-crawled comments count; documents older than the
baseline are pruned. A day of fewer than `SMALL_DAY` negative records keeps every term (a quiet
source's ordinary words are seen once a day, not twice); a larger one keeps the terms in >= 2.

    [[alerts.rules]]
    name = "emerging_term"
    type = "emerging_term"
    window = "1h"
    min_support = 5
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.alert import Alert
from alerts.duration import describe_duration, parse_duration
from alerts.errors import RuleConfigError
from alerts.rules.groups import SCOPE, scope_filters
from alerts.rules.negative_spike import format_baseline
from alerts.rules.rule import Option, Rule, at_least, between_open, one_of, register_rule
from alerts.rules.terms import KEEP, TAIL, core, extend, is_generic, normalized, strongest, terms
from alerts.stats.tails import poisson_sf
from core.record import Feedback, as_utc, display_tz, parse_time
from indexer.store import FeedbackStore
from nlp.errors import TaxonomyError
from nlp.normalize import normalize
from nlp.taxonomy import load_taxonomy

log = logging.getLogger(__name__)

NAMESPACE = "term_baseline"
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
SETTLE = timedelta(hours=6)  # a day's table is final once computed this long after the day ended
READ_CAP = 20_000  # negative records read per window or per day
BUILDS_PER_CHECK = 3  # day tables (re)built per check at most (see `_baseline`)
SMALL_DAY = 2_000  # a day with fewer negative records keeps terms seen once in its table
FILTERS = ("generic", "fragments", "known")


def known_words(path: str) -> frozenset[str]:
    """The taxonomy's topic names (each part of 手机银行/闪退), keywords and product names and
    aliases, folded as terms are; ValueError names the file when it cannot be read."""
    try:
        taxonomy = load_taxonomy(path or None)
    except TaxonomyError as exc:
        raise ValueError(str(exc)) from exc
    words = {part for topic in taxonomy.topics for part in topic.name.split("/")}
    for topic in taxonomy.topics:
        words.update(topic.keywords, topic.context_keywords)
    for canonical, aliases in taxonomy.products.items():
        words.update([canonical, *aliases])
    return frozenset(normalize(w).lower() for w in words if len(w) >= 2)


@register_rule
class EmergingTerm(Rule):
    type_name = "emerging_term"
    recovers = False  # reports events, not a level that comes back down
    OPTIONS = {
        "window": Option(str, "1h", parse_duration, "length of the window that ends now"),
        "baseline_days": Option(int, 7, at_least(1), "days of history for each term's share"),
        "min_support": Option(int, 5, at_least(2), "records in the window that must hold the term"),
        "min_ratio": Option(float, 4.0, at_least(1.0), "support must be at least this times expected"),
        "alpha": Option(float, 0.01, between_open(0.0, 1.0), "family-wise false-alarm level"),
        "baseline_floor": Option(float, 0.5, at_least(0.01), "smallest expectation used in the test"),
        "max_terms": Option(int, 5, at_least(1), "alerts per check at most"),
        "samples": Option(int, 5, at_least(0), "comments shown in the alert"),
        **SCOPE,
        "ignore": Option(list, [], None, "words never reported, nor named inside a term (the bank's own "
                                         "names: voc fills in [bank] name and aliases when unset)"),
        "drop": Option(list, list(FILTERS), one_of(*FILTERS), "what is not reported as new: generic "
                       "(common in the baseline, or a word of any complaint), fragments (part of a "
                       "longer term), known (a topic's name or keyword, our bank's names)"),
        "generic_share": Option(float, 0.01, between_open(0.0, 1.0),
                                "share of the baseline's negative records above which a term is generic"),
        "taxonomy": Option(str, "", None, 'the taxonomy whose topic words are known ("" = the shipped one)'),
    }

    def __init__(self, name: str, severity: str, options: dict[str, Any]) -> None:
        super().__init__(name, severity, options)
        self.window: timedelta = options["window"]
        self.filters = scope_filters(options, sentiment=("negative",), distinct_clusters=True)
        self.drop = frozenset(options["drop"])
        ignored = [normalize(w).lower() for w in options["ignore"] if w.strip()]
        words = sorted(set(ignored), key=len, reverse=True)
        self._mask = re.compile("|".join(re.escape(w) for w in words)) if words else None
        self._known: frozenset[str] = frozenset()
        if "known" in self.drop:
            try:
                self._known = known_words(options["taxonomy"]) | set(ignored)
            except ValueError as exc:
                raise RuleConfigError(name, "taxonomy", str(exc)) from exc

    def _text(self, record: Feedback) -> str:
        """The text terms are read from, with ignored words blanked out, so that no term holds or
        straddles them ("江南银行手机银行崩了" yields 手机银行崩了, never 南银行手); with `known`, the
        mentions of our bank the tagger found in this record are blanked too (江南行, a short form)."""
        text = normalized(record.title, record.text)
        if self._mask is not None:
            text = self._mask.sub("，", text)
        if "known" in self.drop:
            for mention in sorted({normalize(e.get("text") or "").lower() for e in record.entities
                                   if e.get("ours")} - {""}, key=len, reverse=True):
                text = text.replace(mention, "，")
        return text

    def _not_news(self, name: str) -> str:
        """Why a name is not reported ("" when it may be): a word of any complaint (with `generic`), a
        topic's word, a product's, our bank's, or a piece of one: 手机银行, 机银行 (with `known`)."""
        if "generic" in self.drop and is_generic(name):
            return "generic"
        return "known" if any(core(name) in word for word in self._known) else ""

    def key_fields(self) -> tuple[str, ...]:
        return ("term",)

    def evaluate(self, store: FeedbackStore, now: datetime) -> list[Alert]:
        end = as_utc(now)
        start = end - self.window
        records = store.samples(replace(self.filters, since=start, until=end), READ_CAP)
        texts = [self._text(r) for r in records]
        held = [terms(t) for t in texts]
        support = Counter(term for found in held for term in found)
        candidates = {t: n for t, n in support.items() if n >= self.options["min_support"]}
        if not candidates:
            return []
        days_n, df = self._baseline(store, start, end)
        if not days_n:
            log.info("rule=%s at=%s skipped=no_history", self.name, end.isoformat())
            return []
        threshold = self.options["alpha"] / len(candidates)
        fragments = "fragments" in self.drop
        fired: dict[str, tuple[int, float, float]] = {}  # named term -> (support, expected, share)
        dropped: Counter[str] = Counter()
        for gram, n in candidates.items():
            share = (df.get(gram, 0) + 0.5) / (days_n + 1)
            expected = max(self.options["baseline_floor"], share * len(records))
            if n < self.options["min_ratio"] * expected or poisson_sf(n, expected) > threshold:
                continue
            if "generic" in self.drop and self._common(df.get(gram, 0), days_n):
                dropped["common"] += 1
                continue
            name = extend(gram, texts, tail=TAIL if fragments else "")
            why = self._not_news(name)
            if why:
                dropped[why] += 1
                continue
            count = sum(1 for t in texts if name in t)
            if name not in fired or fired[name][1] < expected:  # keep the most cautious baseline
                fired[name] = (count, expected, share)
        named = _merge_companions(strongest(((name, figures[0]) for name, figures in fired.items()),
                                            keep=KEEP if fragments else None), texts, within=fragments)
        alerts = [self._alert(store, name, *fired[name], records, texts, start, end, len(candidates),
                              threshold, days_n, related)
                  for name, related in named[:self.options["max_terms"]]]
        log.info("rule=%s at=%s negatives=%d tested=%d fired=%d dropped_common=%d dropped_generic=%d "
                 "dropped_known=%d", self.name, end.isoformat(), len(records), len(candidates), len(alerts),
                 dropped["common"], dropped["generic"], dropped["known"])
        return alerts

    def _common(self, df: int, days_n: int) -> bool:
        """Whether a term in `df` of the baseline's `days_n` negative records is an ordinary word."""
        least: int = self.options["min_support"]
        share: float = self.options["generic_share"]
        return df >= least and df >= share * days_n

    def _alert(self, store: FeedbackStore, term: str, count: int, expected: float, share: float,
               records: list[Feedback], texts: list[str], start: datetime, end: datetime, tested: int,
               threshold: float, days_n: int, related: list[str]) -> Alert:
        holding = [r for r, t in zip(records, texts, strict=True) if term in t]
        details: dict[str, Any] = {
            "term": term, "related_terms": related, "baseline_share": share,
            "negatives_in_window": len(records), "baseline_negatives": days_n, "terms_tested": tested,
            "p_threshold": threshold,
            "series": self._series(store, term, share, end)}
        title = (f"新词「{term}」负面 {describe_duration(self.window)} {count} 条，"
                 f"基线 {format_baseline(expected)}")
        return Alert(rule=self.name, key=f"term={term}", severity=self.severity, window_start=start,
                     window_end=end, count=count, baseline=expected, ratio=count / expected,
                     p_value=poisson_sf(count, expected), title=title, fired_at=end,
                     samples=holding[:self.options["samples"]], group={"term": term}, details=details)

    def _series(self, store: FeedbackStore, term: str, share: float, end: datetime) -> list[dict[str, Any]]:
        """Hourly comments holding the term over 48 h against share x that hour's negatives."""
        last = end.replace(minute=0, second=0, microsecond=0)
        last = last - HOUR if last == end else last
        first = last - 47 * HOUR
        negatives = {row.bucket: row.count for row in store.counts(first, end, HOUR, (), self.filters)}
        page = store.search(term, replace(self.filters, since=first, until=end), size=READ_CAP)
        holding = Counter(r.created_at.replace(minute=0, second=0, microsecond=0) for r in page.items)
        return [{"t": (t := first + i * HOUR).isoformat(), "count": holding.get(t, 0),
                 "baseline": round(share * negatives.get(t, 0), 3)} for i in range(48)]

    def _baseline(self, store: FeedbackStore, start: datetime, end: datetime) -> tuple[int, Counter[str]]:
        """Negative records and term document frequencies over the baseline days.

        At most BUILDS_PER_CHECK day tables are (re)built per check, newest first: a first start
        over a large store spreads the work over a few checks (each stays well under the 2 s a
        check may take at 1M records, bench/alerts_sim.py) and rests on the days built so far."""
        today = _day_start(start)
        total, builds = 0, 0
        df: Counter[str] = Counter()
        for k in range(1, self.options["baseline_days"] + 1):
            day = today - k * DAY
            table, fresh = self._cached_table(store, day, end)
            if not fresh and builds < BUILDS_PER_CHECK:
                table = self._build_table(store, day, end)
                builds += 1
            if table is not None:
                total += table["n"]
                df.update(table["df"])
        return total, df

    def _cached_table(self, store: FeedbackStore, day: datetime,
                      now: datetime) -> tuple[dict[str, Any] | None, bool]:
        """The stored table of `day` (or None) and whether it is final or still current."""
        doc = store.get_state(NAMESPACE, self._table_key(day))
        if doc is None:
            return None, False
        computed = parse_time(doc["computed_at"], naive_tz=None)
        day_end = day + DAY
        return doc, computed >= day_end + SETTLE or now < day_end + SETTLE

    def _table_key(self, day: datetime) -> str:
        return f"{self.name}:{day.astimezone(display_tz()).date().isoformat()}"

    def _build_table(self, store: FeedbackStore, day: datetime, now: datetime) -> dict[str, Any]:
        key = self._table_key(day)
        records = store.samples(replace(self.filters, since=day, until=day + DAY), READ_CAP)
        counts = Counter(term for r in records for term in terms(self._text(r)))
        least = 1 if len(records) < SMALL_DAY else 2
        doc: dict[str, Any] = {"n": len(records), "df": {t: n for t, n in counts.items() if n >= least},
               "computed_at": now.isoformat(), "capped": len(records) >= READ_CAP}
        store.put_state(NAMESPACE, key, doc)
        self._prune(store, day)
        log.info("rule=%s term_baseline=%s negatives=%d terms=%d", self.name, key, doc["n"], len(doc["df"]))
        return doc

    def _prune(self, store: FeedbackStore, newest: datetime) -> None:
        oldest = (newest - (self.options["baseline_days"] + 2) * DAY).astimezone(display_tz()).date()
        for key in store.list_state(NAMESPACE):
            rule, _, date = key.rpartition(":")
            if rule == self.name and date < oldest.isoformat():
                store.delete_state(NAMESPACE, key)


def _merge_companions(terms_by_strength: list[str], texts: list[str],
                      within: bool = True) -> list[tuple[str, list[str]]]:
    """One entry per incident: a term whose comments are (>= 80 % Jaccard) those of a stronger term
    ("钱扣了没到账" beside "转账失败") is listed as related to it, not alerted on its own. With
    `within`, it is enough that 80 % of the weaker term's comments hold the stronger one: 房间 and
    酒店 inside a wave of 隔音 complaints are words of that incident, not incidents of their own."""
    out: list[tuple[str, list[str], set[int]]] = []
    for term in terms_by_strength:
        holding = {i for i, t in enumerate(texts) if term in t}
        for _, related, lead in out:
            if len(holding & lead) >= KEEP * len(holding if within else holding | lead):
                related.append(term)
                break
        else:
            out.append((term, [], holding))
    return [(term, related) for term, related, _ in out]


def _day_start(moment: datetime) -> datetime:
    """Start of the display-timezone day holding `moment`, in UTC."""
    local = moment.astimezone(display_tz()).replace(hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(UTC)
