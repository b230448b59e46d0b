"""norm, norm.nob, norm.predict: draws against the analytic posterior predictive."""

from __future__ import annotations

import numpy as np
from conftest import many_draws, visit_inputs


def _regression_data(rng, n=60):
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.uniform(size=n)])
    y = x @ np.array([1.0, 2.0, -1.0]) + rng.normal(scale=1.5, size=n)
    ry = np.ones(n, bool)
    ry[-10:] = False
    return x, y, ry


def test_norm_matches_posterior_predictive(rng):
    x, y, ry = _regression_data(rng)
    xo, yo = x[ry], y[ry]
    coef = np.linalg.solve(xo.T @ xo, xo.T @ yo)
    df = ry.sum() - x.shape[1]
    s2 = np.sum((yo - xo @ coef) ** 2) / df
    xm = x[~ry]
    # posterior predictive: Student t(df), scale^2 = s2 (1 + x0'(X'X)^-1 x0)
    mean = xm @ coef
    var = s2 * (1 + np.einsum("ij,jk,ik->i", xm, np.linalg.inv(xo.T @ xo), xm)) * df / (df - 2)
    n_draws = 20000
    draws, ok = many_draws("norm", visit_inputs(x, y, ry), n_draws)
    assert ok.all()
    got = draws[:, ~ry]
    se_mean = np.sqrt(var / n_draws)
    np.testing.assert_array_less(np.abs(got.mean(0) - mean), 4 * se_mean)
    # variance of a t(df) draw: its MC error uses the t's kurtosis (excess 6 / (df - 4))
    kurt = 3 + 6 / (df - 4)
    se_var = var * np.sqrt((kurt - 1) / n_draws)
    np.testing.assert_array_less(np.abs(got.var(0) - var), 4 * se_var)


def test_norm_nob_and_predict(rng):
    x, y, ry = _regression_data(rng)
    xo, yo = x[ry], y[ry]
    coef = np.linalg.solve(xo.T @ xo, xo.T @ yo)
    sigma = np.sqrt(np.sum((yo - xo @ coef) ** 2) / (ry.sum() - 3))
    pred, ok = many_draws("norm.predict", visit_inputs(x, y, ry), 2)
    assert ok.all()
    np.testing.assert_allclose(pred[0, ~ry], x[~ry] @ coef, atol=1e-3)  # ridge 1e-5
    np.testing.assert_array_equal(pred[0], pred[1])  # deterministic
    n_draws = 20000
    nob, _ = many_draws("norm.nob", visit_inputs(x, y, ry), n_draws)
    got = nob[:, ~ry]
    np.testing.assert_array_less(np.abs(got.mean(0) - x[~ry] @ coef),
                                 4 * sigma / np.sqrt(n_draws))
    np.testing.assert_allclose(got.std(0), sigma, rtol=4 * np.sqrt(0.5 / n_draws))


def test_mean_and_sample(rng):
    x, y, ry = _regression_data(rng)
    mean, ok = many_draws("mean", visit_inputs(x, y, ry), 1)
    assert ok.all()
    np.testing.assert_allclose(mean[0, ~ry], y[ry].mean())
    draws, _ = many_draws("sample", visit_inputs(x, y, ry), 400)
    observed = set(np.round(y[ry], 12))
    assert set(np.round(draws[:, ~ry].ravel(), 12)) <= observed
    # each observed value is drawn with probability 1 / n_obs
    counts = np.array([(np.isclose(draws[:, ~ry], v)).sum() for v in y[ry]])
    expected = draws[:, ~ry].size / ry.sum()
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < ry.sum() - 1 + 4 * np.sqrt(2 * (ry.sum() - 1))


def test_dropped_columns_are_ignored(rng):
    x, y, ry = _regression_data(rng)
    inputs = visit_inputs(x, y, ry)
    x_bad = inputs.x.at[:, 2].set(1e6)
    garbage = inputs._replace(x=x_bad, keep=inputs.keep.at[2].set(False),
                              gram=(x_bad * inputs.ry[:, None]).T @ x_bad)
    a, _ = many_draws("norm.predict", garbage, 1)
    xo, yo = x[ry][:, :2], y[ry]
    coef = np.linalg.solve(xo.T @ xo, xo.T @ yo)
    np.testing.assert_allclose(a[0, ~ry], x[~ry][:, :2] @ coef, atol=1e-3)
