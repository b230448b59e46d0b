"""pmm: donors are observed values whose predictions are among the d nearest."""

from __future__ import annotations

import jax
import numpy as np
from conftest import many_draws, visit_inputs

from jaxmice.methods.pmm import match, sort_order


def test_sort_order_is_a_sort_with_random_ties(rng):
    values = np.round(rng.normal(size=500), 1)  # many ties
    orders = [np.asarray(sort_order(jax.random.PRNGKey(k), values)) for k in range(2)]
    for order in orders:
        assert sorted(order.tolist()) == list(range(500))
        assert np.all(np.diff(values[order]) >= 0)
    assert not np.array_equal(orders[0], orders[1])


def test_match_picks_among_the_d_nearest_uniformly(rng):
    n, d = 300, 5
    donor_pred = rng.normal(size=n)
    is_donor = rng.uniform(size=n) < 0.6
    target = rng.normal(size=n)
    keys = jax.random.split(jax.random.PRNGKey(1), 2000)
    chosen = np.asarray(jax.vmap(lambda k: match(k, donor_pred, is_donor, target, d))(keys))
    assert is_donor[chosen].all()
    donor_rows = np.flatnonzero(is_donor)
    counts = np.zeros((n, len(donor_rows)))
    for i in range(n):
        dist = np.abs(donor_pred[donor_rows] - target[i])
        nearest = set(donor_rows[np.argsort(dist)[:d]].tolist())
        assert set(chosen[:, i].tolist()) <= nearest
        counts[i] = [(chosen[:, i] == r).sum() for r in donor_rows]
    # uniform over the d nearest: each has probability 1/d
    freq = counts.max(axis=1) / len(keys)
    assert np.all(np.abs(freq - 1 / d) < 4 * np.sqrt((1 / d) * (1 - 1 / d) / len(keys)) + 0.03)


def test_match_with_fewer_donors_than_d():
    donor_pred = np.array([0.0, 1.0, 2.0, 3.0])
    is_donor = np.array([True, True, False, False])
    target = np.array([5.0, -5.0, 0.4, 0.6])
    keys = jax.random.split(jax.random.PRNGKey(0), 200)
    chosen = np.asarray(jax.vmap(lambda k: match(k, donor_pred, is_donor, target, 5))(keys))
    assert set(np.unique(chosen)) == {0, 1}


def test_pmm_imputes_observed_values_near_the_prediction(rng):
    n = 400
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = np.round(2 + 3 * x[:, 1] + rng.normal(scale=0.5, size=n), 2)
    ry = rng.uniform(size=n) < 0.7
    draws, ok = many_draws("pmm", visit_inputs(x, y, ry), 500)
    assert ok.all()
    imputed = draws[:, ~ry]
    assert np.isin(imputed, y[ry]).all()
    # close to the prediction: residual spread like the data's (sd 0.5), not like y's (sd 3)
    resid = imputed - (2 + 3 * x[~ry, 1])
    assert abs(resid.mean()) < 0.05
    assert 0.4 < resid.std() < 0.7
