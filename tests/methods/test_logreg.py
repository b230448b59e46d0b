"""logreg: imputed class frequencies match the model's probabilities; separation is safe."""

from __future__ import annotations

import numpy as np
from conftest import many_draws, visit_inputs


def _logistic_mle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    beta = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ beta))
        beta += np.linalg.solve(x.T @ (x * (p * (1 - p))[:, None]), x.T @ (y - p))
    return beta


def test_logreg_frequencies_match_fitted_probabilities(rng):
    n = 3000
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.binomial(1, 0.4, size=n)])
    p_true = 1 / (1 + np.exp(-(x @ np.array([-0.5, 1.2, 0.8]))))
    y = rng.binomial(1, p_true).astype(float)
    ry = rng.uniform(size=n) < 0.7
    beta = _logistic_mle(x[ry], y[ry])
    p_fit = 1 / (1 + np.exp(-x[~ry] @ beta))
    n_draws = 2000
    draws, ok = many_draws("logreg", visit_inputs(x, y, ry), n_draws, kind="binary",
                           n_levels=2)
    assert ok.all()
    imputed = draws[:, ~ry]
    assert set(np.unique(imputed)) <= {0.0, 1.0}
    # share of ones per draw: mean equals the fitted probabilities' mean within MC error
    share = imputed.mean(axis=1)
    assert abs(share.mean() - p_fit.mean()) < 4 * share.std() / np.sqrt(n_draws) + 2e-3
    # and row by row, in bins of the fitted probability
    bins = np.digitize(p_fit, [0.2, 0.4, 0.6, 0.8])
    for b in range(5):
        rows = bins == b
        got = imputed[:, rows].mean()
        se = np.sqrt(p_fit[rows].mean() * (1 - p_fit[rows].mean()) / (rows.sum() * n_draws))
        assert abs(got - p_fit[rows].mean()) < 6 * se + 0.01, b
    # the draws carry parameter uncertainty: their spread exceeds pure Bernoulli noise
    bernoulli_sd = np.sqrt(np.sum(p_fit * (1 - p_fit))) / (~ry).sum()
    assert share.std() > 1.1 * bernoulli_sd


def test_logreg_survives_perfect_separation(rng):
    n = 200
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = (x[:, 1] > 0).astype(float)
    ry = np.ones(n, bool)
    ry[::4] = False
    draws, ok = many_draws("logreg", visit_inputs(x, y, ry), 200, kind="binary", n_levels=2)
    assert ok.all() and np.isfinite(draws).all()
    far = np.abs(x[:, 1]) > 0.5
    agree = (draws[:, ~ry & far] == y[~ry & far]).mean()
    assert agree > 0.97
