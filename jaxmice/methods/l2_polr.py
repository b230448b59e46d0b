"""``2l.polr``: ordinal probit mixed model imputation of an ordered categorical (beyond R mice,
which has no multilevel method for ordinal variables; jomo and Blimp use this formulation).

A latent ``y*_i = x_i' beta + z_i' b_j(i) + e_i``, ``e_i ~ N(0, 1)``, falls between cut points
``c_0 = 0 < c_1 < ... < c_{K-2}``: ``y_i = k`` where ``c_{k-1} < y*_i <= c_k`` (outer ones
infinite; the intercept is in beta, so the first cut point is 0). Design as 2l.pan. Each sweep:

1. the cut points by :data:`CUT_STEPS` random-walk Metropolis steps on the logs of their gaps,
   with the latent values integrated out (Cowles 1996; drawing them given the latent values,
   as Albert and Chib's Gibbs step does, barely moves them when clusters are large);
2. the latent values of the observed rows from their truncated normals;
3. ``(beta, b)`` jointly given the latent values (2l.pan's step with residual variance 1),
   then Psi.

The log gaps have N(0, :data:`GAP_PRIOR_SD`^2) priors, so a level observed in no row still
gives finite draws. The state (Psi, beta, b, cut points) is carried between visits (a warm
start), from :func:`.multilevel_glm.working_start` with the latent values' conditional means
at the intercept-only fit as working response. A binary target is
the probit mixed model (no cut points to draw).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr, ndtri

from jaxmice.methods.base import (
    Draw,
    Imputer,
    MethodInfo,
    Target,
    VisitInputs,
    at_least_one,
    draw_category,
    observed_levels,
)
from jaxmice.methods.l2_polyreg import category_shares
from jaxmice.methods.logreg import PRIOR_SD
from jaxmice.methods.multilevel import (
    MULTILEVEL_CODES,
    PSI_PRIOR,
    SWEEPS,
    check_psi_prior,
    finite,
    linear_predictor,
    random_effect_facts,
)
from jaxmice.methods.multilevel_glm import (
    EffectsState,
    GlmVisit,
    gaussian_step,
    glm_visit,
    repeat,
    working_start,
)

#: Metropolis steps for the cut points per sweep
CUT_STEPS = 4
#: prior sd of the log gaps between cut points (gaps of 1 latent sd a priori, e^{+-4} wide)
GAP_PRIOR_SD = 2.0
#: proposal sd of a log gap with n rows in the level between its cut points: this / sqrt(n)
GAP_STEP = 2.0


class OrdinalState(NamedTuple):
    """2l.polr's state: the effects (:class:`.multilevel_glm.EffectsState`) and ``log_gaps:
    f[K-2]``, the logs of ``c_k - c_{k-1}``."""

    effects: EffectsState
    log_gaps: jax.Array


def cut_points(log_gaps: jax.Array) -> jax.Array:
    """f[K+1] all cut points, ``-inf, 0, 0 + gap_1, ..., +inf``."""
    inner = jnp.concatenate([jnp.zeros(1, log_gaps.dtype), jnp.cumsum(jnp.exp(log_gaps))])
    inf = jnp.full(1, jnp.inf, log_gaps.dtype)
    return jnp.concatenate([-inf, inner, inf])


def log_interval(lower: jax.Array, upper: jax.Array) -> jax.Array:
    """log(Phi(upper) - Phi(lower)) for lower < upper, accurate in both tails."""
    flip = lower > 0  # both in the upper tail: Phi(-lower) - Phi(-upper)
    high = jnp.where(flip, log_ndtr(-lower), log_ndtr(upper))
    low = jnp.where(flip, log_ndtr(-upper), log_ndtr(lower))
    gap = jnp.minimum(low - high, 0.0)
    return high + jnp.where(gap > -0.693, jnp.log(-jnp.expm1(gap)), jnp.log1p(-jnp.exp(gap)))


def ordinal_log_likelihood(log_gaps: jax.Array, eta: jax.Array, y: jax.Array,
                           w: jax.Array) -> jax.Array:
    """f[] the observed rows' log-likelihood with the latent values integrated out."""
    cuts = cut_points(log_gaps)
    level = y.astype(jnp.int32)
    return jnp.sum(w * log_interval(cuts[level] - eta, cuts[level + 1] - eta))


def draw_cut_points(key: jax.Array, log_gaps: jax.Array, eta: jax.Array, y: jax.Array,
                    w: jax.Array, counts: jax.Array) -> jax.Array:
    """:data:`CUT_STEPS` random-walk Metropolis steps for ``log_gaps: f[K-2]`` given the
    linear predictor (``counts: f[K]`` observed rows per level set the step sizes)."""
    step = GAP_STEP / jnp.sqrt(1.0 + counts[1:-1])

    def log_post(gaps):
        return ordinal_log_likelihood(gaps, eta, y, w) - 0.5 * jnp.sum(
            (gaps / GAP_PRIOR_SD) ** 2)

    def one(carry, k):
        gaps, current = carry
        k_prop, k_acc = jax.random.split(k)
        proposal = gaps + step * jax.random.normal(k_prop, gaps.shape, gaps.dtype)
        value = log_post(proposal)
        accept = jnp.log(jax.random.uniform(k_acc, (), gaps.dtype)) < value - current
        accept = accept & jnp.isfinite(value)
        return (jnp.where(accept, proposal, gaps), jnp.where(accept, value, current)), None

    keys = jax.random.split(key, CUT_STEPS)
    return jax.lax.scan(one, (log_gaps, log_post(log_gaps)), keys)[0][0]


def _log_density(x: jax.Array) -> jax.Array:
    """log of the standard normal density, -inf at infinite ``x``."""
    return -0.5 * x**2 - 0.9189385332046727


def draw_latent(key: jax.Array, eta: jax.Array, cuts: jax.Array, y: jax.Array) -> jax.Array:
    """Latent values ``N(eta, 1)`` truncated to their level's interval: f[n] (by the inverse
    cdf on the side of the nearer tail, so far tails stay finite)."""
    level = y.astype(jnp.int32)
    lower, upper = cuts[level] - eta, cuts[level + 1] - eta
    u = jax.random.uniform(key, eta.shape, eta.dtype)
    flip = lower > 0  # draw -e from the mirrored interval, whose cdf values are not near 1
    a = jnp.where(flip, -upper, lower)
    b = jnp.where(flip, -lower, upper)
    p_a, p_b = jnp.exp(log_ndtr(a)), jnp.exp(log_ndtr(b))
    e = ndtri(jnp.clip(p_a + u * (p_b - p_a), 1e-300, 1.0 - 1e-16))
    e = jnp.clip(e, a, b)
    return eta + jnp.where(flip, -e, e)


def make(target: Target, *, sweeps: int = SWEEPS, psi_prior: str = PSI_PRIOR,
         prior_sd: float = PRIOR_SD) -> Imputer:
    """Bind ``2l.polr`` to an ordered (or binary) target with ``target.n_levels`` levels."""
    sweeps = at_least_one(sweeps, "sweeps", "2l.polr", target)
    psi_prior = check_psi_prior(psi_prior, target)
    prior_sd = float(prior_sd)
    n_levels = target.n_levels

    def visit(inputs: VisitInputs) -> tuple[GlmVisit, jax.Array]:
        w = inputs.ry.astype(inputs.y.dtype)
        counts = w @ jax.nn.one_hot(inputs.y.astype(jnp.int32), n_levels, dtype=w.dtype)
        return glm_visit(inputs, target, jnp.asarray(1.0, w.dtype), psi_prior,
                         prior_sd), counts

    def sweep(key: jax.Array, state: OrdinalState, inputs: VisitInputs, facts: GlmVisit,
              counts: jax.Array) -> OrdinalState:
        k_cut, k_latent, k_step = jax.random.split(key, 3)
        effects = state.effects
        eta = linear_predictor(facts.design, effects.beta, effects.b, inputs.cluster)
        log_gaps = state.log_gaps
        if n_levels > 2:
            log_gaps = draw_cut_points(k_cut, log_gaps, eta, inputs.y, facts.w, counts)
        latent = draw_latent(k_latent, eta, cut_points(log_gaps), inputs.y)
        latent = jnp.where(facts.w > 0, latent, 0.0)
        return OrdinalState(gaussian_step(k_step, effects, facts, latent, facts.w), log_gaps)

    def init(inputs: VisitInputs) -> OrdinalState:
        facts, counts = visit(inputs)
        shares = category_shares(inputs, n_levels)
        # probit cut points at the observed cumulative shares, shifted so the first is 0
        cum = ndtri(jnp.clip(jnp.cumsum(shares)[:-1], 1e-6, 1 - 1e-6))
        log_gaps = jnp.log(jnp.maximum(jnp.diff(cum), 1e-3))
        # latent values at their conditional means given the intercept-only fit eta = -cum_0
        cuts = cut_points(log_gaps) + cum[0]
        level = inputs.y.astype(jnp.int32)
        lower, upper = cuts[level], cuts[level + 1]
        log_mass = log_interval(lower, upper)
        density = jnp.exp(_log_density(lower) - log_mass) - jnp.exp(_log_density(upper)
                                                                   - log_mass)
        latent = jnp.where(facts.w > 0, -cum[0] + density, 0.0)
        effects = working_start(facts, latent, facts.w, inputs.cluster, target.n_clusters)
        return OrdinalState(effects, log_gaps)

    def draw(key: jax.Array, state: OrdinalState, inputs: VisitInputs) -> Draw:
        k_gibbs, k_y = jax.random.split(key)
        facts, counts = visit(inputs)
        new = repeat(lambda k, s: sweep(k, s, inputs, facts, counts), k_gibbs, state, sweeps)
        effects = new.effects
        eta = linear_predictor(facts.design, effects.beta, effects.b, inputs.cluster)
        latent = eta + jax.random.normal(k_y, eta.shape, eta.dtype)
        cuts = cut_points(new.log_gaps)
        values = jnp.sum(latent[:, None] > cuts[None, 1:-1], axis=1)
        # a level no observed row has (an unused category; its gap left to the prior) is
        # never drawn: the others' probabilities, renormalised
        seen = observed_levels(inputs, n_levels)
        log_probs = log_interval(cuts[None, :-1] - eta[:, None], cuts[None, 1:] - eta[:, None])
        masked = draw_category(jax.random.fold_in(k_y, 1), log_probs, seen)
        values = jnp.where(seen.all(), values, masked).astype(inputs.y.dtype)
        ok = finite(effects.beta, effects.b, effects.psi, new.log_gaps) & inputs.ry.any()
        return Draw(values=values, state=new, ok=ok)

    return Imputer(init=init, draw=draw)


METHOD = MethodInfo(
    unused_levels=True,
    name="2l.polr", kinds=frozenset({"binary", "ordinal"}), make=make, needs_cluster=True,
    allowed_codes=MULTILEVEL_CODES, design_facts=random_effect_facts,
    description="ordinal probit mixed model, Gibbs sampler (latent normals)",
)
