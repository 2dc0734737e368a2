"""The tails the rules test counts with: Poisson, negative binomial (predictive), binomial."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from alerts.stats.tails import binom_sf, looks, negbin_sf, poisson_sf, predictive_sf


def direct_sf(k: int, lam: float) -> float:
    """1 - sum of the pmf below k, summed in log space (fine for the moderate values tested)."""
    below = math.fsum(math.exp(i * math.log(lam) - lam - math.lgamma(i + 1)) for i in range(k))
    return 1.0 - below


@pytest.mark.parametrize("k,lam", [(1, 0.5), (3, 1.0), (5, 4.0), (12, 4.0), (20, 25.0), (40, 30.0),
                                   (100, 100.0), (7, 15.0), (2, 30.0)])
def test_poisson_sf_matches_direct_sum(k, lam):
    assert poisson_sf(k, lam) == pytest.approx(direct_sf(k, lam), rel=1e-9, abs=1e-13)


def test_poisson_sf_tiny_tail_stays_accurate():
    # 37 when 4 are expected: the direct 1 - sum cancels to 0, the series does not
    p = poisson_sf(37, 4.0)
    upper = math.fsum(math.exp(i * math.log(4.0) - 4.0 - math.lgamma(i + 1)) for i in range(37, 200))
    assert 0 < p < 1e-15
    assert p == pytest.approx(upper, rel=1e-9)


def test_poisson_sf_edges():
    assert poisson_sf(0, 3.0) == 1.0
    assert poisson_sf(1, 0.0) == 0.0
    assert poisson_sf(3, 1.0) == pytest.approx(1 - math.exp(-1) * 2.5)
    with pytest.raises(ValueError):
        poisson_sf(3, -1.0)


@pytest.mark.parametrize(("k", "r", "p"), [(3, 1.5, 0.5), (10, 4.5, 0.9), (7, 1.5, 0.5), (1, 0.5, 0.2),
                                           (25, 12.5, 0.6)])
def test_negbin_sf_matches_direct_sum(k, r, p):
    def pmf(x):
        return math.exp(math.lgamma(x + r) - math.lgamma(r) - math.lgamma(x + 1)
                        + r * math.log(p) + x * math.log1p(-p))
    assert negbin_sf(k, r, p) == pytest.approx(1 - sum(pmf(x) for x in range(k)), rel=1e-9, abs=1e-13)


def test_predictive_tail_is_cautious_on_short_histories_and_poisson_on_long_ones():
    # 7 when one past window held 1: plausible; when fifty windows averaged 1: as rare as Poisson says
    assert predictive_sf(7, 1.0, 1) > 0.01
    assert predictive_sf(7, 1.0, 5000) == pytest.approx(poisson_sf(7, 1.0), rel=0.01)
    with pytest.raises(ValueError):
        negbin_sf(3, 0.0, 0.5)


def exact_sf(k, n, p):
    p = Fraction(p)
    return float(sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1)))


@pytest.mark.parametrize("k,n,p", [(1, 1, 0.5), (3, 10, 0.2), (7, 10, 0.2), (35, 100, 0.2), (60, 100, 0.5),
                                   (40, 100, 0.5), (100, 100, 0.3), (5, 30, 0.05)])
def test_binom_sf_is_exact(k, n, p):
    assert binom_sf(k, n, p) == pytest.approx(exact_sf(k, n, p), rel=1e-10)


def test_binom_sf_large_n_tiny_tail():
    # 900 of 1000 at p = 0.5: the tail (~7e-162) must come out directly, not as 1 - (1 - tiny)
    logs = [math.lgamma(1001) - math.lgamma(i + 1) - math.lgamma(1001 - i) + 1000 * math.log(0.5)
            for i in range(900, 1001)]
    top = max(logs)
    direct = math.exp(top) * math.fsum(math.exp(x - top) for x in logs)
    assert binom_sf(900, 1000, 0.5) == pytest.approx(direct, rel=1e-9)


def test_binom_sf_edges():
    assert binom_sf(0, 10, 0.3) == 1.0 and binom_sf(11, 10, 0.3) == 0.0
    assert binom_sf(1, 10, 0.0) == 0.0 and binom_sf(10, 10, 1.0) == 1.0
    with pytest.raises(ValueError):
        binom_sf(1, 10, 1.5)


def _new_alarms_per_window(rate: float, k: int, checks: int, windows: int, seed: int) -> float:
    """Poisson arrivals at `rate` per window, a sliding one-window count checked `checks` times per
    window; how often a check newly reaches k (it did not at the check before), per window."""
    import bisect
    import random

    rng = random.Random(seed)
    times, t = [], 0.0
    while t < windows:
        t += rng.expovariate(rate)
        times.append(t)
    new, above = 0, False
    for j in range(checks, windows * checks):
        now = j / checks
        count = bisect.bisect_left(times, now) - bisect.bisect_left(times, now - 1.0)
        new += count >= k and not above
        above = count >= k
    return new / (windows - 1)


@pytest.mark.parametrize("rate,k", [(0.5, 4), (2.0, 7), (1.0, 5)])
def test_looks_bounds_the_new_alarms_of_frequent_checks(rate, k):
    # twelve looks an hour at a 1 h window: the simulated rate of new alarms stays under
    # looks x P(X >= k) and well over one look's P(X >= k)
    bound = looks(k, rate, 12) * poisson_sf(k, rate)
    seen = _new_alarms_per_window(rate, k, 12, 60_000, seed=k)
    assert poisson_sf(k, rate) * 1.5 < seen <= bound * 1.1
    assert seen > bound * 0.6  # a bound, and a close one: not a blanket factor of 12


def test_looks_is_one_for_a_look_per_window_and_at_most_the_looks():
    assert looks(6, 0.5, 1) == 1.0 and looks(6, 0.5, 0.5) == 1.0
    assert 4.5 < looks(6, 0.5, 12) < 6  # a sparse group: about k, not 12
    assert looks(100, 60.0, 12) == pytest.approx(12.0, rel=1e-3)  # busy: the bound nears every look
    assert all(1.0 <= looks(k, m, 36) <= 36 for k in range(0, 40) for m in (0.0, 0.1, 3.0, 30.0))
