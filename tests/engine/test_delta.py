"""``jm.mice(..., delta=...)``: sensitivity shifts for MNAR analyses (issue 14). A continuous
column's imputations are shifted by delta; a binary column's method adds delta to its linear
predictor; the shifts are data in the compiled program, so a tipping-point loop compiles
once. The 2l.heckman cases are in tests/methods/test_heckman.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.engine import sampler


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(14)
    n = 600
    g = np.repeat(np.arange(12), n // 12)
    x = rng.normal(size=n)
    b = (rng.random(n) < 1 / (1 + np.exp(-(0.3 + 0.8 * x)))).astype(float)
    y = 1.0 + 0.5 * x + 0.4 * b + rng.normal(size=n)
    df = pd.DataFrame({"g": g, "x": x, "b": b, "y": y,
                       "k": rng.poisson(2.0, n).astype(float)})
    df.loc[rng.random(n) < 0.3, "y"] = np.nan
    df.loc[rng.random(n) < 0.3, "b"] = np.nan
    df.loc[rng.random(n) < 0.2, "k"] = np.nan
    return df


def _share(imp: jm.Imputations, column: str, missing: np.ndarray) -> float:
    return float(np.mean([imp.complete(k)[column].to_numpy()[missing].mean()
                          for k in range(imp.m)]))


@pytest.mark.parametrize("method", ["logreg", "2l.bin"])
def test_delta_shifts_the_log_odds_of_a_binary_column(frame, method):
    """delta = +-1.5 on the log odds moves the imputed share of ones up and down, by about
    what the logistic curve gives at the observed share (0.2-0.35 either way); the observed
    values stay; the three runs share one program."""
    df = frame[["g", "x", "b"]]
    pred = jm.make_predictor_matrix(df, cluster="g" if method == "2l.bin" else None)
    if method == "logreg":
        pred.loc[:, "g"] = 0
    missing = df.b.isna().to_numpy()
    runs = {}
    before = None
    for delta in (0.0, 1.5, -1.5):
        runs[delta] = jm.mice(df, m=8, maxit=3, method={"b": method}, predictor_matrix=pred,
                              seed=5, progress=False, delta={"b": delta},
                              kinds={"b": "binary"})
        if before is None:
            before = sampler.iterate._cache_size()
    assert sampler.iterate._cache_size() == before
    base, up, down = (_share(runs[d], "b", missing) for d in (0.0, 1.5, -1.5))
    assert 0.2 < up - base < 0.35
    assert 0.2 < base - down < 0.35
    for k in range(8):
        np.testing.assert_array_equal(runs[1.5].complete(k).b[~missing], df.b[~missing])


def test_delta_shifts_every_iteration_and_the_other_columns_see_it(frame):
    """With two incomplete columns, y's imputations are shifted at every iteration (mice's
    ``post`` adjustment), so b's model sees the shifted values: the shift of y's imputed mean
    is delta (up to the noise of b's changed draws), and b's imputations change."""
    df = frame[["x", "b", "y"]]
    missing = df.y.isna().to_numpy()
    args = dict(m=6, maxit=4, method={"y": "norm", "b": "logreg"}, seed=3, progress=False,
                kinds={"b": "binary"})
    base = jm.mice(df, **args)
    shifted = jm.mice(df, delta={"y": 2.0}, **args)
    gap = _share(shifted, "y", missing) - _share(base, "y", missing)
    assert abs(gap - 2.0) < 0.15
    b_missing = df.b.isna().to_numpy()
    assert any((shifted.complete(k).b[b_missing] != base.complete(k).b[b_missing]).any()
               for k in range(6))


@pytest.mark.parametrize("delta, kinds, method, message", [
    ({"nope": 1.0}, None, None, r"delta names unknown column 'nope'"),
    ({"x": 1.0}, None, None, r"delta given for column 'x', which is not imputed"),
    ({"y": "big"}, None, None, r"delta for column 'y' must be a number"),
    ({"y": float("inf")}, None, None, r"delta for column 'y' must be finite"),
    ({"k": 1.0}, {"k": "count"}, None, r"delta for column 'k' of kind count"),
    ({"b": 1.0}, {"b": "binary"}, {"b": "pmm"}, r"delta for binary column 'b'.*'pmm' cannot shift.*"
                                     r"2l\.heckman.*logreg"),
])
def test_bad_delta(frame, delta, kinds, method, message):
    with pytest.raises((ValueError, TypeError), match=message):
        jm.mice(frame.drop(columns="g"), m=1, maxit=1, delta=delta, kinds=kinds,
                method=method)
