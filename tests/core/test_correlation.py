"""The one pairwise-complete correlation function, shared by quickpred and plot_corr."""

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.core.correlation import pairwise_correlations
from jaxmice._src.diagnostics.plots.correlation import (
    pairwise_correlations as plot_pairwise_correlations,
)


def _incomplete(seed: int = 0, n: int = 60, p: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) + 100.0  # far from 0: centring
    v[rng.uniform(size=v.shape) < 0.25] = np.nan
    return v


def test_matches_pandas_pairwise_complete():
    v = _incomplete()
    r = pairwise_correlations(v)
    np.testing.assert_allclose(r, pd.DataFrame(v).corr().to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.diag(r), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(r, r.T, rtol=0, atol=1e-15)


def test_cross_block_matches_pandas():
    v = _incomplete(1)
    w = _incomplete(2, p=3)
    expected = pd.concat([pd.DataFrame(v), pd.DataFrame(w, columns=[10, 11, 12])],
                         axis=1).corr().to_numpy()[:5, 5:]
    np.testing.assert_allclose(pairwise_correlations(v, w), expected, rtol=0, atol=1e-12)


def test_edge_cases_are_nan_as_pandas():
    nan = np.nan
    v = np.array([[1.0, 5.0, nan, nan, 1.0],
                  [2.0, 5.0, 1.0, nan, 3.0],
                  [3.0, 5.0, nan, nan, nan],
                  [4.0, 5.0, nan, nan, nan]])
    r = pairwise_correlations(v)
    expected = pd.DataFrame(v).corr().to_numpy()
    np.testing.assert_array_equal(np.isnan(r), np.isnan(expected))
    assert np.isnan(r[0, 1]) and np.isnan(r[1, 1])  # constant column
    assert np.isnan(r[0, 2]) and np.isnan(r[2, 2])  # one row in common
    assert np.isnan(r[:, 3]).all()  # all missing
    assert r[0, 4] == 1.0 and r[4, 0] == 1.0  # exactly 2 rows in common: +-1, as R and pandas


def test_bad_shapes_are_an_error():
    with pytest.raises(ValueError, match="same rows"):
        pairwise_correlations(np.ones((3, 2)), np.ones((4, 2)))


def test_plot_corr_uses_the_same_function():
    assert plot_pairwise_correlations is pairwise_correlations


def test_quickpred_agrees_with_the_correlations():
    v = _incomplete(3, n=200, p=4)
    df = pd.DataFrame(v, columns=list("abcd"))
    mincor = 0.2
    pred = jm.quickpred(df, mincor=mincor)
    r = np.nan_to_num(pairwise_correlations(v))
    r_resp = np.nan_to_num(pairwise_correlations(np.isnan(v).astype(float), v))
    expected = (np.maximum(np.abs(r), np.abs(r_resp)) > mincor).astype(int)
    np.fill_diagonal(expected, 0)
    np.testing.assert_array_equal(pred.to_numpy(), expected)


def test_quickpred_constant_and_empty_predictors_are_not_chosen():
    rng = np.random.default_rng(4)
    y = rng.normal(size=50)
    y[:10] = np.nan
    df = pd.DataFrame({"y": y, "const": np.ones(50), "empty": np.full(50, np.nan),
                       "x": np.nan_to_num(y) + rng.normal(size=50) * 0.1})
    pred = jm.quickpred(df)
    assert pred.loc["y"].tolist() == [0, 0, 0, 1]
