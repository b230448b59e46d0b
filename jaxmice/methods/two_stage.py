"""Two-stage multilevel imputation (micemd's ``2l.2stage.*``; Resche-Rigon & White 2018).

At each visit, stateless:

1. **Per-cluster fits.** The target's model (every predictor is both fixed and cluster
   specific, so codes 1 and 2 mean the same) is fitted in each cluster on its own observed
   rows, all clusters at once by segment sums over the cluster codes: least squares for the
   normal methods (one Newton step from zero is exact), :data:`NEWTON_STEPS` damped Newton
   steps (``lax.fori_loop``) for the logistic and Poisson ones. These two carry a weak
   Gaussian penalty, N(0, :data:`PRIOR_SD`^2) on every coefficient of the predictors
   standardised over all observed rows (the intercept at the predictors' means included), so
   that separation or an all-zero cluster gives a finite estimate with a large variance
   instead of a divergent one; their covariance is the inverse penalised information.
2. **Exclusions.** A cluster with residual df ``n_obs - q <= 4`` (micemd's rule, here for all
   families) or whose fit failed (non-finite, not converged, information not positive
   definite, e.g. a predictor constant within the cluster) is treated as systematically
   missing: it is left out of the meta-analysis and draws its parameters from the population.
   The df rule depends on the observed pattern only and is reported before the run
   (:func:`cluster_notes`); failed fits are counted per visit (``Draw.fallback``).
3. **Meta-analysis** (:mod:`jaxmice.meta`, method ``meta_method``, default ``"mm"``, the
   method of moments, as micemd's ``method_est``). Normal methods first pool
   ``log sigma_j^2`` (within variance ``2 / (df_j - 4)``, micemd's), draw the population's
   ``(mu, tau^2)`` and each cluster's ``sigma_j^2`` from its posterior, then the coefficients
   with ``V_j = sigma_j^2* (X_j' X_j)^-1``. Then ``(mu*, Psi*)`` is drawn and each cluster's
   coefficients from their posterior given its estimate (unfitted clusters: from
   ``N(mu*, Psi*)``).
4. **Too few clusters.** When fewer than two clusters pass the df rule, all observed rows are
   fitted as one (single-level; Psi = 0) and every cluster draws from that fit's approximate
   posterior (normal: Rubin's sigma^2 and beta draw). micemd stops with an error there; this
   imputes and reports (``fallback`` = the number of clusters). The switch is decided by the
   pattern, so one fit serves both cases; if fits failing at run time leave fewer than two
   clusters, the visit reports failure (``ok`` False, previous values kept).

The imputation models themselves live in the thin method files (``l2_2stage_*.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmice._src.numerics.glmm import mean_variance
from jaxmice._src.numerics.linalg import (
    lapack_cholesky,
    lapack_solve_lower,
    lapack_solve_lower_transposed,
)
from jaxmice._src.numerics.meta import (
    draw_parameters,
    draw_study_effects,
    meta_analysis,
    univariate,
)
from jaxmice._src.numerics.random import chisquare
from jaxmice.methods.base import Draw, Imputer, MethodInfo, Target, VisitInputs, real_clusters
from jaxmice.methods.l2_pois import MAX_ETA
from jaxmice.methods.logreg import PRIOR_SD
from jaxmice.methods.multilevel import finite

#: the model families of the per-cluster fits
FAMILIES = ("gaussian", "binomial", "poisson")
#: estimation methods of the meta-analysis (option ``meta_method``)
META_METHODS = ("reml", "ml", "mm")
#: the default: the method of moments, as micemd's ``method_est = "mm"``
META_METHOD = "mm"
#: clusters with at most this many residual degrees of freedom are not fitted (micemd)
MIN_DF = 4
#: Newton steps of the logistic and Poisson per-cluster fits
NEWTON_STEPS = 25
#: largest Newton step, in standardised coefficients (keeps early steps from overshooting)
STEP_CAP = 5.0
#: a fit has converged when its last step moved no standardised coefficient more than this
STEP_TOL = 1e-6
#: a column whose Cholesky pivot^2 is below this share of its sum of squares is collinear
PIVOT_TOL = 1e-9

#: predictor codes: 1 and 2 both mean "in the model" (every coefficient is cluster specific)
ALLOWED_CODES = frozenset({0, 1, 2})


def check_meta_method(value: str, method: str, target: Target) -> str:
    """The ``meta_method`` option, checked when the method is bound.

    Raises:
        ValueError: not one of :data:`META_METHODS`, naming the method and the column.
    """
    if value not in META_METHODS:
        raise ValueError(f"{method} for column {target.name!r}: meta_method must be one of "
                         f"{META_METHODS}, got {value!r}")
    return value


class ClusterFits(NamedTuple):
    """Per-segment (cluster) fits; unused design columns are inert (0 coefficient, identity
    information and covariance).

    Attributes:
        coef: f[J, q] estimates.
        info: f[J, q, q] the (penalised) information: ``X_j' W_j X_j + P``; ``X_j' X_j`` for
            the normal family.
        cov: f[J, q, q] its inverse (normal: ``(X_j' X_j)^-1``, to be scaled by sigma^2).
        rss: f[J] residual sum of squares (normal family; meaningless otherwise).
        n: f[J] observed rows.
        df: f[J] residual degrees of freedom, ``n - q_used``.
        ok: bool[J] finite, converged, information positive definite.
    """

    coef: jax.Array
    info: jax.Array
    cov: jax.Array
    rss: jax.Array
    n: jax.Array
    df: jax.Array
    ok: jax.Array


def penalty_matrices(x: jax.Array, w: jax.Array, keep: jax.Array, prior_sd: float
                     ) -> tuple[jax.Array, jax.Array]:
    """The penalty on raw coefficients that puts N(0, prior_sd^2) on standardised ones.

    With ``c = T b`` the coefficients of the predictors centred and scaled over all observed
    rows (``c_0`` the intercept at their means), the penalty is ``c'c / (2 prior_sd^2)``.

    Args:
        x: f[n, q] design (intercept first); w: f[n] observed-row weights; keep: bool[q].

    Returns:
        ``(precision f[q, q] = T'T / prior_sd^2, T f[q, q])``.
    """
    total = jnp.maximum(w.sum(), 1.0)
    mean = (w @ x) / total
    var = (w @ (x - mean) ** 2) / total
    sd = jnp.where(keep & (var > 0), jnp.sqrt(jnp.where(var > 0, var, 1.0)), 1.0).at[0].set(1.0)
    mean = jnp.where(keep, mean, 0.0).at[0].set(1.0)
    t = jnp.diag(sd).at[0].set(mean)  # row 0: c_0 = b_0 + sum_k mean_k b_k
    return (t.T @ t) / prior_sd**2, t


def _batched_solve(chol: jax.Array, rhs: jax.Array) -> jax.Array:
    """``(L L')^-1 rhs`` for ``chol: f[J, q, q]`` lower and ``rhs: f[J, q, r]``."""
    return lapack_solve_lower_transposed(chol, lapack_solve_lower(chol, rhs))


def cluster_fits(x: jax.Array, y: jax.Array, w: jax.Array, segment: jax.Array,
                 n_segments: int, keep: jax.Array, family: str,
                 prior_sd: float = PRIOR_SD, steps: int = NEWTON_STEPS) -> ClusterFits:
    """Fit ``family``'s GLM in every segment at once (segment sums; no loop over clusters).

    Args:
        x: f[n, q] design (column 0 the intercept); y: f[n] response; w: f[n] 1 on the rows
            fitted; segment: i[n] each row's segment in ``0 .. n_segments - 1``;
        keep: bool[q] columns used (the others are masked out);
        family: one of :data:`FAMILIES` (static); prior_sd: the logistic / Poisson penalty
            (:func:`penalty_matrices`); steps: their Newton steps (static).

    Returns:
        The :class:`ClusterFits`.
    """
    q = x.shape[1]
    xk = x * keep
    both = keep[:, None] & keep[None, :]
    eye = jnp.eye(q, dtype=x.dtype)
    n = jax.ops.segment_sum(w, segment, n_segments)
    if family == "gaussian":
        precision, t, steps, cap = jnp.zeros((q, q), x.dtype), eye, 1, jnp.inf
        start = jnp.zeros((n_segments, q), x.dtype)
    else:
        precision, t = penalty_matrices(x, w, keep, prior_sd)
        precision, cap = jnp.where(both, precision, 0.0), STEP_CAP
        share = (jax.ops.segment_sum(w * y, segment, n_segments) + 0.5) / (n + 1.0)
        link = jnp.log(share / (1.0 - share)) if family == "binomial" else jnp.log(share)
        start = jnp.zeros((n_segments, q), x.dtype).at[:, 0].set(link)

    def derivatives(b):
        mean, var = mean_variance(jnp.sum(xk * b[segment], axis=1), family, MAX_ETA)
        grad = jax.ops.segment_sum(xk * (w * (y - mean))[:, None], segment, n_segments)
        outer = (w * var)[:, None, None] * xk[:, :, None] * xk[:, None, :]
        info = jax.ops.segment_sum(outer, segment, n_segments) + precision
        return grad - b @ precision, jnp.where(both, info, eye)

    def newton(_, carry):
        b, _, _ = carry
        grad, info = derivatives(b)
        chol = lapack_cholesky(info)
        step = _batched_solve(chol, grad[:, :, None])[:, :, 0]
        size = jnp.max(jnp.abs(step @ t.T), axis=1)  # in standardised coefficients
        factor = jnp.minimum(1.0, cap / jnp.maximum(size, 1e-300))
        return b + factor[:, None] * step, info, size

    init = (start, jnp.broadcast_to(eye, (n_segments, q, q)), jnp.full(n_segments, jnp.inf))
    coef, info, size = jax.lax.fori_loop(0, steps, newton, init)
    chol = lapack_cholesky(info)
    cov = _batched_solve(chol, jnp.broadcast_to(eye, info.shape))
    pivot = jnp.diagonal(chol, axis1=1, axis2=2) ** 2
    diag = jnp.diagonal(info, axis1=1, axis2=2)
    independent = jnp.all(~keep | (pivot > PIVOT_TOL * diag), axis=1)
    resid = y - mean_variance(jnp.sum(xk * coef[segment], axis=1), family, MAX_ETA)[0]
    rss = jax.ops.segment_sum(w * resid**2, segment, n_segments)
    ok = (jnp.all(jnp.isfinite(coef), axis=1) & jnp.all(jnp.isfinite(cov), axis=(1, 2))
          & independent & (n > 0))
    if family != "gaussian":
        ok = ok & (size <= STEP_TOL)
    return ClusterFits(coef=coef * keep, info=info, cov=jnp.where(both, cov, eye), rss=rss,
                       n=n, df=n - keep.sum(), ok=ok)


class ClusterDraw(NamedTuple):
    """Every cluster's drawn parameters at one visit.

    Attributes:
        beta: f[J, q] coefficients (0 in unused columns).
        sigma2: f[J] residual variances (normal family; ones otherwise).
        ok: bool[] the draws are usable.
        fallback: i[] clusters that drew from the population because their fit failed at run
            time (all clusters when the single-level fit replaced the meta-analysis).
    """

    beta: jax.Array
    sigma2: jax.Array
    ok: jax.Array
    fallback: jax.Array


def draw_clusters(key: jax.Array, inputs: VisitInputs, n_clusters: int, family: str,
                  meta_method: str = META_METHOD, prior_sd: float = PRIOR_SD) -> ClusterDraw:
    """Fit each cluster, pool by meta-analysis and draw every cluster's parameters (the
    module docstring's steps 1-4).

    Args:
        key: PRNG key; inputs: the visit's inputs; n_clusters: J (static);
        family: one of :data:`FAMILIES`; meta_method: one of :data:`META_METHODS` (static).

    Returns:
        The :class:`ClusterDraw`.
    """
    k_sig, k_sig_j, k_pool_s, k_par, k_eff, k_pool_b = jax.random.split(key, 6)
    x, keep, dtype = inputs.x, inputs.keep, inputs.x.dtype
    q = x.shape[1]
    w = inputs.ry.astype(dtype)
    counts = jax.ops.segment_sum(w, inputs.cluster, n_clusters)
    enough = counts - keep.sum() > MIN_DF
    pooled = enough.sum() < 2
    # too few clusters: every row in segment 0, one single-level fit
    segment = jnp.where(pooled, 0, inputs.cluster)
    fits = cluster_fits(x, inputs.y, w, segment, n_clusters, keep, family, prior_sd)
    fitted = enough & fits.ok & ~pooled
    both = keep[:, None] & keep[None, :]
    eye = jnp.eye(q, dtype=dtype)

    cov = fits.cov
    sigma2 = jnp.ones(n_clusters, dtype)
    if family == "gaussian":
        df = jnp.where(fitted, fits.df, MIN_DF + 1.0)
        log_s2 = jnp.where(fitted, jnp.log(fits.rss / df), 0.0)
        within = 2.0 / (df - MIN_DF)  # micemd's variance of log sigma_j^2
        mu_s, tau2_s = draw_parameters(k_sig, univariate(log_s2, within, method=meta_method,
                                                         included=fitted))
        log_s2_star = draw_study_effects(k_sig_j, mu_s, tau2_s, log_s2[:, None],
                                         within[:, None, None], fitted)[:, 0]
        # single-level: sigma^2 = rss / chi2(df), Rubin's draw
        pooled_s2 = fits.rss[0] / chisquare(k_pool_s, jnp.maximum(fits.df[0], 1.0), dtype=dtype)
        sigma2 = jnp.where(pooled, pooled_s2, jnp.exp(log_s2_star))
        cov = jnp.where(both, sigma2[:, None, None] * fits.cov, eye)

    result = meta_analysis(fits.coef, cov, method=meta_method, included=fitted,
                           structure=both)
    mu, psi = draw_parameters(k_par, result)
    beta_meta = draw_study_effects(k_eff, mu, psi, fits.coef, cov, fitted)
    z = jax.random.normal(k_pool_b, (q,), dtype)
    beta_pool = fits.coef[0] + lapack_cholesky(cov[0]) @ z
    beta = jnp.where(pooled, beta_pool[None, :], beta_meta) * keep

    pooled_ok = fits.ok[0] & (fits.df[0] >= 1)
    ok = jnp.where(pooled, pooled_ok, fitted.sum() >= 2) & finite(beta, sigma2)
    clusters = real_clusters(inputs.cluster, n_clusters).sum()  # not the size class's
    fallback = jnp.where(pooled, clusters, jnp.sum(enough & ~fits.ok)).astype(jnp.int32)
    return ClusterDraw(beta=beta, sigma2=sigma2, ok=ok, fallback=fallback)


def linear_predictor(inputs: VisitInputs, beta: jax.Array) -> jax.Array:
    """f[n] each row's ``x_i' beta_j(i)`` with its cluster's drawn coefficients."""
    return jnp.sum(inputs.x * inputs.keep * beta[inputs.cluster], axis=1)


def design_size(codes: np.ndarray) -> int:
    """The coefficients of a visit's model from its design codes ``codes: i[q]`` (the
    intercept, codes[0], plus every column with a nonzero code)."""
    codes = np.asarray(codes)
    return 1 + int(np.count_nonzero(codes[1:]))


def cluster_notes(ry: np.ndarray, cluster: np.ndarray, n_clusters: int,
                  codes: np.ndarray) -> list[tuple[int, str]]:
    """The clusters the observed pattern leaves unfitted (:attr:`MethodInfo.cluster_notes`).

    Args:
        ry: bool[n] observed rows of the target; cluster: i[n] codes 0 .. J - 1;
        n_clusters: J; codes: i[q] the visit's design codes.

    Returns:
        ``[(cluster, reason), ...]``, host side.
    """
    q = design_size(codes)
    counts = np.bincount(np.asarray(cluster, int), weights=np.asarray(ry, float),
                         minlength=n_clusters).astype(int)
    fittable = counts - q > MIN_DF
    single = fittable.sum() < 2
    notes = []
    for j, n_obs in enumerate(counts):
        if n_obs == 0:
            reason = "no observed value (systematically missing): drawn from the population"
        elif not fittable[j]:
            reason = (f"{n_obs} observed rows for {q} coefficients (residual df "
                      f"{n_obs - q} <= {MIN_DF}): drawn from the population")
        else:
            reason = ""
        if single:
            reason = (reason + "; " if reason else "") + (
                "fewer than 2 clusters have residual df > 4, so one single-level fit on all "
                "observed rows imputes every cluster")
        if reason:
            notes.append((j, reason))
    return notes


def two_stage_imputer(target: Target, name: str, family: str, meta_method: str,
                      finish: Callable[[jax.Array, VisitInputs, ClusterDraw],
                                       tuple[jax.Array, jax.Array]]) -> Imputer:
    """The draw every two-stage method shares: the cluster parameters from the meta-analysis
    of the per-cluster ``family`` fits (:func:`draw_clusters`), then the method's own
    ``finish(key, inputs, par) -> (values: f[n], finite: bool[])``."""
    meta_method = check_meta_method(meta_method, name, target)

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        k_par, k_y = jax.random.split(key)
        par = draw_clusters(k_par, inputs, target.n_clusters, family, meta_method)
        values, finite = finish(k_y, inputs, par)
        return Draw(values=values, state=state, ok=par.ok & finite, fallback=par.fallback)

    return Imputer(init=None, draw=draw)


def two_stage_info(**fields: Any) -> MethodInfo:
    """A two-stage method's :class:`MethodInfo`: a cluster variable needed, codes 0-2, and the
    clusters' notes (:func:`cluster_notes`)."""
    return MethodInfo(needs_cluster=True, allowed_codes=ALLOWED_CODES,
                      cluster_notes=cluster_notes, **fields)
