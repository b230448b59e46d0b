"""The bivariate sample-selection (Heckman) model, fitted cluster by cluster, and exact draws of
outcomes that were not selected; the parts of :mod:`.l2_heckman`.

A row is observed (selected, ``s = 1``) when its selection latent ``x_S beta_S + u_S`` is
positive; its outcome is ``y = x_O beta_O + sigma u_O`` (continuous) or
``1(x_O beta_O + u_O > 0)`` (binary, probit), with ``(u_S, u_O)`` standard bivariate normal
with correlation rho. Rho = 0 is missing at random given the predictors; rho != 0 is missing
not at random, identified by the exclusion restriction (predictors in the selection equation
only, code -3) and by normality.

Parameters of one cluster, ``theta: f[d]`` with ``d = 2 q + 2`` for a design of q columns:
``beta_S`` (q), ``beta_O`` (q), ``log sigma``, ``atanh rho``. Design columns outside an
equation, and ``log sigma`` for a binary outcome, are *fixed*: held at their start by a
unit quadratic penalty, so every cluster has one shape and a positive definite curvature
there; they are left out of the meta-analysis.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr, ndtr, ndtri

from jaxmice._src.numerics.linalg import lapack_eigvalsh, lapack_inv, lapack_solve
from jaxmice._src.numerics.optimize import newton_loop

#: Gauss-Legendre nodes for the bivariate normal cdf's integral over the angle
BVN_NODES = 24
#: the selection index fixed for clusters whose every row is selected: Phi(8) = 1 - 6e-16, so
#: the selection part of their likelihood is constant and their fit is the outcome model's
ALL_SELECTED_INDEX = 8.0
#: prior sd of atanh(rho): N(0, 5^2) is flat over every rho the data can tell from +-1 (it
#: shrinks an estimate with standard error s by the factor 1 / (1 + s^2 / 25)), and keeps the
#: fit finite where they cannot (a small cluster without an exclusion restriction drives the
#: likelihood's maximum to |rho| = 1)
RHO_PRIOR_SD = 5.0
#: Newton iterations of a cluster's fit (converged clusters stop early)
MAX_ITER = 60
#: a fit is accepted when Newton's method converged and, before its last (full) step, the
#: largest gradient component over the square root of the Hessian's diagonal (the distance to
#: the maximum in standard errors) was below this; the last step then squares it
GRADIENT_TOL = 1e-2

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(BVN_NODES)


def bvn_cdf(h: jax.Array, k: jax.Array, rho: jax.Array) -> jax.Array:
    """P(X < h, Y < k) for standard bivariate normals with correlation ``rho``: f[...].

    Plackett's identity ``d Phi2 / d rho = phi2(h, k; rho)`` integrated from 0 over the angle
    ``t = asin(r)``: ``Phi2 = Phi(h) Phi(k) + 1/(2 pi) int_0^asin(rho) exp(-(h^2 - 2hk sin t +
    k^2) / (2 cos^2 t)) dt``, by Gauss-Legendre quadrature (smooth for |rho| < 1, so JAX
    differentiates it; checked against scipy in the tests).
    """
    h, k, rho = jnp.broadcast_arrays(h, k, rho)
    end = jnp.arcsin(jnp.clip(rho, -1.0 + 1e-12, 1.0 - 1e-12))
    t = 0.5 * end[..., None] * (jnp.asarray(_NODES, h.dtype) + 1.0)
    sin_t, cos2_t = jnp.sin(t), jnp.cos(t) ** 2
    hh, kk = h[..., None], k[..., None]
    integrand = jnp.exp(-(hh**2 - 2.0 * hh * kk * sin_t + kk**2) / (2.0 * cos2_t))
    integral = 0.5 * end * (integrand @ jnp.asarray(_WEIGHTS, h.dtype))
    return ndtr(h) * ndtr(k) + integral / (2.0 * jnp.pi)


class Equations(NamedTuple):
    """Which parameters each cluster's fit estimates.

    Attributes:
        selection: bool[q] design columns of the selection equation (intercept, codes 1, 2, -3).
        outcome: bool[q] design columns of the outcome equation (intercept, codes 1, 2, -4).
        gaussian: static: the outcome is continuous (else binary, probit).
    """

    selection: jax.Array
    outcome: jax.Array
    gaussian: bool


def equations(codes: jax.Array, keep: jax.Array, gaussian: bool) -> Equations:
    """The :class:`Equations` from a visit's design codes (intercept coded 1) and kept columns."""
    both = (codes == 1) | (codes == 2)
    return Equations(selection=keep & (both | (codes == -3)),
                     outcome=keep & (both | (codes == -4)), gaussian=gaussian)


def free_parameters(eq: Equations) -> jax.Array:
    """bool[2q + 2] the parameters estimated (the rest are fixed at their start)."""
    return jnp.concatenate([eq.selection, eq.outcome,
                            jnp.array([eq.gaussian, True])])


class Row(NamedTuple):
    """One row of the likelihood: outcome ``y: f[]`` (read when selected) and selected ``s:
    bool[]``."""

    y: jax.Array
    s: jax.Array


def index_log_likelihood(index: jax.Array, row: Row, gaussian: bool) -> jax.Array:
    """f[] one row's log-likelihood as a function of its four indices ``(a, b, log sigma,
    atanh rho)``, with ``a = x beta_S`` and ``b = x beta_O``.

    Not selected: ``log Phi(-a)``. Selected, continuous: ``log Phi((a + rho r) / sqrt(1 -
    rho^2)) + log phi(r) - log sigma`` with ``r = (y - b) / sigma``; selected, binary: ``log
    Phi2(a, +-b; +-rho)``, with the sign of the observed y.
    """
    a, b, log_sigma, z = index[0], index[1], index[2], index[3]
    rho = jnp.tanh(z)
    if gaussian:
        sigma = jnp.exp(log_sigma)
        r = (row.y - b) / sigma
        # 1 - rho^2 = 1 / cosh(z)^2, without the cancellation near |rho| = 1
        selected = (log_ndtr((a + rho * r) * jnp.cosh(z)) - 0.5 * r**2 - log_sigma
                    - 0.5 * jnp.log(2.0 * jnp.pi))
    else:
        sign = 2.0 * row.y - 1.0
        selected = jnp.log(jnp.maximum(bvn_cdf(a, sign * b, sign * rho), 1e-300))
    return jnp.where(row.s, selected, log_ndtr(-a))


def _indices(theta: jax.Array, x: jax.Array, group: jax.Array, eq: Equations) -> jax.Array:
    """f[n, 4] each row's indices at its group's parameters ``theta: f[G, 2q + 2]``."""
    q = x.shape[1]
    at = theta[group]
    return jnp.stack([jnp.sum(x * at[:, :q] * eq.selection, axis=1),
                      jnp.sum(x * at[:, q:2 * q] * eq.outcome, axis=1),
                      at[:, 2 * q], at[:, 2 * q + 1]], axis=1)


def grouped_derivatives(theta: jax.Array, x: jax.Array, rows: Row, group: jax.Array,
                        eq: Equations) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Each group's negative log-likelihood, gradient and exact Hessian at ``theta: f[G, d]``:
    (f[G], f[G, d], f[G, d, d]).

    A row's likelihood depends on the parameters through four indices, linear in them, so its
    derivatives are those of a function of four arguments (by autodiff) times the design:
    ``H = J' H_index J`` with ``J = blockdiag(x_S, x_O, 1, 1)``, summed by group. That costs
    a handful of operations per row, where a Hessian over all 2q + 2 parameters per row would
    cost 2q + 2 passes.
    """
    n_groups = theta.shape[0]
    index = _indices(theta, x, group, eq)

    def loss(ix, row):
        return -index_log_likelihood(ix, row, eq.gaussian)

    def gradient(ix, row):
        value, grad = jax.value_and_grad(loss)(ix, row)
        return grad, (value, grad)

    # forward over reverse, with the value and gradient from the same pass
    hess, (value, grad) = jax.vmap(jax.jacfwd(gradient, has_aux=True))(index, rows)

    def total(v):
        return jax.ops.segment_sum(v, group, num_segments=n_groups)

    xs, xo = x * eq.selection, x * eq.outcome
    designs = (xs, xo)
    g_blocks = [total(grad[:, k, None] * designs[k]) for k in range(2)]
    g = jnp.concatenate(g_blocks + [total(grad[:, 2:])], axis=1)
    # Hessian blocks: the q x q design blocks, the design x scalar ones, the 2 x 2 scalars
    xx = [[total(hess[:, u, v, None, None] * designs[u][:, :, None] * designs[v][:, None, :])
           for v in range(2)] for u in range(2)]
    xz = [total(hess[:, u, 2:, None] * designs[u][:, None, :]) for u in range(2)]  # G, 2, q
    zz = total(hess[:, 2:, 2:])
    top = jnp.concatenate([jnp.concatenate([xx[0][0], xx[0][1]], axis=2),
                           jnp.concatenate([xx[1][0], xx[1][1]], axis=2)], axis=1)
    side = jnp.concatenate([xz[0], xz[1]], axis=2)  # G, 2, 2q
    h = jnp.concatenate([jnp.concatenate([top, jnp.swapaxes(side, 1, 2)], axis=2),
                         jnp.concatenate([side, zz], axis=2)], axis=1)
    return total(value), g, h


class ClusterFits(NamedTuple):
    """Each cluster's maximum-likelihood fit.

    Attributes:
        theta: f[J, d] the estimates.
        covariance: f[J, d, d] their covariance (the inverse observed information).
        ok: bool[J] the fit converged: finite, positive definite Hessian, small gradient.
    """

    theta: jax.Array
    covariance: jax.Array
    ok: jax.Array


#: Fisher scoring steps of the probit selection fit that starts each cluster's Newton fit
PROBIT_STEPS = 3


def _by_group(values: jax.Array, group: jax.Array, n_groups: int) -> jax.Array:
    return jax.ops.segment_sum(values, group, num_segments=n_groups)


def _least_squares(x: jax.Array, y: jax.Array, w: jax.Array, group: jax.Array, n_groups: int,
                   used: jax.Array) -> jax.Array:
    """f[G, k] each group's weighted least squares of ``y: f[n]`` on the ``used: bool[k]``
    columns of ``x: f[n, k]`` (0 for the others)."""
    xu = x * used
    gram = _by_group(w[:, None, None] * xu[:, :, None] * xu[:, None, :], group, n_groups)
    eye = jnp.eye(x.shape[1], dtype=x.dtype)
    gram = gram + eye * (~used) + 1e-8 * eye
    rhs = _by_group((w * y)[:, None] * xu, group, n_groups)
    return lapack_solve(gram, rhs[..., None])[..., 0]


def _probit(x: jax.Array, s: jax.Array, group: jax.Array, n_groups: int, used: jax.Array,
            intercept: jax.Array) -> jax.Array:
    """f[G, q] each group's probit fit of ``s`` on the ``used`` columns, by
    :data:`PROBIT_STEPS` Fisher-scoring steps from ``intercept: f[G]`` (steps capped at 2 in
    the coefficients' norm, so a separated group stays finite)."""
    xu = x * used
    eye = jnp.eye(x.shape[1], dtype=x.dtype)

    def step(beta, _):
        a = jnp.sum(xu * beta[group], axis=1)
        log_phi = -0.5 * a**2 - 0.5 * jnp.log(2.0 * jnp.pi)
        log_p, log_q = log_ndtr(a), log_ndtr(-a)
        score = jnp.where(s, jnp.exp(log_phi - log_p), -jnp.exp(log_phi - log_q))
        info = jnp.exp(2.0 * log_phi - log_p - log_q)
        grad = _by_group(score[:, None] * xu, group, n_groups)
        fisher = _by_group(info[:, None, None] * xu[:, :, None] * xu[:, None, :], group,
                           n_groups) + eye * (~used) + 1e-8 * eye
        move = lapack_solve(fisher, grad[..., None])[..., 0]
        size = jnp.linalg.norm(move, axis=1, keepdims=True)
        return beta + move * jnp.minimum(1.0, 2.0 / jnp.maximum(size, 1e-300)), None

    beta0 = jnp.zeros((n_groups, x.shape[1]), x.dtype).at[:, 0].set(intercept)
    return jax.lax.scan(step, beta0, None, length=PROBIT_STEPS)[0]


def start_values(x: jax.Array, y: jax.Array, s: jax.Array, cluster: jax.Array, n_clusters: int,
                 eq: Equations, all_selected: jax.Array) -> jax.Array:
    """f[J, d] each cluster's start: Heckman's two-step estimate. The selection equation by a
    probit fit; a continuous outcome by least squares on the selected rows with the inverse
    Mills ratio as an extra regressor, whose coefficient estimates rho sigma; a binary
    outcome by a linear probability model rescaled to the probit scale, with rho 0.

    Clusters with every row selected get the selection index :data:`ALL_SELECTED_INDEX`.
    """
    q = x.shape[1]
    w = s.astype(x.dtype)
    count = _by_group(jnp.ones_like(w), cluster, n_clusters)
    n_sel = _by_group(w, cluster, n_clusters)
    share = (n_sel + 0.5) / (count + 1.0)
    beta_s = _probit(x, s, cluster, n_clusters, eq.selection, ndtri(share))
    beta_s = jnp.where(all_selected[:, None],
                       jnp.zeros_like(beta_s).at[:, 0].set(ALL_SELECTED_INDEX), beta_s)
    a = jnp.sum(x * eq.selection * beta_s[cluster], axis=1)
    mills = jnp.exp(-0.5 * a**2 - 0.5 * jnp.log(2.0 * jnp.pi) - log_ndtr(a))
    if eq.gaussian:
        design = jnp.concatenate([x, mills[:, None]], axis=1)
        used = jnp.concatenate([eq.outcome, jnp.array([True])])
        coef = _least_squares(design, y, w, cluster, n_clusters, used)
        beta_o, rho_sigma = coef[:, :q], coef[:, q]
        rho_sigma = jnp.where(all_selected, 0.0, rho_sigma)
        resid = jnp.where(s, y - jnp.sum(design * used * coef[cluster], axis=1), 0.0)
        spread = _by_group(w * mills * (mills + a), cluster, n_clusters)
        var = (_by_group(resid**2, cluster, n_clusters) + rho_sigma**2 * spread) / jnp.maximum(
            n_sel, 1.0)
        sd = jnp.sqrt(jnp.maximum(var, 1e-8))
        rho = jnp.clip(rho_sigma / sd, -0.9, 0.9)
    else:  # a linear probability model's slopes, on the probit scale
        beta_o = _least_squares(x, y, w, cluster, n_clusters, eq.outcome)
        share_y = jnp.clip(beta_o[:, 0], 0.05, 0.95)
        scale = 1.0 / jnp.maximum(jnp.exp(-0.5 * ndtri(share_y) ** 2) / jnp.sqrt(2 * jnp.pi),
                                  0.05)
        beta_o = (beta_o * scale[:, None]).at[:, 0].set(ndtri(share_y))
        sd, rho = jnp.ones(n_clusters, x.dtype), jnp.zeros(n_clusters, x.dtype)
    return jnp.concatenate([beta_s, beta_o, jnp.log(sd)[:, None], jnp.arctanh(rho)[:, None]],
                           axis=1)


def fit_clusters(x: jax.Array, y: jax.Array, s: jax.Array, cluster: jax.Array,
                 n_clusters: int, eq: Equations, free: jax.Array) -> ClusterFits:
    """Each cluster's selection model by maximum likelihood (damped Newton, all clusters at
    once), with the weak prior :data:`RHO_PRIOR_SD` on atanh(rho).

    Args:
        x: f[n, q] the design (unused columns are ignored through ``eq``).
        y: f[n] outcomes (read where selected).
        s: bool[n] selected rows.
        cluster: i[n] cluster of each row.
        n_clusters: J (static).
        eq: the equations.
        free: bool[J, d] the parameters each cluster estimates; the others are held at the
            start (:func:`start_values`).

    Returns:
        The :class:`ClusterFits`.
    """
    all_selected = ~free[:, -1]
    theta0 = start_values(x, y, s, cluster, n_clusters, eq, all_selected)
    data = Row(y=jnp.where(s, y, 0.0), s=s)
    held = (~free).astype(x.dtype)

    # fixed parameters stay at their start: the likelihood's derivatives in them are
    # dropped, and a unit quadratic holds them (so every Hessian is nonsingular there)
    pair = free[:, :, None] & free[:, None, :]

    # the prior on atanh(rho) where rho is estimated
    prior = jnp.zeros(free.shape[1], x.dtype).at[-1].set(RHO_PRIOR_SD**-2) * free

    def penalty(theta):
        gap = (theta - theta0) * held
        return 0.5 * jnp.sum(gap**2 + prior * theta**2, axis=1), gap + prior * theta

    def derivatives(theta):
        value, grad, hess = grouped_derivatives(theta, x, data, cluster, eq)
        extra, extra_grad = penalty(theta)
        return (value + extra, grad * free + extra_grad,
                jnp.where(pair, hess, 0.0) + jax.vmap(jnp.diag)(held + prior))

    def values_at(theta):
        index = _indices(theta, x, cluster, eq)
        loss = -jax.vmap(index_log_likelihood, in_axes=(0, 0, None))(index, data, eq.gaussian)
        return jax.ops.segment_sum(loss, cluster, num_segments=n_clusters) + penalty(theta)[0]

    result = newton_loop(derivatives, values_at, theta0, max_iter=MAX_ITER, tol=1e-8)
    hess = result.hess
    lam = lapack_eigvalsh(hess)
    scale = jnp.sqrt(jnp.maximum(jnp.diagonal(hess, axis1=1, axis2=2), 1e-300))
    small = jnp.max(jnp.abs(result.grad) / scale, axis=1) < GRADIENT_TOL
    finite = jnp.all(jnp.isfinite(result.x), axis=1) & jnp.all(jnp.isfinite(hess), axis=(1, 2))
    ok = finite & (lam[:, 0] > 0) & small & result.converged
    safe = jnp.where(ok[:, None, None], hess, jnp.eye(hess.shape[1], dtype=hess.dtype))
    covariance = lapack_inv(safe)
    return ClusterFits(theta=result.x, covariance=covariance, ok=ok)


def draw_unselected(key: jax.Array, a: jax.Array, b: jax.Array, sigma: jax.Array,
                    rho: jax.Array, gaussian: bool, delta: jax.Array | float = 0.0
                    ) -> jax.Array:
    """Outcomes of rows that were not selected, from their exact conditional: f[n].

    ``u_S`` is drawn from the standard normal truncated to ``u_S < -a`` (not selected), then
    ``u_O | u_S ~ N(rho u_S, 1 - rho^2)``; the outcome is ``b + sigma u_O`` (continuous) or
    ``1(b + delta + u_O > 0)`` (binary; delta shifts the probit index).

    Args:
        a: f[n] selection index; b: f[n] outcome index; sigma, rho: f[n] (or scalars).
    """
    k_s, k_o = jax.random.split(key)
    upper = -a
    u = jax.random.uniform(k_s, a.shape, a.dtype)
    # by the log cdf, so an upper bound deep in the lower tail stays finite
    p = jnp.exp(log_ndtr(upper))
    u_s = jnp.minimum(ndtri(jnp.clip(u * p, 1e-300, 1.0 - 1e-16)), upper)
    u_o = rho * u_s + jnp.sqrt(1.0 - rho**2) * jax.random.normal(k_o, a.shape, a.dtype)
    if gaussian:
        return b + sigma * u_o
    return (b + delta + u_o > 0).astype(a.dtype)
