"""``logreg``: logistic regression imputation of a binary variable.

The coefficients are drawn from the Laplace approximation to their posterior under a weak
normal prior on standardised predictors (sd 5; intercept sd 10). The prior keeps the draw
finite under perfect separation, the job mice does by augmenting the data (White, Daniel and
Royston 2010).
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
    draw_binary,
    observed_levels,
)

#: the default prior sd of the coefficients of the standardised predictors
PRIOR_SD = 5.0


def prior_precision(q: int, prior_sd: float, intercept_sd: float = 10.0) -> jax.Array:
    """f[q] prior precisions: the intercept first, then the predictors."""
    return jnp.full(q, prior_sd**-2.0).at[0].set(intercept_sd**-2.0)


def make(target: Target, *, prior_sd: float = PRIOR_SD) -> Imputer:
    """Bind ``logreg`` to a binary target (codes 0/1)."""
    prior_sd = float(prior_sd)

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        k_par, k_y = jax.random.split(key)
        w = inputs.ry.astype(inputs.x.dtype)
        xs = standardize(inputs.x, w, inputs.keep)
        precision = prior_precision(xs.shape[1], prior_sd)

        def neg_log_post(beta):
            eta = xs @ beta
            loglik = jnp.sum(w * (inputs.y * eta - jax.nn.softplus(eta)))
            return -loglik + 0.5 * jnp.sum(precision * beta**2)

        mode = newton_mode(neg_log_post, jnp.zeros(xs.shape[1], xs.dtype))
        beta, ok = draw_laplace(k_par, mode)
        eta = xs @ beta + inputs.delta  # delta: a sensitivity shift of the log odds
        values = draw_binary(k_y, jax.nn.sigmoid(eta), observed_levels(inputs, 2)).astype(
            inputs.y.dtype)
        return Draw(values=values, state=state, ok=ok & inputs.ry.any())

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    unused_levels=True,
    name="logreg", kinds=frozenset({"binary"}), make=make, multilevel_alternative="2l.bin",
    description="logistic regression (Bayesian draw)", delta=True,
)
