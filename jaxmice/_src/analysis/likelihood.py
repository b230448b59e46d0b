"""The likelihoods that the pooled likelihood-ratio tests compare.

- D3 (Meng and Rubin 1992): for each completed data set, the ML log-likelihood at its own
  estimates and at the parameters pooled over the data sets (as mitml's ``testModels(method =
  "D3")``); the per-data-set evaluations are one vmapped program over the batch.
- D4 (Chan and Meng 2019): the ML log-likelihood of each data set's own fit and of one fit to
  all data sets stacked, each data set's clusters its own, per data set (as mitml's
  ``testModels(method = "D4")``).

REML fits are refitted by ML first. Linear models only (``lm`` and ``lmer`` fits).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxmice._src.analysis.fitted import MixedModels
from jaxmice._src.analysis.mixed import fit_columns
from jaxmice._src.analysis.model_frame import ColumnData, model_frame
from jaxmice._src.core.expressions import format_number
from jaxmice._src.numerics.lmm import lmm_stats, loglik_at
from jaxmice._src.numerics.structure import ReStructure, build_structure, relative_factor


def _pooled_factor_theta(fits: MixedModels, structure: ReStructure, sigma2: float) -> jax.Array:
    """f[n_theta] the relative factor of each term's mean covariance matrix (over the fits),
    scaled by the pooled residual variance ``sigma2``."""
    theta = []
    for term in structure.terms:
        covs = [cov for i in range(len(fits))
                for _, t, cov in fits[i]._covariances() if t == term]
        chol = np.linalg.cholesky(np.mean(covs, axis=0)) / np.sqrt(sigma2)
        theta.extend(chol[r, c] for c in range(term.q) for r in range(c, term.q))
    return jnp.asarray(theta)


def d3_likelihoods(fits: MixedModels) -> tuple[np.ndarray, np.ndarray, int]:
    """Per data set: the ML log-likelihood at its own estimates and at the pooled parameters.

    The pooled parameters are, as mitml's, the mean fixed effects, the mean random-effect
    covariance matrices and the mean residual variance.

    Args:
        fits: batched fits of a linear model (``lm`` or ``lmer``) to m data sets.

    Returns:
        ``(own: f[m], pooled: f[m], n_parameters)``, the last counting the fixed effects, the
        covariance parameters and the residual variance.

    Raises:
        ValueError: the fits are not of a linear (gaussian) model.
    """
    fits = _ml_fits(fits, "D3")  # likelihood ratios need ML fits, as mitml refits
    formula, columns = fits.source
    frame = model_frame(formula, columns, drop_unused_levels=True)
    y, x = jnp.asarray(frame.y), jnp.asarray(frame.x)
    beta = jnp.asarray(fits.beta.mean(axis=0))
    n, p = fits.nobs, len(fits.fixed_names)
    if fits.structure is None:  # lm: sigma^2 = RSS / n (ML), as mitml
        rss = fits.sigma**2 * (n - p)
        sigma2 = np.mean(rss / n)
        own = -0.5 * n * (np.log(2 * np.pi * rss / n) + 1.0)
        resid = y - x @ beta
        pooled = -0.5 * (n * np.log(2 * np.pi * sigma2) + np.asarray(
            jnp.sum(resid**2, axis=1)) / sigma2)
        return own, pooled, p + 1
    structure, zval = build_structure(frame.random)
    re, shape = structure.device_arrays(), structure.shape
    stats = jax.vmap(lmm_stats, in_axes=(0, 0, 0, None, None, None))(
        y, x, jnp.asarray(zval), jnp.ones(n), re, shape)
    sigma2 = float(np.mean(fits.sigma**2))
    lam = relative_factor(_pooled_factor_theta(fits, structure, sigma2), re, shape)
    pooled = jax.vmap(lambda s: loglik_at(beta, lam, sigma2, s))(stats)
    return fits.loglik, np.asarray(pooled), p + shape.n_theta + 1


def _ml_fits(fits: MixedModels, test: str) -> MixedModels:
    """``fits`` refitted by ML where they were by REML; an error for other than linear models."""
    if fits.family != "gaussian":
        raise ValueError(f"{test} is available for linear (mixed) models; use D1 or D2 for "
                         f"{fits.family} models")
    return fits.refit(reml=False) if fits.reml else fits


def _ml_loglik(fits: MixedModels) -> np.ndarray:
    """f[B] the ML log-likelihood of each fit at its own estimates (an ML fit's)."""
    if fits.structure is None:  # lm: sigma^2 = RSS / n (ML), as R's logLik
        n, p = fits.nobs, len(fits.fixed_names)
        rss = fits.sigma**2 * (n - p)
        return -0.5 * n * (np.log(2 * np.pi * rss / n) + 1.0)
    return fits.loglik


def _n_parameters(fits: MixedModels) -> int:
    """Parameters of the model, as R's ``attr(logLik(fit), "df")``: the fixed effects, the
    covariance parameters and the residual variance."""
    n_theta = 0 if fits.structure is None else fits.structure.shape.n_theta
    return len(fits.fixed_names) + n_theta + 1


def stacked_columns(formula, columns: dict[str, ColumnData]) -> dict[str, ColumnData]:
    """The formula columns of B data sets (``values: f[B, n]``) as one data set of B x n rows
    (``f[1, B n]``), each data set's clusters its own (``imp1_3``, ``imp2_3``, ... as mitml
    relabels them)."""
    batch = max(col.values.shape[0] for col in columns.values())
    groups = {name for term in formula.random for name in term.group}
    out = {}
    for name, col in columns.items():
        values = np.broadcast_to(col.values, (batch, col.values.shape[-1]))
        if name not in groups:
            out[name] = ColumnData(values.reshape(1, -1), col.levels, col.ordered)
            continue
        if col.levels is None:
            labels, codes = np.unique(values, return_inverse=True)
            labels = [format_number(v) for v in labels.tolist()]
            codes = codes.reshape(values.shape)
        else:
            labels, codes = list(col.levels), values.astype(np.int64)
        codes = codes + len(labels) * np.arange(batch)[:, None]
        levels = tuple(f"imp{i + 1}_{label}" for i in range(batch) for label in labels)
        out[name] = ColumnData(codes.reshape(1, -1).astype(np.float64), levels)
    return out


def d4_likelihoods(fits: MixedModels) -> tuple[np.ndarray, float, int]:
    """Per data set: the ML log-likelihood of its own fit; the ML log-likelihood of the fit to
    the stacked data sets divided by their number; and the model's parameters.

    Args:
        fits: batched fits of a linear model (``lm`` or ``lmer``) to m data sets.

    Returns:
        ``(own: f[m], stacked, n_parameters)`` (:func:`_n_parameters`).

    Raises:
        ValueError: the fits are not of a linear (gaussian) model.
    """
    fits = _ml_fits(fits, "D4")
    formula, columns = fits.source
    m = len(fits)
    stacked = fit_columns(formula, stacked_columns(formula, columns), "gaussian", False,
                          random_required=fits.structure is not None)
    return _ml_loglik(fits), float(_ml_loglik(stacked)[0]) / m, _n_parameters(fits)
