"""``polyreg``: multinomial logistic regression imputation of an unordered categorical.

Level 0 is the reference. The (K-1) x q coefficients are drawn from the Laplace approximation
to their posterior under the weak prior of ``logreg``, so imputations carry parameter
uncertainty (mice's polyreg uses the fitted probabilities only).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmice._src.numerics.linalg import standardize
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
from jaxmice.methods.logreg import PRIOR_SD, prior_precision


def categorical_fit_inputs(inputs: VisitInputs, n_levels: int
                           ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """What the categorical models fit on: weights f[n] (the observed rows), the standardised
    design f[n, q] and the one-hot response f[n, K]."""
    w = inputs.ry.astype(inputs.x.dtype)
    xs = standardize(inputs.x, w, inputs.keep)
    onehot = jax.nn.one_hot(inputs.y.astype(jnp.int32), n_levels, dtype=xs.dtype)
    return w, xs, onehot


def make(target: Target, *, prior_sd: float = PRIOR_SD) -> Imputer:
    """Bind ``polyreg`` to a categorical target with ``target.n_levels`` levels."""
    prior_sd = float(prior_sd)
    n_levels = target.n_levels

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        k_par, k_y = jax.random.split(key)
        w, xs, onehot = categorical_fit_inputs(inputs, n_levels)
        q = xs.shape[1]
        precision = jnp.tile(prior_precision(q, prior_sd), n_levels - 1)

        def logits(theta):
            eta = xs @ theta.reshape(n_levels - 1, q).T
            return jnp.concatenate([jnp.zeros_like(eta[:, :1]), eta], axis=1)

        def neg_log_post(theta):
            lg = logits(theta)
            loglik = jnp.sum(w * (jnp.sum(onehot * lg, 1) - jax.nn.logsumexp(lg, axis=1)))
            return -loglik + 0.5 * jnp.sum(precision * theta**2)

        mode = newton_mode(neg_log_post, jnp.zeros((n_levels - 1) * q, xs.dtype))
        theta, ok = draw_laplace(k_par, mode)
        values = draw_category(k_y, logits(theta), observed_levels(inputs, n_levels)).astype(
            inputs.y.dtype)
        return Draw(values=values, state=state, ok=ok & inputs.ry.any())

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    unused_levels=True,
    name="polyreg", kinds=frozenset({"binary", "nominal", "ordinal"}), make=make,
    multilevel_alternative="2l.polyreg",
    description="multinomial logistic regression (Bayesian draw)",
)
