"""``2l.norm``: linear mixed model with cluster-specific residual variances (Kasim and
Raudenbush 1998; mice's ``2l.norm``), imputed by Gibbs sampling.

The residual variance of cluster j is ``sigma_j^2 ~ IG(nu / 2, nu s^2 / 2)``: shrunk towards a
common ``s^2`` by a hierarchical prior whose scale ``s^2`` and degrees of freedom ``nu``
(uniform over a grid from 1 to 100) are drawn too. ``s^2 ~ Gamma(1/2, rate 1 / (2 s_y^2))``,
``s_y^2`` the observed variance of y: proper and unit-free, and weak whatever the scale, for
its rate is below one cluster's share ``nu / (2 sigma_j^2)`` of the posterior rate whenever
``sigma_j^2 < nu s_y^2``. Psi has the prior of ``2l.pan`` (:class:`.multilevel.CovariancePrior`,
option ``psi_prior``). Each sweep draws (beta, b) jointly given the variances (rows weighted
by ``1 / sigma_j^2``), then Psi, each ``sigma_j^2``, ``s^2`` and ``nu``. A cluster with no
observed value (systematically missing) gets its ``sigma_j^2`` from the population
distribution ``IG(nu / 2, nu s^2 / 2)`` and its b_j from N(0, Psi), so its imputations carry
the between-cluster spread of both. The chain starts where ``2l.pan``'s does and carries over
between visits (warm start); ``sweeps`` (default 1) sweeps per visit.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxmice._src.numerics.linalg import cholesky
from jaxmice._src.numerics.random import gamma, inverse_gamma
from jaxmice.methods.base import Draw, Imputer, MethodInfo, Target, VisitInputs, at_least_one
from jaxmice.methods.multilevel import (
    MULTILEVEL_CODES,
    PSI_PRIOR,
    SWEEPS,
    check_psi_prior,
    draw_covariance,
    draw_effects,
    finite,
    fitting_stats,
    linear_predictor,
    pan_init,
    random_effect_facts,
    repeat_sweeps,
    two_level_design,
    visit_priors,
)

# degrees of freedom of the residual variances' prior, drawn from this grid
DF_GRID = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0, 100.0)


class NormState(NamedTuple):
    """``psi: f[q, q]``, ``sigma2: f[J]`` per cluster, ``scale: f[]`` (s^2), ``df: f[]`` (nu)."""

    psi: jax.Array
    sigma2: jax.Array
    scale: jax.Array
    df: jax.Array


def draw_df(key: jax.Array, sigma2: jax.Array, scale: jax.Array, present: jax.Array
            ) -> jax.Array:
    """``nu`` from its grid, given the cluster variances ``sigma2: f[J]`` of the clusters
    ``present: bool[J]`` (the others pad the size class) and ``scale``."""
    nu = jnp.asarray(DF_GRID, sigma2.dtype)[:, None]
    half = 0.5 * nu
    terms = (half * jnp.log(half * scale) - jax.lax.lgamma(half)
             - (half + 1.0) * jnp.log(sigma2) - half * scale / sigma2)
    loglik = jnp.sum(jnp.where(present, terms, 0.0), axis=1)
    return jnp.asarray(DF_GRID, sigma2.dtype)[jax.random.categorical(key, loglik)]


def make(target: Target, *, sweeps: int = SWEEPS, psi_prior: str = PSI_PRIOR) -> Imputer:
    """Bind ``2l.norm`` to a continuous target."""
    sweeps = at_least_one(sweeps, "sweeps", "2l.norm", target)
    psi_prior = check_psi_prior(psi_prior, target)
    n_clusters = target.n_clusters

    def init(inputs: VisitInputs) -> NormState:
        start = pan_init(inputs, target, psi_prior)
        return NormState(psi=start.psi,
                         sigma2=jnp.full(n_clusters, start.sigma2), scale=start.sigma2,
                         df=jnp.asarray(4.0, start.sigma2.dtype))

    def sweep(key, state: NormState, design, y, w, cluster, prior, var_y):
        k_eff, k_psi, k_sig, k_scale, k_df = jax.random.split(key, 5)
        stats = fitting_stats(design, y, w / state.sigma2[cluster])
        beta, b, _ = draw_effects(k_eff, cholesky(state.psi), stats)
        psi = draw_covariance(k_psi, state.psi, b, prior, design.present)
        resid = (y - linear_predictor(design, beta, b, cluster)) * w
        rss = jax.ops.segment_sum(resid**2, cluster, n_clusters)
        count = jax.ops.segment_sum(w, cluster, n_clusters)
        nu, s2 = state.df, state.scale
        sigma2 = inverse_gamma(k_sig, 0.5 * (nu + count), 0.5 * (nu * s2 + rss))
        # only the data set's clusters inform the variances' common scale and df
        present = design.present
        scale = gamma(k_scale, 0.5 * (1.0 + nu * present.sum()), dtype=y.dtype) / (
            0.5 * (1.0 / var_y + nu * jnp.sum(jnp.where(present, 1.0 / sigma2, 0.0))))
        df = draw_df(k_df, sigma2, scale, present)
        return NormState(psi, sigma2, scale, df), beta, b

    def draw(key: jax.Array, state: NormState, inputs: VisitInputs) -> Draw:
        k_gibbs, k_noise = jax.random.split(key)
        design = two_level_design(inputs, target)
        y, w, cluster = inputs.y, inputs.ry.astype(inputs.y.dtype), inputs.cluster
        priors = visit_priors(fitting_stats(design, y, w), design, psi_prior)
        new, beta, b = repeat_sweeps(
            lambda k, current: sweep(k, current, design, y, w, cluster, priors.psi,
                                     priors.var_y), k_gibbs, state, sweeps)
        noise = jax.random.normal(k_noise, y.shape, y.dtype)
        values = linear_predictor(design, beta, b, cluster) + jnp.sqrt(new.sigma2[cluster]) * noise
        ok = finite(beta, b, new.psi, new.sigma2, new.scale) & inputs.ry.any()
        return Draw(values=values, state=new, ok=ok)

    return Imputer(init=init, draw=draw)


METHOD = MethodInfo(
    name="2l.norm", kinds=frozenset({"continuous"}), make=make, needs_cluster=True,
    allowed_codes=MULTILEVEL_CODES, design_facts=random_effect_facts,
    description="linear mixed model, cluster-specific residual variances, Gibbs sampler",
)
