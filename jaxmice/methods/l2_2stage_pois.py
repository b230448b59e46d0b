"""``2l.2stage.pois``: two-stage imputation of a count (micemd's): a penalised Poisson
regression (log link) per cluster, pooled by meta-analysis, then ``y ~ Poisson(exp(x
beta_j*))``. See :mod:`.two_stage` (``meta_method`` defaults to ``"mm"``, micemd's
``method_est`` default).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmice.methods.base import Imputer, Target, VisitInputs
from jaxmice.methods.two_stage import (
    MAX_ETA,
    META_METHOD,
    ClusterDraw,
    linear_predictor,
    two_stage_imputer,
    two_stage_info,
)


def _poisson(key: jax.Array, inputs: VisitInputs, par: ClusterDraw
             ) -> tuple[jax.Array, jax.Array]:
    eta = linear_predictor(inputs, par.beta)
    rate = jnp.exp(jnp.minimum(eta, MAX_ETA))
    values = jax.random.poisson(key, rate, dtype=jnp.int32).astype(inputs.y.dtype)
    return values, jnp.isfinite(eta).all()


def make(target: Target, *, meta_method: str = META_METHOD) -> Imputer:
    """Bind ``2l.2stage.pois`` to a count target."""
    return two_stage_imputer(target, "2l.2stage.pois", "poisson", meta_method, _poisson)


METHOD = two_stage_info(
    name="2l.2stage.pois", kinds=frozenset({"count"}), make=make,
    description="two-stage: per-cluster Poisson models pooled by meta-analysis",
)
