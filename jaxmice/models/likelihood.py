"""The likelihoods that the pooled likelihood-ratio test (D3; Meng and Rubin 1992) compares.

For each completed data set: the ML log-likelihood at its own estimates and at the parameters
pooled over the data sets (as mitml's ``testModels(method = "D3")``). REML fits are refitted
by ML first. The per-data-set evaluations are one vmapped program over the batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .lmm import lmm_stats, loglik_at
from .mixed import MixedModels
from .model_frame import model_frame
from .structure import ReStructure, build_structure, relative_factor


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
    if fits.family != "gaussian":
        raise ValueError("D3 is available for linear (mixed) models; use D1 or D2 for "
                         f"{fits.family} models")
    if fits.reml:
        fits = fits.refit(reml=False)  # likelihood ratios need ML fits, as mitml refits
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
