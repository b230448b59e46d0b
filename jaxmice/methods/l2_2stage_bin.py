"""``2l.2stage.bin``: two-stage imputation of a binary variable (micemd's): a penalised
logistic regression per cluster, pooled by meta-analysis, then ``y ~ Bernoulli(sigmoid(x
beta_j* + delta))``. See :mod:`.two_stage` (the penalty, exclusions; ``meta_method`` defaults
to ``"mm"``, micemd's ``method_est`` default).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmice.methods.base import Imputer, Target, VisitInputs, draw_binary, observed_levels
from jaxmice.methods.two_stage import (
    META_METHOD,
    ClusterDraw,
    linear_predictor,
    two_stage_imputer,
    two_stage_info,
)


def _bernoulli(key: jax.Array, inputs: VisitInputs, par: ClusterDraw
               ) -> tuple[jax.Array, jax.Array]:
    eta = linear_predictor(inputs, par.beta) + inputs.delta  # delta: shifts the log odds
    values = draw_binary(key, jax.nn.sigmoid(eta), observed_levels(inputs, 2))
    return values.astype(inputs.y.dtype), jnp.isfinite(eta).all()


def make(target: Target, *, meta_method: str = META_METHOD) -> Imputer:
    """Bind ``2l.2stage.bin`` to a binary target (codes 0/1)."""
    return two_stage_imputer(target, "2l.2stage.bin", "binomial", meta_method, _bernoulli)


METHOD = two_stage_info(
    name="2l.2stage.bin", kinds=frozenset({"binary"}), make=make, delta=True,
    unused_levels=True,
    description="two-stage: per-cluster logistic models pooled by meta-analysis",
)
