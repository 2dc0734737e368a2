"""Statistics the rules stand on: what a count "normally" is, and how surprising a count is.

    tails.py     upper tails of the Poisson, negative binomial and binomial (`math` only)
    baseline.py  seasonal baselines per group key: same hour of the week, blended with trailing days
    series.py    the 48-hour hourly series (count against baseline) every alert carries for its chart
"""
