"""Linear mixed models by profiled REML or ML, in pure JAX (the algorithm of lme4's lmer).

With ``b = Lambda u`` and ``u ~ N(0, sigma^2 I)``, the fixed effects and the spherical random
effects solve the penalised least-squares problem

    min_{beta, u} ||y - X beta - Z Lambda u||^2 + ||u||^2,

whose Cholesky factor gives the profiled deviance in ``theta`` alone (Bates et al. 2015, JSS
67(1), eqs. 34 and 41). All row-level work is done once, in cross products; each criterion
evaluation is then ``O(J q_b^3 + p^3)``. Rows take part by weight ``w: f[n]`` (0 or 1), so a
fit keeps its data's shape and compiles once. Float64 throughout: the profiled deviance is a
difference of sums of squares, and matching lme4 to 1e-5 needs the extra digits.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxmice._src.numerics.linalg import (
    cholesky,
    lapack_cho_solve,
    log_det,
    solve_lower,
    solve_lower_transposed,
    wide,
)
from jaxmice._src.numerics.linalg import cross_products as weighted_cross_products
from jaxmice._src.numerics.optimize import NewtonResult, newton_minimize, newton_minimize_batch
from jaxmice._src.numerics.structure import (
    ReArrays,
    ReShape,
    block_cross,
    block_gram,
    canonical_theta,
    relative_factor,
)

LOG_2PI = 1.8378770664093453  # log(2 pi), a float64 whatever jax_enable_x64 says


class LmmStats(NamedTuple):
    """Weighted cross products of a linear mixed model's data.

    Attributes:
        ztz: f[J, q_b, q_b]; ztx: f[J, q_b, p]; zty: f[J, q_b]; xtx: f[p, p]; xty: f[p];
        yty: f[]; n: f[] the number of rows used.
    """

    ztz: jax.Array
    ztx: jax.Array
    zty: jax.Array
    xtx: jax.Array
    xty: jax.Array
    yty: jax.Array
    n: jax.Array


class PlsSolution(NamedTuple):
    """Penalised least-squares solution at one ``theta``.

    Attributes:
        lam: f[q_b, q_b] the relative covariance factor.
        beta: f[p] fixed effects; u: f[J, q_b] spherical random effects.
        chol_z: f[J, q_b, q_b] Cholesky factors of ``Lambda' Z'Z Lambda + I`` per block.
        chol_x: f[p, p] Cholesky factor of the fixed effects' Schur complement (lme4's RX').
        r2: f[] penalised residual sum of squares.
        log_det_z, log_det_x: f[] ``log|L_Z|^2`` and ``log|R_X|^2``.
        cu: f[J, q_b] and cx: f[J, q_b, p]: ``L_Z^-1 Lambda' Z'y`` and ``L_Z^-1 Lambda' Z'X``
            (``u = L_Z^-T (cu - cx beta)``; Gibbs samplers draw from them).
    """

    lam: jax.Array
    beta: jax.Array
    u: jax.Array
    chol_z: jax.Array
    chol_x: jax.Array
    r2: jax.Array
    log_det_z: jax.Array
    log_det_x: jax.Array
    cu: jax.Array
    cx: jax.Array


class LmmFit(NamedTuple):
    """A fitted linear mixed model (one data set; a leading axis when vmapped).

    Attributes:
        theta: f[n_theta] the relative covariance factor at the optimum (diagonals >= 0).
        beta: f[p]; vcov: f[p, p] ``sigma^2 (R_X' R_X)^-1`` as lme4's ``vcov``.
        sigma: f[] residual standard deviation.
        b: f[J, q_b] conditional modes of the random effects.
        b_cov: f[J, q_b, q_b] their conditional covariances (per block).
        deviance: f[] ML deviance or REML criterion (``-2 logLik``).
        grad: f[n_theta] the criterion's gradient at the optimum.
        n_iter: i[] optimiser iterations; converged: bool[].
    """

    theta: jax.Array
    beta: jax.Array
    vcov: jax.Array
    sigma: jax.Array
    b: jax.Array
    b_cov: jax.Array
    deviance: jax.Array
    grad: jax.Array
    n_iter: jax.Array
    converged: jax.Array


def lmm_stats(y: jax.Array, x: jax.Array, zval: jax.Array, w: jax.Array, re: ReArrays,
              shape: ReShape) -> LmmStats:
    """The sufficient statistics of a linear mixed model over the rows weighted by ``w``.

    ``X' W X`` is :func:`jaxmice._src.numerics.linalg.cross_products`; the random-effect parts are
    per-block sums.

    Args:
        y: f[n] response; x: f[n, p] fixed-effect design; zval: f[n, K] values of ``Z``;
        w: f[n] row weights; re, shape: the random-effects structure.

    Returns:
        The :class:`LmmStats`.
    """
    y, x, zval, w = (wide(a) for a in (y, x, zval, w))  # sums in float64 (dtype="float32")
    wx = x * w[:, None]
    wy = y * w
    return LmmStats(
        ztz=block_gram(zval, w, re, shape),
        ztx=block_cross(zval, wx, re, shape),
        zty=block_cross(zval, wy, re, shape),
        xtx=weighted_cross_products(x, w),
        xty=wx.T @ y,
        yty=wy @ y,
        n=w.sum(),
    )


cross_products = lmm_stats  # the old name (methods.multilevel imports it)


def solve_pls(theta: jax.Array, stats: LmmStats, re: ReArrays, shape: ReShape) -> PlsSolution:
    """Solve the penalised least-squares problem at ``theta`` by a blocked Cholesky factor."""
    return solve_pls_factor(relative_factor(theta, re, shape), stats)


def solve_pls_factor(lam: jax.Array, stats: LmmStats) -> PlsSolution:
    """Solve the penalised least-squares problem for a given ``Lambda: f[q_b, q_b]``."""
    eye = jnp.eye(lam.shape[0], dtype=lam.dtype)
    a = jnp.einsum("ba,jbc,cd->jad", lam, stats.ztz, lam) + eye
    chol_z = cholesky(a)
    cu = solve_lower(chol_z, jnp.einsum("ba,jb->ja", lam, stats.zty)[..., None])[..., 0]
    cx = solve_lower(chol_z, jnp.einsum("ba,jbp->jap", lam, stats.ztx))
    chol_x = cholesky(stats.xtx - jnp.einsum("jqa,jqb->ab", cx, cx))
    cbeta = solve_lower(chol_x, (stats.xty - jnp.einsum("jqa,jq->a", cx, cu))[:, None])[:, 0]
    beta = solve_lower_transposed(chol_x, cbeta[:, None])[:, 0]
    u = solve_lower_transposed(chol_z, (cu - cx @ beta)[..., None])[..., 0]
    r2 = stats.yty - jnp.sum(cu**2) - jnp.sum(cbeta**2)
    log_det_z = log_det(chol_z)
    log_det_x = log_det(chol_x)
    return PlsSolution(lam, beta, u, chol_z, chol_x, r2, log_det_z, log_det_x, cu, cx)


def deviance_from(sol: PlsSolution, n: jax.Array, p: int | jax.Array, reml: bool) -> jax.Array:
    """ML deviance or REML criterion (lme4's ``deviance`` / ``REMLcrit``) of a PLS solution
    with ``p`` fixed effects."""
    if reml:
        dof = n - p
        return sol.log_det_z + sol.log_det_x + dof * (1.0 + LOG_2PI + jnp.log(sol.r2 / dof))
    return sol.log_det_z + n * (1.0 + LOG_2PI + jnp.log(sol.r2 / n))


def profiled_deviance(theta: jax.Array, stats: LmmStats, re: ReArrays, shape: ReShape,
                      reml: bool, n_fixed: int | jax.Array | None = None) -> jax.Array:
    """The criterion minimised over ``theta: f[n_theta]`` (NaN where a factor fails).

    ``n_fixed`` counts the fixed effects when some design columns are inert (identity rows in
    ``xtx``, as imputation methods mask unused predictors); default all of them.
    """
    sol = solve_pls(theta, stats, re, shape)
    p = stats.xtx.shape[0] if n_fixed is None else n_fixed
    return deviance_from(sol, stats.n, p, reml)


def conditional_covariance(sol: PlsSolution, sigma2: jax.Array) -> jax.Array:
    """``sigma^2 Lambda (Lambda'Z'Z Lambda + I)^-1 Lambda'`` per block: f[J, q_b, q_b]."""
    g = solve_lower(sol.chol_z, jnp.broadcast_to(sol.lam.T, sol.chol_z.shape))
    return sigma2 * jnp.einsum("jka,jkb->jab", g, g)


def fit_lmm(y: jax.Array, x: jax.Array, zval: jax.Array, w: jax.Array, re: ReArrays,
            shape: ReShape, theta0: jax.Array, reml: bool = True) -> LmmFit:
    """Fit a linear mixed model by minimising the profiled REML or ML criterion.

    Args:
        y: f[n] response; x: f[n, p] fixed-effect design; zval: f[n, K] values of ``Z``;
        w: f[n] row weights (1 = used, 0 = left out).
        re, shape: the random-effects structure.
        theta0: f[n_theta] start (lme4's: 1 on diagonals, 0 elsewhere).
        reml: REML (True) or maximum likelihood.

    Returns:
        The :class:`LmmFit`.
    """
    return fit_lmm_stats(lmm_stats(y, x, zval, w, re, shape), re, shape, theta0, reml)


def fit_lmm_stats(stats: LmmStats, re: ReArrays, shape: ReShape, theta0: jax.Array,
                  reml: bool = True, n_fixed: int | jax.Array | None = None) -> LmmFit:
    """:func:`fit_lmm` from the data's cross products (see :func:`lmm_stats`);
    ``n_fixed`` as in :func:`profiled_deviance`."""
    result = newton_minimize(
        lambda t: profiled_deviance(t, stats, re, shape, reml, n_fixed), theta0)
    return _fit_at(result, stats, re, shape, reml, n_fixed)


def fit_lmm_stats_batch(stats: LmmStats, re: ReArrays, shape: ReShape, theta0: jax.Array,
                        reml: bool = True) -> LmmFit:
    """:func:`fit_lmm_stats` for a batch of data sets (``stats`` with a leading axis B), the
    batch an axis of one Newton loop rather than a ``vmap`` around B loops (which tracing
    costs more than compiling; see
    :func:`~jaxmice._src.numerics.optimize.newton_minimize_batch`)."""
    batch = stats.n.shape[0]
    result = newton_minimize_batch(
        lambda t, s: profiled_deviance(t, s, re, shape, reml),
        jnp.broadcast_to(theta0, (batch, theta0.shape[0])), stats)
    return jax.vmap(lambda r, s: _fit_at(r, s, re, shape, reml, None))(result, stats)


def _fit_at(result: NewtonResult, stats: LmmStats, re: ReArrays, shape: ReShape, reml: bool,
            n_fixed: int | jax.Array | None) -> LmmFit:
    """The :class:`LmmFit` at the optimiser's result."""
    theta = canonical_theta(result.x, re)
    sol = solve_pls(theta, stats, re, shape)
    p_full = stats.xtx.shape[0]
    p = p_full if n_fixed is None else n_fixed
    sigma2 = sol.r2 / (stats.n - p if reml else stats.n)
    vcov = sigma2 * lapack_cho_solve(sol.chol_x, jnp.eye(p_full, dtype=stats.xtx.dtype))
    b = jnp.einsum("ab,jb->ja", sol.lam, sol.u)
    return LmmFit(
        theta=theta,
        beta=sol.beta,
        vcov=vcov,
        sigma=jnp.sqrt(sigma2),
        b=b,
        b_cov=conditional_covariance(sol, sigma2),
        deviance=deviance_from(sol, stats.n, p, reml),
        grad=result.grad,
        n_iter=result.n_iter,
        converged=result.converged,
    )


def loglik_at(beta: jax.Array, lam: jax.Array, sigma2: jax.Array, stats: LmmStats) -> jax.Array:
    """The ML log-likelihood at given parameters (not profiled): fixed effects ``beta``,
    random-effect covariance ``sigma2 * lam lam'`` and residual variance ``sigma2``.

    ``-2 logLik = log|L_Z|^2 + n log(2 pi sigma^2) + (r'r - |L_Z^-1 Lambda' Z' r|^2) / sigma^2``
    with ``r = y - X beta`` (the marginal normal density, by the matrix determinant lemma and
    Woodbury). What mitml's D3 evaluates at the pooled parameters (lme4's ``devfun2``).
    """
    sol = solve_pls_factor(lam, stats)
    rr = stats.yty - 2.0 * beta @ stats.xty + beta @ stats.xtx @ beta
    shrunk = jnp.sum((sol.cu - sol.cx @ beta) ** 2)
    deviance = sol.log_det_z + stats.n * (LOG_2PI + jnp.log(sigma2)) + (rr - shrunk) / sigma2
    return -0.5 * deviance
