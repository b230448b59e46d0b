"""Random-effects meta-analysis in pure JAX: univariate and multivariate, REML / ML / moments.

The model is ``theta_k ~ N(mu, V_k + Psi)`` for studies ``k`` with estimates ``theta_k: f[d]``
and known within-study covariances ``V_k: f[d, d]`` (intercept only, no moderators). It serves
users directly (``jm.meta``) and the two-stage imputation methods (micemd's 2l.2stage and
Heckman styles), which run it inside compiled programs, vmapped over the imputations: per-cluster
fits give ``theta_k, V_k``; :func:`meta_analysis` pools them; :func:`draw_parameters` and
:func:`draw_study_effects` draw from the result.

Everything has fixed shapes: studies that are padding are switched off by ``included`` (their
values may be garbage, NaN included), and random effects by ``structure``; nothing loops over
studies in Python and nothing returns to the host, so every function jit-compiles and vmaps.

Estimation (results agree with R's metafor to 1e-6, tests/numerics/test_meta.py):

* ``"reml"`` / ``"ml"``: ``mu`` is profiled out by generalised least squares and the
  (restricted) likelihood is minimised over the lower Cholesky factor ``L`` of ``Psi = L L'`` by
  :func:`jaxmice._src.numerics.optimize.newton_minimize`. The factor keeps ``Psi`` positive
  semi-definite without constraints, and reaches the boundary ``Psi = 0`` smoothly (the criterion is
  even in each column of ``L``, so near ``L = 0`` Newton converges cubically).
* ``"mm"``: the multivariate method of moments (Jackson, White & Riley 2013, which for complete
  data and no moderators is the estimator of Chen, Manning & Dupuis 2012); DerSimonian-Laird for
  ``d = 1``. Its Psi is projected onto the positive semi-definite cone.

The log-likelihoods carry metafor's constants: ML ``-1/2 (n d log 2 pi + sum log|V_k + Psi| +
RSS)``, REML ``-1/2 ((n - 1) d log 2 pi - d log n + sum log|V_k + Psi| + log|sum W_k| + RSS)``
with ``W_k = (V_k + Psi)^-1`` (metafor's REML keeps ``+1/2 log|X'X|``, here ``d log n``).

The functions compute in JAX's current precision; jaxmice's programs run in float64, and so
should direct callers (``jax.config.update("jax_enable_x64", True)``).

Called on concrete arrays (not inside the caller's ``jit`` or ``vmap``), :func:`meta_analysis`
and :func:`univariate` run a compiled program (:mod:`jaxmice.programs`) for the *size class* of
the number of studies (:func:`jaxmice.sizes.cluster_class`): the studies are padded with
excluded ones, which change nothing, so meta-analyses of 20, 21 or 22 studies share one
program. Inside a transformation they are the plain functions, traced into the caller's program.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmice._src.numerics.linalg import lapack_eigh, lapack_solve, psd_cholesky, spd_inverse
from jaxmice._src.numerics.optimize import newton_minimize
from jaxmice._src.runtime.programs import program
from jaxmice._src.runtime.sizes import cluster_class

#: estimation methods of :func:`meta_analysis`
METHODS = ("reml", "ml", "mm")

_LOG_2PI = float(np.log(2.0 * np.pi))


class MetaResult(NamedTuple):
    """A fitted random-effects meta-analysis.

    Attributes:
        estimate: f[d] the pooled mean ``mu``.
        covariance: f[d, d] its covariance, ``(sum_k (V_k + Psi)^-1)^-1`` at the estimate of Psi.
        psi: f[d, d] the between-study covariance (``tau^2`` for d = 1).
        psi_par: f[d (d + 1) / 2] the lower Cholesky factor ``L`` of ``Psi = L L'``, its lower
            triangle row by row (``np.tril_indices`` order), each column's diagonal >= 0.
        psi_par_cov: f[q, q] the inverse observed information of ``psi_par`` at the (RE)ML
            optimum (a pseudo-inverse where singular; zero rows for fixed elements); zeros for
            ``"mm"``, where Psi is treated as known.
        loglik: f[] the maximised (restricted) log-likelihood; nan for ``"mm"``.
        converged: bool[] the fit converged with finite values.
        n_studies: i[] studies included.
        structure: bool[d, d] the free entries of Psi (symmetric), as used in the fit.
    """

    estimate: jax.Array
    covariance: jax.Array
    psi: jax.Array
    psi_par: jax.Array
    psi_par_cov: jax.Array
    loglik: jax.Array
    converged: jax.Array
    n_studies: jax.Array
    structure: jax.Array


class _Inputs(NamedTuple):
    """Cleaned inputs: y f[k, d] and v f[k, d, d] with excluded studies set to 0 and I,
    weight f[k] 1 for included studies and 0 otherwise."""

    y: jax.Array
    v: jax.Array
    weight: jax.Array


class _Gls(NamedTuple):
    """The generalised least squares fit at a given Psi (see :func:`_gls`)."""

    mu: jax.Array
    precision: jax.Array
    rss: jax.Array
    logdet: jax.Array


# ---------------------------------------------------------------------------------------------
# small linear-algebra helpers


def _tril(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the lower triangle, row by row (static)."""
    return np.tril_indices(d)


def _unpack(par: jax.Array, d: int) -> jax.Array:
    """``par: f[d (d + 1) / 2]`` -> the lower-triangular f[d, d]."""
    rows, cols = _tril(d)
    return jnp.zeros((d, d), par.dtype).at[rows, cols].set(par)


def _symmetrise(a: jax.Array) -> jax.Array:
    return 0.5 * (a + jnp.swapaxes(a, -1, -2))


def psd_sqrt(a: jax.Array) -> jax.Array:
    """A square root ``R`` with ``R R' = a`` for ``a: f[..., d, d]`` symmetric, eigenvalues
    floored at 0: works where Cholesky fails (singular or slightly indefinite ``a``). For one
    matrix or a small batch (it calls LAPACK's eigh); large batches use
    :func:`jaxmice._src.numerics.linalg.psd_cholesky`."""
    lam, vec = lapack_eigh(_symmetrise(a))
    return vec * jnp.sqrt(jnp.maximum(lam, 0.0))[..., None, :]


def _psd_project(a: jax.Array) -> jax.Array:
    """``a: f[d, d]`` with its negative eigenvalues set to 0."""
    root = psd_sqrt(a)
    return root @ root.T


def _par_mask(structure: jax.Array) -> jax.Array:
    """bool[q]: which Cholesky elements are free (the lower triangle of ``structure``)."""
    rows, cols = _tril(structure.shape[0])
    return structure[rows, cols]


def _sign_normalise(low: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``low`` with each column's sign flipped so its diagonal is >= 0 (Psi is unchanged), and
    the sign of each packed element f[q] (to carry the flip over to its covariance)."""
    signs = jnp.where(jnp.diag(low) < 0, -1.0, 1.0).astype(low.dtype)
    _, cols = _tril(low.shape[0])
    return low * signs[None, :], signs[cols]


# ---------------------------------------------------------------------------------------------
# the fits


def _clean(estimates: jax.Array, covariances: jax.Array, included: jax.Array | None) -> _Inputs:
    """Replace excluded studies by harmless values (estimate 0, covariance I) before any
    arithmetic, so their garbage (NaN, inf) cannot leak through a zero weight."""
    y = jnp.asarray(estimates)
    v = jnp.asarray(covariances, y.dtype)
    k, d = y.shape
    if included is None:
        included = jnp.ones(k, bool)
    included = jnp.asarray(included, bool)
    y = jnp.where(included[:, None], y, 0.0)
    v = jnp.where(included[:, None, None], v, jnp.eye(d, dtype=y.dtype))
    return _Inputs(y, _symmetrise(v), included.astype(y.dtype))


def _gls(data: _Inputs, psi: jax.Array) -> _Gls:
    """The GLS fit of ``mu`` at ``psi``: the estimate f[d], the precision ``sum_k W_k``
    f[d, d], the weighted residual sum of squares f[] and ``sum_k log|V_k + Psi|`` f[].

    The k x d x d inversions are unrolled (:mod:`jaxmice._src.numerics.linalg`): batched LAPACK
    calls here, inside a vmapped Newton loop, deadlock jaxlib 0.10's CPU runtime on two threads."""
    w, logdets = spd_inverse(data.v + psi)
    w = w * data.weight[:, None, None]
    precision = _symmetrise(jnp.sum(w, axis=0))
    cov, _ = spd_inverse(precision)
    mu = cov @ jnp.einsum("kij,kj->i", w, data.y)
    r = data.y - mu
    rss = jnp.einsum("ki,kij,kj->", r, w, r)
    logdet = jnp.sum(data.weight * logdets)
    return _Gls(mu, precision, rss, logdet)


def _neg_loglik(data: _Inputs, psi: jax.Array, restricted: bool) -> jax.Array:
    """Minus the (restricted) log-likelihood at ``psi``, with metafor's constants: f[]."""
    d = psi.shape[0]
    n = jnp.sum(data.weight)
    fit = _gls(data, psi)
    if restricted:
        const = (n - 1.0) * d * _LOG_2PI - d * jnp.log(n)
        return 0.5 * (const + fit.logdet + spd_inverse(fit.precision)[1] + fit.rss)
    return 0.5 * (n * d * _LOG_2PI + fit.logdet + fit.rss)


def _moments(data: _Inputs, structure: jax.Array) -> jax.Array:
    """The method-of-moments Psi f[d, d] (DerSimonian-Laird for d = 1).

    With fixed-effect weights ``W_k = V_k^-1``, ``A = sum_k W_k``, the fixed-effect mean
    ``m = A^-1 sum_k W_k theta_k`` and the matrix ``Q = sum_k W_k (theta_k - m)(theta_k - m)'``,
    ``E[Q] = (n - 1) I + B Psi`` with ``B = A - sum_k W_k A^-1 W_k``; so ``Psi = B^-1 (Q -
    (n - 1) I)``, symmetrised, projected onto the PSD cone and masked by ``structure``.
    """
    d = data.y.shape[1]
    eye = jnp.eye(d, dtype=data.y.dtype)
    w = spd_inverse(data.v)[0] * data.weight[:, None, None]
    a = _symmetrise(jnp.sum(w, axis=0))
    a_inv = spd_inverse(a)[0]
    m = a_inv @ jnp.einsum("kij,kj->i", w, data.y)
    e = (data.y - m) * data.weight[:, None]
    q = jnp.einsum("kij,kj,kl->il", w, e, e)
    b = a - jnp.einsum("kij,jl,klm->im", w, a_inv, w)
    n = jnp.sum(data.weight)
    psi = _symmetrise(lapack_solve(b, q - (n - 1.0) * eye))
    return jnp.where(structure, _psd_project(psi), 0.0)


def _observed_cov(hess: jax.Array, mask: jax.Array) -> jax.Array:
    """Pseudo-inverse f[q, q] of the information ``hess`` restricted to the free elements
    ``mask``: eigenvalues that are not clearly positive get zero variance."""
    free = mask.astype(hess.dtype)
    outer = free[:, None] * free[None, :]
    lam, vec = lapack_eigh(_symmetrise(hess) * outer + jnp.diag(1.0 - free))
    floor = 1e-12 * jnp.maximum(jnp.max(jnp.abs(lam)), 1e-300)
    inv = jnp.where(lam > floor, 1.0 / jnp.where(lam > floor, lam, 1.0), 0.0)
    return ((vec * inv) @ vec.T) * outer


def _traced(*args: object) -> bool:
    """Whether any argument is traced (called inside the caller's jit or vmap)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(args))


def _float_dtype(values: np.ndarray) -> np.dtype:
    """The float type an estimates array computes in (JAX's default for integers), as
    JAX would hold it (float32 unless 64-bit types are on)."""
    dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float64
    return jax.dtypes.canonicalize_dtype(dtype)


@program(static_argnames=("method", "tol"))
def _meta_program(estimates: jax.Array, covariances: jax.Array, included: jax.Array,
                  structure: jax.Array, method: str, tol: float) -> MetaResult:
    """:func:`_meta_analysis` compiled for ``k``, the studies' size class."""
    return _meta_analysis(estimates, covariances, method=method, included=included,
                          structure=structure, tol=tol)


def _padded_fit(estimates: object, covariances: object, method: str, included: object,
                structure: object, tol: float) -> MetaResult:
    """:func:`_meta_program` on concrete inputs, the studies padded to their size class with
    excluded studies (estimate 0, covariance I: inert even before :func:`_clean`)."""
    y = np.asarray(estimates)
    y = y.astype(_float_dtype(y))
    k, d = y.shape
    v = np.asarray(covariances, y.dtype).reshape(k, d, d)
    keep = np.ones(k, bool) if included is None else np.asarray(included, bool).reshape(k)
    free = np.ones((d, d), bool) if structure is None else np.asarray(structure, bool)
    extra = cluster_class(k) - k
    y = np.concatenate([y, np.zeros((extra, d), y.dtype)])
    v = np.concatenate([v, np.broadcast_to(np.eye(d, dtype=y.dtype), (extra, d, d))])
    keep = np.concatenate([keep, np.zeros(extra, bool)])
    arrays = (jax.device_put(a) for a in (y, v, keep, free))
    return _meta_program(*arrays, method=method, tol=float(tol))


def meta_analysis(
    estimates: jax.Array,
    covariances: jax.Array,
    *,
    method: str = "reml",
    included: jax.Array | None = None,
    structure: jax.Array | None = None,
    tol: float = 1e-13,
) -> MetaResult:
    """Fit the random-effects meta-analysis ``theta_k ~ N(mu, V_k + Psi)``.

    Args:
        estimates: f[k, d] the studies' estimates ``theta_k``.
        covariances: f[k, d, d] their within-study covariances ``V_k``.
        method: one of :data:`METHODS` (static): ``"reml"``, ``"ml"`` or ``"mm"`` (method of
            moments, Psi then treated as known).
        included: bool[k] the studies to use (None: all). The others are ignored entirely:
            they may hold garbage (NaN).
        structure: bool[d, d] the free entries of Psi (None: all, unstructured); may be traced.
            It masks the Cholesky factor (``L_ij`` free iff ``structure[i, j]``), so diagonal and
            block-diagonal patterns give diagonal and block-diagonal Psi; a dimension whose row
            is all False has no random effect (Psi zero there). Symmetrised.
        tol: the Newton decrement (relative to the criterion) at which REML / ML stop: the
            default matches metafor to 1e-9; an imputation method, which draws Psi from its
            uncertainty anyway, can stop sooner.

    Returns:
        The :class:`MetaResult`.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if _traced(estimates, covariances, included, structure):
        return _meta_analysis(estimates, covariances, method=method, included=included,
                              structure=structure, tol=tol)
    return _padded_fit(estimates, covariances, method, included, structure, tol)


def _meta_analysis(
    estimates: jax.Array,
    covariances: jax.Array,
    *,
    method: str,
    included: jax.Array | None,
    structure: jax.Array | None,
    tol: float,
) -> MetaResult:
    """:func:`meta_analysis` as a pure function of (possibly traced) arrays."""
    data = _clean(estimates, covariances, included)
    k, d = data.y.shape
    if structure is None:
        structure = jnp.ones((d, d), bool)
    structure = jnp.asarray(structure, bool)
    structure = structure | structure.T
    mask = _par_mask(structure)
    q = mask.shape[0]
    n_studies = jnp.sum(data.weight).astype(jnp.int32)
    psi_mm = _moments(data, structure)

    if method == "mm":
        fit = _gls(data, psi_mm)
        low, _ = _sign_normalise(psd_cholesky(psi_mm) * structure)
        par = low[_tril(d)]
        finite = jnp.all(jnp.isfinite(fit.mu)) & jnp.all(jnp.isfinite(psi_mm))
        return MetaResult(fit.mu, spd_inverse(fit.precision)[0], psi_mm, par,
                          jnp.zeros((q, q), par.dtype), jnp.full((), jnp.nan, par.dtype),
                          finite & (n_studies > 0), n_studies, structure)

    restricted = method == "reml"
    free = mask.astype(data.y.dtype)

    def criterion(par: jax.Array) -> jax.Array:
        low = _unpack(par * free, d)
        # fixed elements are held at 0 by a quadratic, so their Hessian block is the identity
        return _neg_loglik(data, low @ low.T, restricted) + 0.5 * jnp.sum((1.0 - free) * par**2)

    # start at the moments estimate moved into the interior: a column of L that starts at zero
    # would stay there (the criterion is even in it, so its gradient vanishes)
    scale = jnp.sum(jnp.diagonal(data.v, axis1=1, axis2=2) * data.weight[:, None], axis=0)
    scale = scale / jnp.maximum(jnp.sum(data.weight), 1.0)
    start = psd_cholesky(psi_mm + jnp.diag(0.1 * scale))[_tril(d)] * free
    result = newton_minimize(criterion, start, max_iter=200, tol=tol)
    low, signs = _sign_normalise(_unpack(result.x * free, d))
    par = low[_tril(d)]
    psi = low @ low.T
    fit = _gls(data, psi)
    hess = result.hess * (signs[:, None] * signs[None, :])
    par_cov = _observed_cov(hess, mask)
    loglik = -_neg_loglik(data, psi, restricted)
    finite = (jnp.all(jnp.isfinite(fit.mu)) & jnp.all(jnp.isfinite(par))
              & jnp.isfinite(loglik) & jnp.all(jnp.isfinite(par_cov)))
    return MetaResult(fit.mu, spd_inverse(fit.precision)[0], psi, par, par_cov, loglik,
                      result.converged & finite & (n_studies > 0), n_studies, structure)


def univariate(
    yi: jax.Array, vi: jax.Array, *, method: str = "reml", included: jax.Array | None = None,
) -> MetaResult:
    """The univariate random-effects meta-analysis (metafor's ``rma(yi, vi)``).

    Args:
        yi: f[k] the estimates.
        vi: f[k] their sampling variances.
        method: ``"reml"``, ``"ml"`` or ``"mm"`` (DerSimonian-Laird), static.
        included: bool[k] the studies to use (None: all).

    Returns:
        The d = 1 :class:`MetaResult`: estimate f[1], psi f[1, 1] = ``tau^2``, ...
    """
    xp = jnp if _traced(yi, vi, included) else np  # eager jnp would compile per exact k
    yi = xp.asarray(yi)
    return meta_analysis(yi[:, None], xp.asarray(vi, yi.dtype)[:, None, None], method=method,
                         included=included)


# ---------------------------------------------------------------------------------------------
# draws


def draw_parameters(key: jax.Array, result: MetaResult) -> tuple[jax.Array, jax.Array]:
    """Draw ``(mu*, Psi*)`` from the fit's approximate posterior.

    ``mu* ~ N(estimate, covariance)``. For REML / ML the Cholesky elements are drawn from
    ``N(psi_par, psi_par_cov)`` (fixed elements stay zero) and ``Psi* = L L'``; where
    ``psi_par_cov`` is all zero (``"mm"``, or nothing free) ``Psi*`` is ``psi``. Both normal
    draws go through an eigenvalue-floored square root, so singular covariances work.

    Args:
        key: a PRNG key.
        result: the :class:`MetaResult`.

    Returns:
        ``mu*: f[d]`` and ``Psi*: f[d, d]``.
    """
    d = result.estimate.shape[0]
    key_mu, key_psi = jax.random.split(key)
    z_mu = jax.random.normal(key_mu, (d,), result.estimate.dtype)
    mu = result.estimate + psd_sqrt(result.covariance) @ z_mu
    z_par = jax.random.normal(key_psi, result.psi_par.shape, result.psi_par.dtype)
    par = (result.psi_par + psd_sqrt(result.psi_par_cov) @ z_par) * _par_mask(result.structure)
    low = _unpack(par, d)
    known = jnp.all(result.psi_par_cov == 0.0)
    return mu, jnp.where(known, result.psi, low @ low.T)


def draw_study_effects(
    key: jax.Array, mu: jax.Array, psi: jax.Array, estimates: jax.Array,
    covariances: jax.Array, fitted: jax.Array,
) -> jax.Array:
    """Draw each study's true effect given ``mu`` and ``Psi``.

    For a fitted study, the posterior ``N(m_k, S_k)`` from the prior ``N(mu, Psi)`` and the
    estimate ``theta_k ~ N(true_k, V_k)``, in the forms that hold for singular Psi:
    ``G = Psi (Psi + V_k)^-1``, ``m_k = mu + G (theta_k - mu)``, ``S_k = Psi - G Psi`` (Psi = 0
    gives ``mu`` exactly). For an unfitted study (systematically missing), a draw from
    ``N(mu, Psi)``. Square roots are eigenvalue-floored, never a failing Cholesky.

    Args:
        key: a PRNG key.
        mu: f[d] the mean.
        psi: f[d, d] the between-study covariance.
        estimates: f[k, d] the estimates ``theta_k`` (garbage where not fitted).
        covariances: f[k, d, d] their covariances ``V_k`` (garbage where not fitted).
        fitted: bool[k] the studies with an estimate.

    Returns:
        f[k, d] one draw per study.
    """
    k, d = estimates.shape
    fitted = jnp.asarray(fitted, bool)
    psi = _symmetrise(psi)
    y = jnp.where(fitted[:, None], estimates, mu)
    v = jnp.where(fitted[:, None, None], covariances, jnp.eye(d, dtype=psi.dtype))
    # G' = (Psi + V_k)^-1 Psi, both symmetric
    gain = jnp.swapaxes(spd_inverse(psi + v)[0] @ psi, 1, 2)
    mean = mu + jnp.einsum("kij,kj->ki", gain, y - mu)
    cov = psi - gain @ psi
    mean = jnp.where(fitted[:, None], mean, mu)
    cov = jnp.where(fitted[:, None, None], cov, psi)
    z = jax.random.normal(key, (k, d), psi.dtype)
    return mean + jnp.einsum("kij,kj->ki", psd_cholesky(cov), z)
