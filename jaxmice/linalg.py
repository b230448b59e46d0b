"""Numerical building blocks shared by the imputation methods (pure JAX, fixed shapes).

Rows that take part in a fit are selected by weights ``w: f[n]`` (1 = used, 0 = not) rather
than boolean indexing, so every function keeps the data's shape and compiles once.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .optimize import Mode, newton_mode  # noqa: F401  (the methods import them from here)
from .random import chisquare
from .small_linalg import lapack_cho_solve, lapack_cholesky, lapack_solve_lower_transposed

# Columns whose residual variance, given the columns kept before them, falls below this share
# of their own variance are linearly dependent on those columns and dropped.
COLLINEAR_TOL = 1e-7


class Selection(NamedTuple):
    """Which design columns a fit keeps.

    Attributes:
        keep: bool[q] columns used (the intercept, column 0, is always kept).
        constant: bool[q] columns dropped because they do not vary in the fitting rows.
        collinear: bool[q] columns dropped because they are linear in earlier kept columns.
    """

    keep: jax.Array
    constant: jax.Array
    collinear: jax.Array


def weighted_moments(x: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Weighted column means and variances of ``x: f[n, q]`` with weights ``w: f[n]``."""
    total = jnp.maximum(w.sum(), 1.0)
    mean = (w @ x) / total
    var = (w @ (x - mean) ** 2) / total
    return mean, var


def select_predictors(gram: jax.Array, candidate: jax.Array, tol: float = COLLINEAR_TOL
                      ) -> Selection:
    """Drop constant and linearly dependent columns of a design (intercept first).

    Works on the cross-product matrix alone (no pass over the rows): its first row gives the
    column means, the rest the covariances. Sweeps the correlation matrix column by column
    (left to right): a candidate column is kept when its residual variance given the kept
    columns before it exceeds ``tol``.

    Args:
        gram: f[q, q] weighted cross products ``X' W X`` of the design (column 0 the
            intercept) over the fitting rows.
        candidate: bool[q] columns offered as predictors (the others are neither kept nor
            reported as dropped).
        tol: relative residual variance below which a column counts as collinear.

    Returns:
        The :class:`Selection`.
    """
    total = jnp.maximum(gram[0, 0], 1.0)
    mean = gram[0] / total
    cov = gram / total - jnp.outer(mean, mean)
    var = jnp.diag(cov)
    scale = jnp.maximum(jnp.abs(mean), 1.0)
    # sd below 1e-6 of the column's scale: constant (the cross-product route has rounding
    # error near 1e-16 of mean^2, far below this)
    constant = (var <= 1e-12 * scale**2).at[0].set(False) & candidate
    sd = jnp.where(constant | (var <= 0), 1.0, jnp.sqrt(jnp.maximum(var, 0.0)))
    corr = cov / jnp.outer(sd, sd)
    q = gram.shape[0]
    candidate = (candidate & ~constant).at[0].set(False)  # the intercept: by centring

    def sweep(carry, k):
        a, keep = carry
        d = a[k, k]
        ok = candidate[k] & (d > tol)
        safe = jnp.where(ok, d, 1.0)
        row = a[k] / safe
        swept = a - jnp.outer(a[:, k], a[k]) / safe
        swept = swept.at[k].set(row).at[:, k].set(row).at[k, k].set(-1.0 / safe)
        return (jnp.where(ok, swept, a), keep.at[k].set(ok)), None

    (_, keep), _ = jax.lax.scan(sweep, (corr, jnp.zeros(q, bool)), jnp.arange(q))
    keep = keep.at[0].set(True)
    return Selection(keep=keep, constant=constant, collinear=~keep & ~constant & candidate)


def cross_products(x: jax.Array, w: jax.Array) -> jax.Array:
    """f[q, q] weighted cross products ``X' diag(w) X``, summed in float64 whatever the data's
    dtype (``jm.mice(..., dtype="float32")`` keeps its sums of squares in float64)."""
    x, w = wide(x), wide(w)
    return (x * w[:, None]).T @ x


def wide(x: jax.Array) -> jax.Array:
    """``x`` in float64 (unchanged if it is already; jaxmice computes with 64-bit types on)."""
    return x.astype(jnp.float64) if x.dtype == jnp.float32 else x


class LinearFit(NamedTuple):
    """A (ridge-stabilised) least-squares fit on the weighted rows.

    Attributes:
        coef: f[q] least-squares coefficients (0 for dropped columns).
        chol: f[q, q] lower Cholesky factor of the penalised cross-product matrix.
        rss: f[] residual sum of squares in the fitting rows.
        df: f[] residual degrees of freedom (fitting rows minus kept columns, at least 1).
        ok: bool[] whether the factorisation succeeded.
    """

    coef: jax.Array
    chol: jax.Array
    rss: jax.Array
    df: jax.Array
    ok: jax.Array


def least_squares(
    x: jax.Array, y: jax.Array, w: jax.Array, keep: jax.Array, ridge: float = 1e-5,
    gram: jax.Array | None = None,
) -> LinearFit:
    """Weighted least squares with a small ridge on the diagonal (as mice's ``ridge``).

    Args:
        x: f[n, q] design; y: f[n] response; w: f[n] fitting weights; keep: bool[q].
        ridge: the share of each diagonal element added for stability.
        gram: f[q, q] ``X' diag(w) X`` if already computed (saves a pass over the rows).

    Returns:
        The :class:`LinearFit`.
    """
    xk = x * keep
    if gram is None:
        gram = cross_products(x, w)
    xtx = gram * jnp.outer(keep, keep)
    dropped = jnp.diag(~keep).astype(x.dtype)
    xtx = xtx + ridge * jnp.diag(jnp.diag(xtx)) + dropped
    chol = lapack_cholesky(xtx)
    coef = lapack_cho_solve(chol, (xk.T @ (w * y))[:, None])[:, 0]
    resid = y - xk @ coef
    rss = jnp.sum(w * resid**2)
    df = jnp.maximum(w.sum() - keep.sum(), 1.0)
    ok = jnp.all(jnp.isfinite(chol)) & jnp.all(jnp.isfinite(coef))
    return LinearFit(coef=coef, chol=chol, rss=rss, df=df, ok=ok)


class LinearDraw(NamedTuple):
    """One draw of (beta, sigma) from their posterior under the standard noninformative prior.

    Attributes:
        fit: the least-squares fit.
        beta: f[q] drawn coefficients.
        sigma: f[] drawn residual standard deviation.
    """

    fit: LinearFit
    beta: jax.Array
    sigma: jax.Array


def draw_linear(
    key: jax.Array, x: jax.Array, y: jax.Array, w: jax.Array, keep: jax.Array,
    ridge: float = 1e-5, gram: jax.Array | None = None,
) -> LinearDraw:
    """Bayesian linear regression draw (Rubin 1987, p. 167): sigma^2 = rss / chi2(df),
    beta ~ N(coef, sigma^2 (X'X)^-1).

    Args:
        key: PRNG key; x: f[n, q]; y: f[n]; w: f[n] fitting weights; keep: bool[q].
        ridge, gram: see :func:`least_squares`.

    Returns:
        The :class:`LinearDraw`.
    """
    k_chi, k_beta = jax.random.split(key)
    fit = least_squares(x, y, w, keep, ridge, gram)
    chi2 = chisquare(k_chi, fit.df, dtype=x.dtype)
    sigma = jnp.sqrt(fit.rss / chi2)
    z = jax.random.normal(k_beta, fit.coef.shape) * keep
    # chol chol' = X'X, so solve(chol', z) ~ N(0, (X'X)^-1)
    beta = fit.coef + sigma * lapack_solve_lower_transposed(fit.chol, z[:, None])[:, 0]
    return LinearDraw(fit=fit, beta=beta, sigma=sigma)


def standardize(x: jax.Array, w: jax.Array, keep: jax.Array) -> jax.Array:
    """Centre and scale the non-intercept columns of ``x`` on the fitting rows; zero dropped ones.

    Only used where a prior acts on the coefficients, so that its scale means the same for
    every predictor.
    """
    mean, var = weighted_moments(x, w)
    mean = mean.at[0].set(0.0)
    sd = jnp.where(var > 0, jnp.sqrt(var), 1.0).at[0].set(1.0)
    return ((x - mean) / sd) * keep


def draw_laplace(key: jax.Array, mode: Mode) -> tuple[jax.Array, jax.Array]:
    """Draw from the normal approximation N(mode, H^-1) of a posterior.

    Returns:
        ``(theta: f[d], ok: bool[])`` (``ok`` is False when the Cholesky factor failed).
    """
    chol = lapack_cholesky(mode.hessian)
    z = jax.random.normal(key, mode.theta.shape, dtype=mode.theta.dtype)
    theta = mode.theta + lapack_solve_lower_transposed(chol, z[:, None])[:, 0]
    return theta, mode.ok & jnp.all(jnp.isfinite(theta))


def random_observed_rows(key: jax.Array, ry: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Row indices drawn uniformly, with replacement, from the rows where ``ry`` is True.

    Args:
        key: PRNG key; ry: bool[n]; shape: shape of the output.

    Returns:
        i[shape] row indices.
    """
    observed_rows = jnp.nonzero(ry, size=ry.shape[0], fill_value=0)[0]  # O(n), no sort
    picks = jax.random.randint(key, shape, 0, jnp.maximum(ry.sum(), 1))
    return observed_rows[picks]
