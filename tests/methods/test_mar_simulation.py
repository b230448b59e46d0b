"""A single-level MAR simulation: imputation removes the complete-case bias.

x ~ N(0, 1); y = 0.5 x + e; z = y + N(0, 0.5^2) is an auxiliary, always observed. y and x go
missing with probability logistic(-1 + 2 z): the missingness depends on observed z only (MAR),
but z carries y, so the complete cases under-represent high y. The complete-case mean of y and
the complete-case slope of y on x are both biased; imputing with z as a predictor removes it.
Estimates are compared with the same sample before amputation, so only the missing
information (not sampling error) separates them; n = 20,000 makes the imputation error about
0.01.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.cov(x, y)[0, 1] / np.var(x, ddof=1))


@pytest.mark.parametrize("method", ["norm", "pmm"])
def test_imputation_removes_complete_case_bias(method):
    rng = np.random.default_rng(11)
    n = 20000
    x = rng.normal(size=n)
    y = 0.5 * x + rng.normal(size=n)
    z = y + rng.normal(scale=0.5, size=n)
    full = pd.DataFrame({"y": y, "x": x, "z": z})
    df = full.copy()
    for col in ("y", "x"):
        df.loc[rng.uniform(size=n) < 1 / (1 + np.exp(1 - 2 * z)), col] = np.nan
    complete_case = df.dropna()
    truth_mean, truth_slope = full.y.mean(), _slope(full.x, full.y)
    cc_mean, cc_slope = complete_case.y.mean(), _slope(complete_case.x, complete_case.y)
    assert truth_mean - cc_mean > 0.3  # complete cases are badly biased
    assert truth_slope - cc_slope > 0.08

    imp = jm.mice(df, m=10, maxit=10, method=method, seed=1, progress=False)
    frames = imp.complete("all")
    mi_mean = np.mean([f.y.mean() for f in frames])
    mi_slope = np.mean([_slope(f.x, f.y) for f in frames])
    assert abs(mi_mean - truth_mean) < 0.03
    assert abs(mi_slope - truth_slope) < 0.03
