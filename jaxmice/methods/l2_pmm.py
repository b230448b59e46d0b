"""``2l.pmm``: predictive mean matching on the multilevel linear predictor (miceadds'
``2l.pmm``), random effects included.

The linear mixed model of ``2l.pan`` is sampled as there (warm-started Gibbs, one sweep per
visit by default). Donors (observed rows) are predicted with the conditional posterior means
of (beta, b_j) given the variance parameters, recipients with the drawn (beta*, b_j*): the
multilevel analogue of pmm's type-1 matching. Each recipient takes the observed value of one
of its ``donors`` nearest donors, chosen at random, from any cluster; recipients in a cluster
with no observed value are predicted with b_j* from N(0, Psi*).
"""

from __future__ import annotations

import jax

from jaxmice.methods import multilevel as ml
from jaxmice.methods.base import Draw, Imputer, MethodInfo, Target, VisitInputs, at_least_one
from jaxmice.methods.pmm import DONORS, match


def make(target: Target, *, sweeps: int = ml.SWEEPS, donors: int = DONORS,
         psi_prior: str = ml.PSI_PRIOR) -> Imputer:
    """Bind ``2l.pmm`` to a continuous (or ordinal/binary code) target."""
    sweeps = at_least_one(sweeps, "sweeps", "2l.pmm", target)
    donors = at_least_one(donors, "donors", "2l.pmm", target)
    psi_prior = ml.check_psi_prior(psi_prior, target)

    def init(inputs: VisitInputs) -> ml.PanState:
        return ml.pan_init(inputs, target, psi_prior)

    def draw(key: jax.Array, state: ml.PanState, inputs: VisitInputs) -> Draw:
        k_gibbs, k_match = jax.random.split(key)
        design, out = ml.run_pan(k_gibbs, state, inputs, target, sweeps, psi_prior)
        b_mean = out.sol.u @ out.sol.lam.T
        donor_pred = ml.linear_predictor(design, out.sol.beta, b_mean, inputs.cluster)
        target_pred = ml.linear_predictor(design, out.beta, out.b, inputs.cluster)
        rows = match(k_match, donor_pred, inputs.ry, target_pred, donors)
        ok = ml.finite(out.beta, out.b, out.state.psi, out.state.sigma2) & inputs.ry.any()
        return Draw(values=inputs.y[rows], state=out.state, ok=ok)

    return Imputer(init=init, draw=draw)


METHOD = MethodInfo(
    unused_levels=True,
    name="2l.pmm", kinds=frozenset({"continuous", "ordinal", "binary", "count"}), make=make,
    needs_cluster=True, allowed_codes=ml.MULTILEVEL_CODES, design_facts=ml.random_effect_facts,
    description="predictive mean matching on a linear mixed model's predictions",
)
