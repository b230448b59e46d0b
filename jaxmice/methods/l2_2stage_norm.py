"""``2l.2stage.norm``: two-stage imputation of a continuous variable (micemd's; Resche-Rigon &
White 2018): a linear model per cluster, pooled by meta-analysis, then ``y = x beta_j* +
N(0, sigma_j^2*)``. See :mod:`.two_stage`; ``meta_method`` defaults to ``"mm"`` (the method of
moments), micemd's ``method_est`` default.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmice.methods.base import Imputer, Target, VisitInputs
from jaxmice.methods.two_stage import (
    META_METHOD,
    ClusterDraw,
    linear_predictor,
    two_stage_imputer,
    two_stage_info,
)


def _normal(key: jax.Array, inputs: VisitInputs, par: ClusterDraw) -> tuple[jax.Array, jax.Array]:
    noise = jax.random.normal(key, inputs.y.shape, inputs.x.dtype)
    # no delta here: the sampler shifts a continuous target's draws itself
    values = linear_predictor(inputs, par.beta) + jnp.sqrt(par.sigma2[inputs.cluster]) * noise
    return values, jnp.isfinite(values).all()


def make(target: Target, *, meta_method: str = META_METHOD) -> Imputer:
    """Bind ``2l.2stage.norm`` to a continuous target."""
    return two_stage_imputer(target, "2l.2stage.norm", "gaussian", meta_method, _normal)


METHOD = two_stage_info(
    name="2l.2stage.norm", kinds=frozenset({"continuous"}), make=make,
    description="two-stage: per-cluster linear models pooled by meta-analysis",
)
