"""``2l.pan``: homoscedastic linear mixed model, imputed by Gibbs sampling (Schafer and Yucel
2002; mice's ``2l.pan``).

Random intercept plus random slopes for predictors coded 2 or 4, cluster means for codes 3
and 4. Each visit continues the Gibbs chain from the variance parameters the previous visit
left (a warm start) instead of running hundreds of cold-start iterations as R's pan does:
the chained-equations iterations themselves are the burn-in. ``sweeps`` (default 1) Gibbs
sweeps run per visit; each draws (beta, b) jointly, then Psi and sigma^2 (see
:mod:`.multilevel`). The chain starts from EM estimates of Psi, and Psi's prior is the
uniform-shrinkage prior (option ``psi_prior``; :class:`.multilevel.CovariancePrior`), not
pan's inverse-Wishart with scale var(y), which overstated small random-slope variances.
One sweep per visit suffices because the joint (beta, b) step removes the slow beta-b mixing
of the plain Gibbs sampler; the chains' R-hat on popmis is checked in the tests.
"""

from __future__ import annotations

import jax

from jaxmice.methods.base import Draw, Imputer, MethodInfo, Target, VisitInputs, at_least_one
from jaxmice.methods.multilevel import (
    MULTILEVEL_CODES,
    PSI_PRIOR,
    SWEEPS,
    PanState,
    check_psi_prior,
    finite,
    linear_predictor,
    pan_init,
    random_effect_facts,
    run_pan,
)


def make(target: Target, *, sweeps: int = SWEEPS, psi_prior: str = PSI_PRIOR) -> Imputer:
    """Bind ``2l.pan`` to a continuous target."""
    sweeps = at_least_one(sweeps, "sweeps", "2l.pan", target)
    psi_prior = check_psi_prior(psi_prior, target)

    def init(inputs: VisitInputs) -> PanState:
        return pan_init(inputs, target, psi_prior)

    def draw(key: jax.Array, state: PanState, inputs: VisitInputs) -> Draw:
        k_gibbs, k_noise = jax.random.split(key)
        design, out = run_pan(k_gibbs, state, inputs, target, sweeps, psi_prior)
        noise = jax.random.normal(k_noise, inputs.y.shape, inputs.y.dtype)
        values = (linear_predictor(design, out.beta, out.b, inputs.cluster)
                  + jax.numpy.sqrt(out.state.sigma2) * noise)
        ok = finite(out.beta, out.b, out.state.psi, out.state.sigma2) & inputs.ry.any()
        return Draw(values=values, state=out.state, ok=ok)

    return Imputer(init=init, draw=draw)


METHOD = MethodInfo(
    name="2l.pan", kinds=frozenset({"continuous"}), make=make, needs_cluster=True,
    allowed_codes=MULTILEVEL_CODES, design_facts=random_effect_facts,
    description="linear mixed model, homoscedastic, Gibbs sampler (pan)",
)
