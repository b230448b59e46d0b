"""``2l.2stage.pois``: two-stage imputation of a count (micemd's): a penalised Poisson
regression (log link) per cluster, pooled by meta-analysis, then ``y ~ Poisson(exp(x
beta_j*))``. See :mod:`.two_stage` (``meta_method`` defaults to ``"mm"``, micemd's
``method_est`` default).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .base import Draw, Imputer, MethodInfo, Target, VisitInputs
from .two_stage import (
    ALLOWED_CODES,
    MAX_ETA,
    META_METHOD,
    check_meta_method,
    cluster_notes,
    draw_clusters,
    linear_predictor,
)


def make(target: Target, *, meta_method: str = META_METHOD) -> Imputer:
    """Bind ``2l.2stage.pois`` to a count target."""
    meta_method = check_meta_method(meta_method, "2l.2stage.pois", target)

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        k_par, k_y = jax.random.split(key)
        par = draw_clusters(k_par, inputs, target.n_clusters, "poisson", meta_method)
        eta = linear_predictor(inputs, par.beta)
        rate = jnp.exp(jnp.minimum(eta, MAX_ETA))
        values = jax.random.poisson(k_y, rate, dtype=jnp.int32).astype(inputs.y.dtype)
        return Draw(values=values, state=state, ok=par.ok & jnp.isfinite(eta).all(),
                    fallback=par.fallback)

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    name="2l.2stage.pois", kinds=frozenset({"count"}), make=make, needs_cluster=True,
    allowed_codes=ALLOWED_CODES, cluster_notes=cluster_notes,
    description="two-stage: per-cluster Poisson models pooled by meta-analysis",
)
