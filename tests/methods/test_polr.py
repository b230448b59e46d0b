"""polr: imputed class frequencies match the proportional-odds model's probabilities."""

from __future__ import annotations

import numpy as np
from conftest import many_draws, visit_inputs

from jaxmice.methods.polr import class_log_probs


def test_class_log_probs_sum_to_one():
    eta = np.linspace(-5, 5, 11)
    theta = np.array([-1.0, np.log(0.5), np.log(2.0)])  # cuts -1, -0.5, 1.5
    p = np.exp(np.asarray(class_log_probs(eta, theta)))
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)
    cuts = np.array([-1.0, -0.5, 1.5])
    cdf = 1 / (1 + np.exp(-(cuts[None, :] - eta[:, None])))
    np.testing.assert_allclose(np.cumsum(p, 1)[:, :3], cdf, atol=1e-12)


def test_polr_class_frequencies(rng):
    n = 4000
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    cuts = np.array([-1.0, 0.3, 1.5])
    eta = 1.2 * x[:, 1]
    cdf = 1 / (1 + np.exp(-(cuts[None, :] - eta[:, None])))
    prob = np.diff(np.column_stack([np.zeros(n), cdf, np.ones(n)]), axis=1)
    y = np.array([rng.choice(4, p=p) for p in prob]).astype(float)
    ry = rng.uniform(size=n) < 0.7
    n_draws = 1000
    draws, ok = many_draws("polr", visit_inputs(x, y, ry), n_draws, kind="ordinal", n_levels=4)
    assert ok.all()
    imputed = draws[:, ~ry]
    n_obs, n_mis = ry.sum(), (~ry).sum()
    for c in range(4):
        expected = prob[~ry, c].mean()
        got = (imputed == c).mean()
        se = np.sqrt(expected * (1 - expected) * (1 / n_obs + 1 / (n_mis * n_draws)))
        assert abs(got - expected) < 4 * se, c
    # ordered in x: higher x, higher classes
    high, low = x[~ry, 1] > 1, x[~ry, 1] < -1
    assert imputed[:, high].mean() > imputed[:, low].mean() + 1.0
