"""Generalised linear mixed models by the Laplace approximation, in pure JAX (lme4's glmer).

For fixed ``theta`` and ``beta`` the spherical random effects ``u`` have a conditional mode found
by Newton's method (penalised IRLS; separate per block, so per cluster in the usual multilevel
model). The Laplace approximation to the deviance is

    D(theta, beta) = -2 log p(y | u*) + ||u*||^2 + log|Lambda' Z' W Z Lambda + I|,

evaluated at the mode ``u*`` (Bates et al. 2015; what lme4's ``glmer`` with ``nAGQ = 1``
minimises). It is minimised jointly over ``(theta, beta)`` by Newton's method with the exact
Hessian. Derivatives pass through the mode by two Newton updates from the converged (and
gradient-stopped) mode: at a fixed point of Newton's map these reproduce the mode's first and
second derivatives exactly, so the Hessian, and with it lme4's Hessian-based standard errors of
``beta``, is exact rather than a finite-difference approximation.

Canonical links only: logit for ``binomial`` (0/1 responses), log for ``poisson``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxmice._src.numerics.linalg import (
    cholesky,
    cross_products,
    lapack_eigvalsh,
    lapack_inv,
    log_det,
    solve_lower,
    solve_lower_transposed,
)
from jaxmice._src.numerics.optimize import newton_minimize
from jaxmice._src.numerics.structure import (
    ReArrays,
    ReShape,
    block_cross,
    block_gram,
    canonical_theta,
    relative_factor,
    z_times,
)

FAMILIES = ("binomial", "poisson")
_MODE_ITER = 60


class GlmmData(NamedTuple):
    """One data set: ``y: f[n]``, ``x: f[n, p]``, ``zval: f[n, K]``, row weights ``w: f[n]``."""

    y: jax.Array
    x: jax.Array
    zval: jax.Array
    w: jax.Array


class GlmmFit(NamedTuple):
    """A fitted GLMM (one data set; a leading axis when vmapped).

    Attributes:
        theta: f[n_theta] (diagonals >= 0); beta: f[p].
        vcov: f[p, p] from the Hessian of the Laplace deviance in (theta, beta), as lme4's
            default ``vcov`` for glmer (falls back to ``vcov_rx`` where that Hessian is not
            positive definite, e.g. at a boundary).
        vcov_rx: f[p, p] the conditional ``(R_X' R_X)^-1`` (lme4's ``use.hessian = FALSE``).
        b: f[J, q_b] conditional modes; b_cov: f[J, q_b, q_b] their conditional covariances.
        deviance: f[] the Laplace deviance (``-2 logLik``).
        grad: f[n_theta + p] gradient at the optimum; hessian_ok: bool[].
        n_iter: i[]; converged: bool[].
    """

    theta: jax.Array
    beta: jax.Array
    vcov: jax.Array
    vcov_rx: jax.Array
    b: jax.Array
    b_cov: jax.Array
    deviance: jax.Array
    grad: jax.Array
    hessian_ok: jax.Array
    n_iter: jax.Array
    converged: jax.Array


def row_nll(y: jax.Array, eta: jax.Array, family: str) -> jax.Array:
    """Negative log-likelihood of each row: f[n] (constants included, as lme4's deviance)."""
    if family == "binomial":
        return jax.nn.softplus(eta) - y * eta
    if family == "poisson":
        return jnp.exp(eta) - y * eta + jax.lax.lgamma(y + 1.0)
    raise ValueError(f"unknown family {family!r}; choose one of {FAMILIES}")


def mean_variance(eta: jax.Array, family: str, max_eta: float | None = None
                  ) -> tuple[jax.Array, jax.Array]:
    """Mean and variance function of each row of ``eta: f[n]`` under ``family``'s canonical
    link (gaussian, binomial or poisson); ``max_eta`` clips a Poisson linear predictor before
    it is exponentiated (the imputation methods' fits)."""
    if family == "binomial":
        mu = jax.nn.sigmoid(eta)
        return mu, mu * (1.0 - mu)
    if family == "poisson":
        mu = jnp.exp(eta if max_eta is None else jnp.minimum(eta, max_eta))
        return mu, mu
    return eta, jnp.ones_like(eta)


def penalized_nll(u: jax.Array, lam: jax.Array, offset: jax.Array, data: GlmmData,
                  re: ReArrays, family: str) -> jax.Array:
    """``-log p(y | u) + ||u||^2 / 2`` for ``u: f[J, q_b]`` given ``offset = X beta: f[n]``."""
    eta = offset + z_times(data.zval, u @ lam.T, re)
    return jnp.sum(data.w * row_nll(data.y, eta, family)) + 0.5 * jnp.sum(u**2)


def mode_system(u: jax.Array, lam: jax.Array, offset: jax.Array, data: GlmmData,
                re: ReArrays, shape: ReShape, family: str) -> tuple[jax.Array, jax.Array]:
    """Gradient f[J, q_b] and Cholesky factor f[J, q_b, q_b] of the Hessian in ``u``."""
    eta = offset + z_times(data.zval, u @ lam.T, re)
    mu, var = mean_variance(eta, family)
    grad = block_cross(data.zval, data.w * (mu - data.y), re, shape) @ lam + u
    gram = block_gram(data.zval, data.w * var, re, shape)
    hess = jnp.einsum("ba,jbc,cd->jad", lam, gram, lam) + jnp.eye(shape.block_size)
    return grad, cholesky(hess)


def newton_update(u: jax.Array, lam: jax.Array, offset: jax.Array, data: GlmmData,
                  re: ReArrays, shape: ReShape, family: str) -> jax.Array:
    """One full Newton step towards the conditional mode."""
    grad, chol = mode_system(u, lam, offset, data, re, shape, family)
    return u - solve_lower_transposed(chol, solve_lower(chol, grad[..., None]))[..., 0]


def conditional_mode(lam: jax.Array, offset: jax.Array, data: GlmmData, re: ReArrays,
                     shape: ReShape, family: str) -> jax.Array:
    """The mode ``u*: f[J, q_b]`` by Newton steps with step halving (PIRLS)."""

    def objective(u):
        return penalized_nll(u, lam, offset, data, re, family)

    def cond(carry):
        _, _, k, done = carry
        return ~done & (k < _MODE_ITER)

    def body(carry):
        u, value, k, _ = carry
        step = newton_update(u, lam, offset, data, re, shape, family) - u

        def shrink(c):
            t, _ = c
            return t * 0.5, objective(u + 0.5 * t * step)

        def worse(c):
            t, v = c
            return (~jnp.isfinite(v) | (v > value)) & (t > 1e-6)

        t, new_value = jax.lax.while_loop(worse, shrink, (1.0, objective(u + step)))
        done = jnp.abs(value - new_value) <= 1e-13 * (1.0 + jnp.abs(value))
        return u + t * step, new_value, k + 1, done

    u0 = jnp.zeros((shape.n_blocks, shape.block_size), offset.dtype)
    u, *_ = jax.lax.while_loop(cond, body, (u0, objective(u0), 0, jnp.asarray(False)))
    return u


def laplace_deviance(params: jax.Array, data: GlmmData, re: ReArrays, shape: ReShape,
                     family: str) -> jax.Array:
    """The Laplace deviance at ``params = (theta, beta): f[n_theta + p]``."""
    theta, beta = params[: shape.n_theta], params[shape.n_theta:]
    lam = relative_factor(theta, re, shape)
    offset = data.x @ beta
    fixed = jax.lax.stop_gradient
    mode = fixed(conditional_mode(fixed(lam), fixed(offset), data, re, shape, family))
    # two differentiable Newton steps from the mode carry its first and second derivatives
    u = newton_update(mode, lam, offset, data, re, shape, family)
    u = newton_update(u, lam, offset, data, re, shape, family)
    _, chol = mode_system(u, lam, offset, data, re, shape, family)
    return 2.0 * penalized_nll(u, lam, offset, data, re, family) + log_det(chol)


def glm_start(data: GlmmData, family: str) -> jax.Array:
    """Fixed effects of the GLM without random effects (the start of the joint fit)."""

    def nll(beta):
        return jnp.sum(data.w * row_nll(data.y, data.x @ beta, family))

    beta0 = jnp.zeros(data.x.shape[1], data.x.dtype)
    return newton_minimize(nll, beta0, max_iter=50).x


def fit_glmm(data: GlmmData, re: ReArrays, shape: ReShape, theta0: jax.Array,
             family: str) -> GlmmFit:
    """Fit a GLMM by minimising the Laplace deviance over ``(theta, beta)``.

    Args:
        data: the data set.
        re, shape: the random-effects structure.
        theta0: f[n_theta] start (lme4's: 1 on diagonals, 0 elsewhere).
        family: ``"binomial"`` or ``"poisson"``.

    Returns:
        The :class:`GlmmFit`.
    """
    params0 = jnp.concatenate([theta0, glm_start(data, family)])
    result = newton_minimize(lambda q: laplace_deviance(q, data, re, shape, family), params0)
    theta = canonical_theta(result.x[: shape.n_theta], re)
    beta = result.x[shape.n_theta:]
    p = beta.shape[0]

    lam = relative_factor(theta, re, shape)
    offset = data.x @ beta
    u = conditional_mode(lam, offset, data, re, shape, family)
    _, chol = mode_system(u, lam, offset, data, re, shape, family)
    g = solve_lower(chol, jnp.broadcast_to(lam.T, chol.shape))
    b_cov = jnp.einsum("jka,jkb->jab", g, g)

    # conditional (R_X-based) covariance of beta at the mode
    eta = offset + z_times(data.zval, u @ lam.T, re)
    _, var = mean_variance(eta, family)
    weight = data.w * var
    wx = data.x * weight[:, None]
    cx = solve_lower(chol, jnp.einsum("ba,jbp->jap", lam, block_cross(data.zval, wx, re, shape)))
    schur = cross_products(data.x, weight) - jnp.einsum("jqa,jqb->ab", cx, cx)
    vcov_rx = lapack_inv(schur)

    # lme4's default: the fixed-effect block of (Hessian / 2)^-1 in (theta, beta)
    hess = 0.5 * (result.hess + result.hess.T)
    hessian_ok = jnp.all(lapack_eigvalsh(hess) > 0) & jnp.all(jnp.isfinite(hess))
    full = 2.0 * lapack_inv(jnp.where(hessian_ok, hess, jnp.eye(hess.shape[0])))
    vcov = jnp.where(hessian_ok, full[-p:, -p:], vcov_rx)
    return GlmmFit(
        theta=theta,
        beta=beta,
        vcov=0.5 * (vcov + vcov.T),
        vcov_rx=vcov_rx,
        b=u @ lam.T,
        b_cov=b_cov,
        deviance=result.value,
        grad=result.grad,
        hessian_ok=hessian_ok,
        n_iter=result.n_iter,
        converged=result.converged,
    )
