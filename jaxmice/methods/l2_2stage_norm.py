"""``2l.2stage.norm``: two-stage imputation of a continuous variable (micemd's; Resche-Rigon &
White 2018): a linear model per cluster, pooled by meta-analysis, then ``y = x beta_j* +
N(0, sigma_j^2*)``. See :mod:`.two_stage`; ``meta_method`` defaults to ``"mm"`` (the method of
moments), micemd's ``method_est`` default.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .base import Draw, Imputer, MethodInfo, Target, VisitInputs
from .two_stage import (
    ALLOWED_CODES,
    META_METHOD,
    check_meta_method,
    cluster_notes,
    draw_clusters,
    linear_predictor,
)


def make(target: Target, *, meta_method: str = META_METHOD) -> Imputer:
    """Bind ``2l.2stage.norm`` to a continuous target."""
    meta_method = check_meta_method(meta_method, "2l.2stage.norm", target)

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        k_par, k_noise = jax.random.split(key)
        par = draw_clusters(k_par, inputs, target.n_clusters, "gaussian", meta_method)
        noise = jax.random.normal(k_noise, inputs.y.shape, inputs.x.dtype)
        # no delta here: the sampler shifts a continuous target's draws itself
        values = linear_predictor(inputs, par.beta) + jnp.sqrt(par.sigma2[inputs.cluster]) * noise
        return Draw(values=values, state=state, ok=par.ok & jnp.isfinite(values).all(),
                    fallback=par.fallback)

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    name="2l.2stage.norm", kinds=frozenset({"continuous"}), make=make, needs_cluster=True,
    allowed_codes=ALLOWED_CODES, cluster_notes=cluster_notes,
    description="two-stage: per-cluster linear models pooled by meta-analysis",
)
