"""``2l.2stage.bin``: two-stage imputation of a binary variable (micemd's): a penalised
logistic regression per cluster, pooled by meta-analysis, then ``y ~ Bernoulli(sigmoid(x
beta_j* + delta))``. See :mod:`.two_stage` (the penalty, exclusions; ``meta_method`` defaults
to ``"mm"``, micemd's ``method_est`` default).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .base import Draw, Imputer, MethodInfo, Target, VisitInputs, draw_binary, observed_levels
from .two_stage import (
    ALLOWED_CODES,
    META_METHOD,
    check_meta_method,
    cluster_notes,
    draw_clusters,
    linear_predictor,
)


def make(target: Target, *, meta_method: str = META_METHOD) -> Imputer:
    """Bind ``2l.2stage.bin`` to a binary target (codes 0/1)."""
    meta_method = check_meta_method(meta_method, "2l.2stage.bin", target)

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        k_par, k_y = jax.random.split(key)
        par = draw_clusters(k_par, inputs, target.n_clusters, "binomial", meta_method)
        eta = linear_predictor(inputs, par.beta) + inputs.delta  # delta: shifts the log odds
        values = draw_binary(k_y, jax.nn.sigmoid(eta), observed_levels(inputs, 2)).astype(
            inputs.y.dtype)
        return Draw(values=values, state=state, ok=par.ok & jnp.isfinite(eta).all(),
                    fallback=par.fallback)

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    unused_levels=True,
    name="2l.2stage.bin", kinds=frozenset({"binary"}), make=make, needs_cluster=True,
    allowed_codes=ALLOWED_CODES, cluster_notes=cluster_notes, delta=True,
    description="two-stage: per-cluster logistic models pooled by meta-analysis",
)
