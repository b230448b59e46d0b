"""polyreg: imputed class frequencies match the multinomial model's probabilities."""

from __future__ import annotations

import numpy as np
from conftest import many_draws, visit_inputs


def test_polyreg_class_frequencies(rng):
    n, k = 4000, 3
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    coef = np.array([[0.0, 0.0], [0.5, 1.0], [-0.5, -1.5]])  # class x (intercept, slope)
    logits = x @ coef.T
    prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in prob]).astype(float)
    ry = rng.uniform(size=n) < 0.7
    n_draws = 1000
    draws, ok = many_draws("polyreg", visit_inputs(x, y, ry), n_draws, kind="nominal",
                           n_levels=k)
    assert ok.all()
    imputed = draws[:, ~ry]
    assert set(np.unique(imputed)) <= {0.0, 1.0, 2.0}
    n_obs, n_mis = ry.sum(), (~ry).sum()
    for c in range(k):
        expected = prob[~ry, c].mean()
        got = (imputed == c).mean()
        # sampling error of the fitted model (n_obs rows) plus Monte Carlo error
        se = np.sqrt(expected * (1 - expected) * (1 / n_obs + 1 / (n_mis * n_draws)))
        assert abs(got - expected) < 4 * se, c
    # the probabilities follow x: class 1 dominates at high x, class 2 at low x
    high, low = x[~ry, 1] > 1, x[~ry, 1] < -1
    assert (imputed[:, high] == 1).mean() > 0.6
    assert (imputed[:, low] == 2).mean() > 0.6
