"""``2l.polyreg``: multinomial logistic mixed model imputation of an unordered categorical
(beyond R mice, which has no multilevel method for nominal variables; mice issues 33, 87 and
536).

Baseline-category logits, level 0 the reference: ``log P(y = k) / P(y = 0) = x' beta_k +
z' b_jk`` for k = 1..K-1, each category with its own random effects ``b_jk ~ N(0, Psi_k)``
(design as 2l.pan: random slopes for codes 2 and 4, cluster means for 3 and 4). Each sweep
visits the categories in turn: given the others' linear predictors, category k's model is a
binary logit with offset ``log(1 + sum_{l != k} exp(eta_l))`` (Holmes and Held 2006), drawn by
2l.bin's exact Pólya-Gamma step (:func:`.multilevel_glm.logit_sweep`). State as 2l.bin, with
one (Psi, beta, b) per category, each started from the logit of its level against the
reference; Psi_k's prior has the information
``p_k (1 - p_k)`` of category k's share.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

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
    glm_visit,
    logit_start,
    logit_sweep,
    repeat,
)


def category_shares(inputs: VisitInputs, n_levels: int) -> jax.Array:
    """f[K] the observed share of each level, kept off 0 and 1."""
    w = inputs.ry.astype(inputs.y.dtype)
    onehot = jax.nn.one_hot(inputs.y.astype(jnp.int32), n_levels, dtype=w.dtype)
    return (w @ onehot + 0.5) / (w.sum() + 0.5 * n_levels)


def category_logits(visit: GlmVisit, state: EffectsState, cluster: jax.Array) -> jax.Array:
    """f[n, K] the logits of every level (0 for the reference) under ``state`` (leading axis
    K-1)."""
    eta = jax.vmap(lambda beta, b: linear_predictor(visit.design, beta, b, cluster),
                   out_axes=1)(state.beta, state.b)
    return jnp.concatenate([jnp.zeros_like(eta[:, :1]), eta], axis=1)


def make(target: Target, *, sweeps: int = SWEEPS, psi_prior: str = PSI_PRIOR,
         prior_sd: float = PRIOR_SD) -> Imputer:
    """Bind ``2l.polyreg`` to a categorical target with ``target.n_levels`` levels."""
    sweeps = at_least_one(sweeps, "sweeps", "2l.polyreg", target)
    psi_prior = check_psi_prior(psi_prior, target)
    prior_sd = float(prior_sd)
    n_levels = target.n_levels

    def visit(inputs: VisitInputs) -> tuple[GlmVisit, jax.Array]:
        # one visit at unit information; each category's Psi prior scales its rates by its own
        # information p_k (1 - p_k) (the sampling variances are 1 / info)
        shares = category_shares(inputs, n_levels)
        return glm_visit(inputs, target, jnp.asarray(1.0, shares.dtype), psi_prior,
                         prior_sd), shares

    def sweep(key: jax.Array, state: EffectsState, inputs: VisitInputs, facts: GlmVisit,
              shares: jax.Array) -> EffectsState:
        info = shares[1:] * (1.0 - shares[1:])

        def category(current: EffectsState, k: jax.Array):
            logits = category_logits(facts, current, inputs.cluster)
            others = jax.nn.logsumexp(jnp.where(jnp.arange(n_levels) == k + 1, -jnp.inf,
                                                logits), axis=1)
            own = jax.tree.map(lambda a: a[k], current)
            prior = facts.psi_prior._replace(rate=facts.psi_prior.rate * info[k])
            new = logit_sweep(jax.random.fold_in(key, k), own, facts._replace(
                psi_prior=prior, s0=facts.s0 / info[k]), (inputs.y == k + 1).astype(
                    inputs.y.dtype), inputs.cluster, others)
            return jax.tree.map(lambda a, v: a.at[k].set(v), current, new), None

        return jax.lax.scan(category, state, jnp.arange(n_levels - 1))[0]

    def init(inputs: VisitInputs) -> EffectsState:
        facts, shares = visit(inputs)

        def start(k: jax.Array) -> EffectsState:
            # level k against the reference, on the rows holding either
            pair = facts.w * ((inputs.y == 0) | (inputs.y == k))
            info = shares[k] * (1.0 - shares[k])
            return logit_start(facts._replace(s0=facts.s0 / info),
                               (inputs.y == k).astype(pair.dtype), pair, inputs.cluster,
                               target.n_clusters)

        return jax.lax.map(start, jnp.arange(1, n_levels))

    def draw(key: jax.Array, state: EffectsState, inputs: VisitInputs) -> Draw:
        k_gibbs, k_y = jax.random.split(key)
        facts, shares = visit(inputs)
        new = repeat(lambda k, s: sweep(k, s, inputs, facts, shares), k_gibbs, state, sweeps)
        logits = category_logits(facts, new, inputs.cluster)
        seen = observed_levels(inputs, n_levels)
        values = draw_category(k_y, logits, seen).astype(inputs.y.dtype)
        ok = finite(new.beta, new.b, new.psi) & inputs.ry.any()
        return Draw(values=values, state=new, ok=ok)

    return Imputer(init=init, draw=draw)


METHOD = MethodInfo(
    unused_levels=True,
    name="2l.polyreg", kinds=frozenset({"binary", "nominal", "ordinal"}), make=make,
    needs_cluster=True, allowed_codes=MULTILEVEL_CODES, design_facts=random_effect_facts,
    description="multinomial logistic mixed model, Gibbs sampler (Pólya-Gamma)",
)
