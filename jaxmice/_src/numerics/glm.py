"""Regressions without random effects (R's ``lm`` and ``glm``), in pure JAX and vmappable.

The analysis step of a single-level model: linear regression by least squares (``vcov`` =
``sigma^2 (X'X)^-1`` with ``sigma^2 = RSS / (n - p)``, as ``lm``), logistic and Poisson
regression by Newton's method on the log-likelihood (``vcov`` = the inverse Fisher
information, as ``glm``). Rows take part by weight ``w`` (0 or 1).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxmice._src.numerics.glmm import row_nll
from jaxmice._src.numerics.linalg import (
    cross_products,
    lapack_cho_solve,
    lapack_cholesky,
    lapack_inv,
)
from jaxmice._src.numerics.optimize import newton_minimize


class GlmFit(NamedTuple):
    """A fitted regression (a leading axis when vmapped).

    Attributes:
        beta: f[p]; vcov: f[p, p]; sigma: f[] residual sd (1 for binomial and poisson);
        deviance: f[] ``-2 logLik``; n_iter: i[]; converged: bool[].
    """

    beta: jax.Array
    vcov: jax.Array
    sigma: jax.Array
    deviance: jax.Array
    n_iter: jax.Array
    converged: jax.Array


def fit_lm(y: jax.Array, x: jax.Array, w: jax.Array) -> GlmFit:
    """Least squares of ``y: f[n]`` on ``x: f[n, p]`` over rows weighted by ``w: f[n]``."""
    xtx = cross_products(x, w)
    chol = lapack_cholesky(xtx)
    beta = lapack_cho_solve(chol, (x.T @ (w * y))[:, None])[:, 0]
    resid = (y - x @ beta) * jnp.sqrt(w)
    n, p = w.sum(), x.shape[1]
    rss = resid @ resid
    sigma2 = rss / (n - p)
    vcov = sigma2 * lapack_cho_solve(chol, jnp.eye(p, dtype=x.dtype))
    # -2 logLik of the ML fit, as R's logLik.lm
    deviance = n * (jnp.log(2.0 * jnp.pi * rss / n) + 1.0)
    ok = jnp.all(jnp.isfinite(beta))
    return GlmFit(beta, vcov, jnp.sqrt(sigma2), deviance, jnp.asarray(1), ok)


def fit_glm(y: jax.Array, x: jax.Array, w: jax.Array, family: str) -> GlmFit:
    """Maximum likelihood of a ``binomial`` (logit) or ``poisson`` (log) regression."""

    def nll(beta):
        return jnp.sum(w * row_nll(y, x @ beta, family))

    result = newton_minimize(nll, jnp.zeros(x.shape[1], x.dtype), max_iter=60)
    hess = 0.5 * (result.hess + result.hess.T)
    vcov = lapack_inv(hess)
    return GlmFit(result.x, vcov, jnp.asarray(1.0, x.dtype), 2.0 * nll(result.x),
                  result.n_iter, result.converged)


def fit_regression(y: jax.Array, x: jax.Array, w: jax.Array, family: str) -> GlmFit:
    """:func:`fit_lm` for ``"gaussian"``, else :func:`fit_glm`."""
    return fit_lm(y, x, w) if family == "gaussian" else fit_glm(y, x, w, family)
