"""``polr``: proportional-odds (ordered logistic) imputation of an ordered categorical.

P(y <= k | x) = logistic(c_k - x'beta) with increasing cut points c_1 < ... < c_{K-1},
parameterised as c_1 and the logs of the gaps, so that every draw keeps them ordered. Draws
come from the Laplace approximation under weak normal priors (as ``logreg``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmice._src.numerics.optimize import newton_mode
from jaxmice._src.numerics.random import draw_laplace
from jaxmice.methods.base import (
    Draw,
    Imputer,
    MethodInfo,
    Target,
    VisitInputs,
    draw_category,
    observed_levels,
)
from jaxmice.methods.logreg import PRIOR_SD
from jaxmice.methods.polyreg import categorical_fit_inputs

_FAR = 1e3  # stands in for the infinite outer cut points, keeping gradients finite


def _log_diff_sigmoid(upper: jax.Array, lower: jax.Array) -> jax.Array:
    """log(sigmoid(upper) - sigmoid(lower)) for upper > lower, computed stably."""
    a = jax.nn.log_sigmoid(lower) - jax.nn.log_sigmoid(upper)  # <= 0
    log1mexp = jnp.where(a > -0.693, jnp.log(-jnp.expm1(a)), jnp.log1p(-jnp.exp(a)))
    return jax.nn.log_sigmoid(upper) + log1mexp


def cut_points(theta_cuts: jax.Array) -> jax.Array:
    """f[K+1] cut points (outer ones at -/+ far) from f[K-1] unconstrained parameters."""
    inner = jnp.cumsum(jnp.concatenate([theta_cuts[:1], jnp.exp(theta_cuts[1:])]))
    return jnp.concatenate([jnp.array([-_FAR]), inner, jnp.array([_FAR])])


def class_log_probs(eta: jax.Array, theta_cuts: jax.Array) -> jax.Array:
    """f[n, K] log P(y = k) for linear predictors ``eta: f[n]``."""
    cuts = cut_points(theta_cuts)
    return _log_diff_sigmoid(cuts[None, 1:] - eta[:, None], cuts[None, :-1] - eta[:, None])


def make(target: Target, *, prior_sd: float = PRIOR_SD) -> Imputer:
    """Bind ``polr`` to an ordered target with ``target.n_levels`` levels."""
    prior_sd = float(prior_sd)
    n_levels = target.n_levels

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        k_par, k_y = jax.random.split(key)
        w, xs, onehot = categorical_fit_inputs(inputs, n_levels)
        xs = xs[:, 1:]  # the cut points hold the intercept
        q = xs.shape[1]
        # start the cut points at the observed cumulative logits
        share = (w @ onehot + 0.5) / (w.sum() + 0.5 * n_levels)
        cum = jnp.clip(jnp.cumsum(share)[:-1], 1e-6, 1 - 1e-6)
        start_cuts = jnp.log(cum) - jnp.log1p(-cum)
        gaps = jnp.log(jnp.maximum(jnp.diff(start_cuts), 1e-3))
        theta0 = jnp.concatenate([jnp.zeros(q, xs.dtype), start_cuts[:1], gaps])

        def neg_log_post(theta):
            logp = class_log_probs(xs @ theta[:q], theta[q:])
            loglik = jnp.sum(w * jnp.sum(onehot * logp, axis=1))
            return -loglik + 0.5 * (jnp.sum(theta[:q] ** 2) / prior_sd**2
                                    + jnp.sum(theta[q:] ** 2) / 10.0**2)

        mode = newton_mode(neg_log_post, theta0)
        theta, ok = draw_laplace(k_par, mode)
        logp = class_log_probs(xs @ theta[:q], theta[q:])
        values = draw_category(k_y, logp, observed_levels(inputs, n_levels)).astype(inputs.y.dtype)
        return Draw(values=values, state=state, ok=ok & inputs.ry.any())

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    unused_levels=True,
    name="polr", kinds=frozenset({"ordinal", "binary"}), make=make,
    multilevel_alternative="2l.polr",
    description="proportional-odds logistic regression (Bayesian draw)",
)
