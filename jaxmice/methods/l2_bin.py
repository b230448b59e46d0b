"""``2l.bin``: logistic mixed model imputation of a binary variable, by an exact Gibbs sampler
with Pólya-Gamma augmentation (mice's ``2l.bin`` fits glmer and draws every cluster's effect
from its marginal; here each cluster's own rows inform its effect).

Random intercept plus random slopes for predictors coded 2 or 4, cluster means for codes 3
and 4 (as 2l.pan). Each sweep draws the Pólya-Gamma precisions given the linear predictor,
then fixed and random effects jointly from the Gaussian they make (2l.pan's step), then Psi.
The state (Psi, beta, b) is carried between visits, so the chained-equations iterations are
the burn-in, from the start of :func:`.multilevel_glm.working_start`. Why this
sampler rather than a Laplace fit plus an approximate draw (R's 2l.bin), a probit formulation
or HMC: it is exact, needs no optimiser or tuning, reuses the collapsed (beta, b) step whose
mixing 2l.pan's tests show, and is loop-free, so it compiles small. See
:mod:`.multilevel_glm` for the priors.
"""

from __future__ import annotations

import jax

from jaxmice.methods.base import (
    Draw,
    Imputer,
    MethodInfo,
    Target,
    VisitInputs,
    at_least_one,
    draw_binary,
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
    glm_visit,
    logit_start,
    logit_sweep,
    repeat,
)


def observed_share(inputs: VisitInputs) -> jax.Array:
    """f[] the share of ones among the observed rows, kept off 0 and 1."""
    w = inputs.ry.astype(inputs.y.dtype)
    return (w @ inputs.y + 0.5) / (w.sum() + 1.0)


def make(target: Target, *, sweeps: int = SWEEPS, psi_prior: str = PSI_PRIOR,
         prior_sd: float = PRIOR_SD) -> Imputer:
    """Bind ``2l.bin`` to a binary target (codes 0/1)."""
    sweeps = at_least_one(sweeps, "sweeps", "2l.bin", target)
    psi_prior = check_psi_prior(psi_prior, target)
    prior_sd = float(prior_sd)

    def visit(inputs: VisitInputs):
        share = observed_share(inputs)
        return glm_visit(inputs, target, share * (1.0 - share), psi_prior, prior_sd), share

    def sweeps_from(key, state, inputs, facts, count):
        def sweep(k, current):
            return logit_sweep(k, current, facts, inputs.y, inputs.cluster)

        return repeat(sweep, key, state, count)

    def init(inputs: VisitInputs) -> EffectsState:
        facts, _ = visit(inputs)
        return logit_start(facts, inputs.y, facts.w, inputs.cluster, target.n_clusters)

    def draw(key: jax.Array, state: EffectsState, inputs: VisitInputs) -> Draw:
        k_gibbs, k_y = jax.random.split(key)
        facts, _ = visit(inputs)
        new = sweeps_from(k_gibbs, state, inputs, facts, sweeps)
        # delta: a sensitivity shift of the log odds
        eta = linear_predictor(facts.design, new.beta, new.b, inputs.cluster) + inputs.delta
        values = draw_binary(k_y, jax.nn.sigmoid(eta), observed_levels(inputs, 2)).astype(
            inputs.y.dtype)
        ok = finite(new.beta, new.b, new.psi) & inputs.ry.any()
        return Draw(values=values, state=new, ok=ok)

    return Imputer(init=init, draw=draw)


METHOD = MethodInfo(
    unused_levels=True,
    name="2l.bin", kinds=frozenset({"binary"}), make=make, needs_cluster=True,
    allowed_codes=MULTILEVEL_CODES, design_facts=random_effect_facts,
    description="logistic mixed model, Gibbs sampler (Pólya-Gamma)", delta=True,
)
