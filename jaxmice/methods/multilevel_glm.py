"""Building blocks of the multilevel methods for binary, categorical and count targets
(``2l.bin``, ``2l.polyreg``, ``2l.polr``, ``2l.pois``).

Each is a generalised linear mixed model with the design of :mod:`.multilevel` (fixed effects
``x`` with cluster means for codes 3 and 4; random intercept plus slopes for codes 2 and 4):

    g(E[y_i | b]) = x_i' beta + z_i' b_j(i),   b_j ~ N(0, Psi).

Every sampler reduces its step for ``(beta, b)`` to the Gaussian one of ``2l.pan``
(:func:`.multilevel.draw_effects`, fixed and random effects drawn jointly from one penalised
least-squares factor) with per-row weights and a working response:

- logit links (2l.bin, and each category of 2l.polyreg) by Pólya-Gamma augmentation (Polson,
  Scott and Windle 2013): given ``omega_i ~ PG(1, eta_i)`` the likelihood is Gaussian in
  ``eta`` with precision ``omega_i`` and response ``(y_i - 1/2) / omega_i``, so the Gibbs step
  is exact (:func:`logit_sweep`);
- the probit link with cut points (2l.polr) by latent normals (Albert and Chib 1993), the
  formulation of jomo and Blimp (:mod:`.l2_polr`);
- the log link (2l.pois) by a Metropolis-Hastings step whose proposal is that Gaussian at the
  iteratively reweighted least-squares working response (Gamerman 1997; :mod:`.l2_pois`).

A cluster's own observed rows inform its ``b_j`` (the PLS factor holds them); clusters with no
observed value draw ``b_j`` from N(0, Psi). So the draws are proper: beta, b and Psi are all
posterior draws, not a point fit (mice's 2l.bin draws every cluster's effect from the marginal,
mice issue 686).

Priors: Psi as the continuous methods' (:class:`.multilevel.CovariancePrior`, by default
uniform shrinkage), with ``s0_k`` the sampling variance of one cluster's estimate of effect k
on the link scale: ``mean_j(1 / n_j) / (info v_k)`` with ``info`` the Fisher information of
one row at the observed mean (``p (1 - p)`` for a logit, 1 for the latent probit, the mean
count for a log link). It is proper, so eleven random effects in fifteen studies (the
tutorial's IMPACT recipe, code 2 for every predictor) still give finite, stable draws. The
fixed effects have independent normal priors, sd ``prior_sd`` (logreg's 5) on the
standardised scale of each predictor and :data:`INTERCEPT_SD` for the intercept (logreg's),
which keep draws finite under separation inside and across clusters.

The variance parameters and effects are carried between visits (a warm start, as 2l.pan). The
chain starts where one iteratively reweighted least-squares step from the intercept-only fit
leads (:func:`working_start`): EM estimates of Psi for that working linear mixed model (2l.pan's
start) and the effects at their modes. Running sweeps before the first visit instead would
compile the whole sweep a second time, into the initialisation program.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxmice._src.numerics.linalg import cholesky, solve_lower, weighted_moments
from jaxmice._src.numerics.lmm import LmmStats, PlsSolution, solve_pls_factor
from jaxmice._src.numerics.random import polya_gamma
from jaxmice.methods.base import Target, VisitInputs
from jaxmice.methods.multilevel import (
    CovariancePrior,
    TwoLevelDesign,
    WithinScales,
    covariance_prior,
    draw_covariance,
    draw_effects,
    fitting_stats,
    linear_predictor,
    prior_scales,
    repeat_sweeps,
    start_covariance,
    two_level_design,
    within_scales,
)

#: prior sd of the intercept (the other fixed effects: :data:`PRIOR_SD` per predictor sd)
INTERCEPT_SD = 10.0


class EffectsState(NamedTuple):
    """What a GLMM sampler carries between visits.

    Attributes:
        psi: f[q, q] random-effects covariance.
        beta: f[F] fixed effects; b: f[J, q] random effects (the augmentation and the
            Metropolis step are conditional on them).
    """

    psi: jax.Array
    beta: jax.Array
    b: jax.Array


class GlmVisit(NamedTuple):
    """The fixed facts of one visit: design, fitting weights and priors.

    Attributes:
        design: the two-level design; w: f[n] 1 on the observed rows.
        precision: f[F] prior precisions of the fixed effects (0 for unused columns, which
            are inert already).
        psi_prior: Psi's prior; s0: f[q] the sampling variances it is built on.
    """

    design: TwoLevelDesign
    w: jax.Array
    precision: jax.Array
    psi_prior: CovariancePrior
    s0: jax.Array


def fixed_precision(design: TwoLevelDesign, w: jax.Array, prior_sd: float) -> jax.Array:
    """f[F] prior precisions: ``1 / INTERCEPT_SD^2`` for the intercept, ``v_k / prior_sd^2``
    for a column of variance ``v_k`` over the observed rows (sd ``prior_sd`` per standardised
    unit), 0 for unused columns."""
    _, var = weighted_moments(design.x, w)
    precision = jnp.where(var > 0, var, 1.0) / prior_sd**2
    return jnp.where(design.keep, precision.at[0].set(INTERCEPT_SD**-2.0), 0.0)


def with_prior(stats: LmmStats, precision: jax.Array) -> LmmStats:
    """Cross products with the fixed effects' normal prior added to ``X'WX``."""
    return stats._replace(xtx=stats.xtx + jnp.diag(precision))


def glm_visit(inputs: VisitInputs, target: Target, info: jax.Array, psi_prior: str,
              prior_sd: float) -> GlmVisit:
    """The design and priors at this visit.

    Args:
        info: f[] Fisher information of one row on the link scale at the observed mean
            (``p (1 - p)``, 1, the mean count): it turns the clusters' row counts into the
            sampling variances of their effects.
    """
    design = two_level_design(inputs, target)
    w = inputs.ry.astype(inputs.y.dtype)
    stats = fitting_stats(design, inputs.y, w)
    # within_scales' sampling variances are sigma2 mean_j(1 / n_j) / v_k: divide out sigma2
    scales = within_scales(stats, design.keep)
    s0 = scales.sampling / scales.sigma2 / jnp.maximum(info, 1e-6)
    _, unit = prior_scales(stats)
    unit = unit / jnp.maximum(unit[0], 1e-300) / jnp.maximum(info, 1e-6)  # 1 / (info v_k)
    prior = covariance_prior(psi_prior, scales._replace(sampling=s0), unit)
    return GlmVisit(design, w, fixed_precision(design, w, prior_sd), prior, s0)


def working_start(visit: GlmVisit, response: jax.Array, weight: jax.Array,
                  cluster: jax.Array, n_clusters: int) -> EffectsState:
    """The chain's start: Psi from EM for the linear mixed model with working response
    ``response: f[n]`` and precisions ``weight: f[n]`` (one IRLS step from the intercept-only
    fit; residual variance 1), then beta and b at their modes given that Psi."""
    stats = gaussian_stats(visit, response, weight)
    has_obs = jax.ops.segment_sum(weight, cluster, n_clusters) > 0
    scales = WithinScales(sigma2=jnp.ones((), weight.dtype), sampling=visit.s0)
    psi = start_covariance(visit.design, stats, scales, has_obs)
    sol = solve_pls_factor(cholesky(psi), stats)
    return EffectsState(psi=psi, beta=sol.beta, b=sol.u @ sol.lam.T)


def logit_start(visit: GlmVisit, success: jax.Array, weight: jax.Array, cluster: jax.Array,
                n_clusters: int) -> EffectsState:
    """:func:`working_start` of a logit model of ``success: f[n]`` (0/1) on the rows of weight
    ``weight: f[n]``: the working response at the intercept-only fit ``logit p``."""
    p = jnp.clip((weight @ success + 0.5) / (weight.sum() + 1.0), 1e-6, 1 - 1e-6)
    info = p * (1.0 - p)
    response = jnp.log(p) - jnp.log1p(-p) + (success - p) / info
    return working_start(visit, jnp.where(weight > 0, response, 0.0), weight * info, cluster,
                         n_clusters)


def gaussian_stats(visit: GlmVisit, response: jax.Array, weight: jax.Array) -> LmmStats:
    """Cross products of the Gaussian with precisions ``weight: f[n]`` and response
    ``response: f[n]`` (residual variance 1), the fixed effects' prior added."""
    return with_prior(fitting_stats(visit.design, response, weight), visit.precision)


def gaussian_step(key: jax.Array, state: EffectsState, visit: GlmVisit, response: jax.Array,
                  weight: jax.Array) -> EffectsState:
    """``(beta, b)`` jointly given Psi from the Gaussian with precisions ``weight: f[n]`` and
    response ``response: f[n]`` (residual variance 1, the fixed effects' prior added), then
    ``Psi | b``."""
    k_eff, k_psi = jax.random.split(key)
    stats = gaussian_stats(visit, response, weight)
    beta, b, _ = draw_effects(k_eff, cholesky(state.psi), stats)
    psi = draw_covariance(k_psi, state.psi, b, visit.psi_prior, visit.design.present)
    return EffectsState(psi=psi, beta=beta, b=b)


def logit_sweep(key: jax.Array, state: EffectsState, visit: GlmVisit, success: jax.Array,
                cluster: jax.Array, offset: jax.Array | float = 0.0) -> EffectsState:
    """One exact Gibbs sweep of the logistic mixed model ``logit P(success) = eta - offset``:
    ``omega | beta, b`` (Pólya-Gamma), then ``(beta, b) | omega, Psi`` and ``Psi | b``.

    Args:
        success: f[n] 0/1 outcomes (read on the observed rows only).
        offset: f[n] subtracted from the linear predictor (2l.polyreg's other categories).
    """
    k_omega, k_step = jax.random.split(key)
    eta = linear_predictor(visit.design, state.beta, state.b, cluster) - offset
    omega = jnp.maximum(polya_gamma(k_omega, eta), 1e-12) * visit.w
    kappa = (success - 0.5) * visit.w
    # eta - offset ~ N(kappa / omega, 1 / omega): the response for eta adds the offset back
    response = jnp.where(visit.w > 0, kappa / jnp.where(visit.w > 0, omega, 1.0) + offset, 0.0)
    return gaussian_step(k_step, state, visit, response, omega)


def effects_log_density(sol: PlsSolution, beta: jax.Array, b: jax.Array) -> jax.Array:
    """log density, up to a constant that depends on Psi only, of ``(beta, b)`` under the
    Gaussian that :func:`.multilevel.draw_effects` draws from for the solution ``sol``.

    ``draw_effects`` draws ``beta = beta_hat + L_x^-T z_beta`` and ``u = L_z^-T (cu - cx beta
    + z_u)``, ``b = u Lambda'``: the density is ``-|z|^2 / 2 + log|L_x| + log|L_z|``; the
    Jacobian of ``b = u Lambda'`` is the same for every solution with the same Lambda.
    """
    z_beta = sol.chol_x.T @ (beta - sol.beta)
    u = solve_lower(sol.lam, b.T).T  # b_j = Lambda u_j
    z_u = jnp.einsum("jba,jb->ja", sol.chol_z, u) - sol.cu + sol.cx @ beta
    return -0.5 * (z_beta @ z_beta + jnp.sum(z_u**2)) + 0.5 * (sol.log_det_x + sol.log_det_z)


def random_effects_log_prior(psi: jax.Array, b: jax.Array) -> jax.Array:
    """``sum_j log N(b_j; 0, Psi)`` up to a constant in Psi: ``-sum_j b_j' Psi^-1 b_j / 2``."""
    white = solve_lower(cholesky(psi), b.T)
    return -0.5 * jnp.sum(white**2)


def pls_solution(state: EffectsState, visit: GlmVisit, response: jax.Array,
                 weight: jax.Array) -> PlsSolution:
    """The penalised least-squares solution of the Gaussian with precisions ``weight`` and
    response ``response`` at Psi = ``state.psi`` (prior on beta included)."""
    return solve_pls_factor(cholesky(state.psi), gaussian_stats(visit, response, weight))


def repeat(sweep, key: jax.Array, state, count: int):
    """``count`` sweeps of ``sweep(key, state) -> state`` from ``state``
    (:func:`~jaxmice.methods.multilevel.repeat_sweeps`)."""
    return repeat_sweeps(sweep, key, state, count, state_of=lambda out: out)
