"""The statistics the rules need, with `math` only (no scipy in the runtime dependencies).

`poisson_sf(k, lam)` is P(X >= k) for X ~ Poisson(lam). It equals the regularized lower incomplete
gamma function P(k, lam), computed in log space by its power series when lam < k + 1 (the spike
case, where the tail is tiny and must stay accurate) and as 1 - Q(k, lam) by Lentz's continued
fraction otherwise (where the tail is large and absolute accuracy is what matters).

`negbin_sf(k, r, p)` is P(X >= k) for X ~ NegativeBinomial(r, p) (failures before the r-th success,
real r > 0): the predictive distribution of a count whose Poisson mean is itself only estimated —
a Gamma(r, n) posterior after a total of r - 1/2 events in n past windows gives NB(r, n / (n + 1))
for the next window. It equals I_{1-p}(k, r).

`looks(k, mean, checks)` is how many chance alarms one window's worth of `checks` looks (a window
checked every window / `checks`) raises at level k, per alarm that one look per window raises; the
rules multiply their tail by it, so `alpha` means chance alarms per window-length whatever the check
cadence (see its docstring).

`binom_sf(k, n, p)` is P(X >= k) for X ~ Binomial(n, p), exact: it equals the regularized incomplete
beta function I_p(k, n - k + 1), evaluated by its continued fraction on the side where it converges
(and where a small upper tail is computed directly, not as 1 - something close to 1).
"""

from __future__ import annotations

import math

_EPS = 1e-15
_MAX_ITER = 10_000
_TINY = 1e-300


def poisson_sf(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam)."""
    if k <= 0:
        return 1.0
    if lam < 0 or math.isnan(lam):
        raise ValueError(f"Poisson mean must be >= 0, got {lam}")
    if lam == 0:
        return 0.0
    if lam < k + 1:
        return _lower_gamma_series(k, lam)
    return max(0.0, 1.0 - _upper_gamma_fraction(k, lam))


def _lower_gamma_series(a: float, x: float) -> float:
    """Regularized P(a, x) = x^a e^-x / Gamma(a+1) * sum_n x^n / ((a+1)...(a+n))."""
    term = 1.0
    total = 1.0
    n = 0
    while n < _MAX_ITER:
        n += 1
        term *= x / (a + n)
        total += term
        if term < total * _EPS:
            break
    log_prefix = a * math.log(x) - x - math.lgamma(a + 1)
    return min(1.0, math.exp(log_prefix + math.log(total)))


def _upper_gamma_fraction(a: float, x: float) -> float:
    """Regularized Q(a, x) by the modified Lentz continued fraction (valid for x >= a + 1)."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(a * math.log(x) - x - math.lgamma(a)) * h


def negbin_sf(k: int, r: float, p: float) -> float:
    """P(X >= k) for X ~ NegativeBinomial(r, p): k failures before the r-th success."""
    if r <= 0 or math.isnan(p) or not 0.0 < p <= 1.0:
        raise ValueError(f"negative binomial needs r > 0 and 0 < p <= 1, got r={r} p={p}")
    if k <= 0:
        return 1.0
    if p == 1.0:
        return 0.0
    return _regularized_beta(k, r, 1.0 - p)


def predictive_sf(k: int, mean: float, windows: float) -> float:
    """P(next window >= k) when `mean` is the average of `windows` past windows (Jeffreys prior):
    close to poisson_sf(k, mean) over a long history, far more cautious over one or two windows."""
    n = max(windows, 1.0)
    return negbin_sf(k, mean * n + 0.5, n / (n + 1.0))


def looks(k: int, mean: float, checks: float) -> float:
    """The new-alarm factor of a window of Poisson(`mean`) counts checked `checks` times per window
    length (a 1 h window checked every 5 minutes: 12), at level k.

    A check newly reaches k only if a record arrived since the check before: with no arrival the
    window holds a subset of what the previous window held. So the chance of a new alarm at one check
    is at most P(X >= k) - P(no arrival in the last 1/checks of the window) x P(X' >= k), X' the count
    of the rest of the window (Poisson increments are independent), and one window-length of checks
    raises at most `checks` times that, at least as many as one check per window (P(X >= k)). The
    factor is that ratio, between 1 and `checks`: about k for a sparse group (k P(X = k) against
    P(X >= k)), which is why twelve looks an hour at a quiet group do not raise twelve times the
    alarms, and close to `checks` for a busy one. `checks` <= 1 (hourly checks of a 1 h window) gives 1.
    """
    if checks <= 1.0 or k <= 0:
        return 1.0
    tail = poisson_sf(k, mean)
    if tail <= 0.0:
        return min(checks, float(k))
    step = 1.0 / checks
    fresh = tail - math.exp(-mean * step) * poisson_sf(k, mean * (1.0 - step))
    return min(checks, max(1.0, checks * fresh / tail))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p) (the exact binomial test's upper tail)."""
    if n < 0 or math.isnan(p) or not 0.0 <= p <= 1.0:
        raise ValueError(f"binomial needs n >= 0 and 0 <= p <= 1, got n={n} p={p}")
    if k <= 0:
        return 1.0
    if k > n or p == 0.0:
        return 0.0
    if p == 1.0:
        return 1.0
    return _regularized_beta(k, n - k + 1, p)


def _regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), from whichever side the continued fraction converges quickly on."""
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return min(1.0, math.exp(log_front) * _beta_fraction(a, b, x) / a)
    return max(0.0, 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) by the modified Lentz method."""
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (_TINY if abs(d) < _TINY else d)
    h = d
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((a - 1.0 + m2) * (a + m2)),
                          -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1.0 + m2))):
            d = 1.0 + numerator * d
            d = 1.0 / (_TINY if abs(d) < _TINY else d)
            c = 1.0 + numerator / c
            c = _TINY if abs(c) < _TINY else c
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return h
