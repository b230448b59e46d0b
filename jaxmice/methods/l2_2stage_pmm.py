"""``2l.2stage.pmm``: two-stage predictive mean matching of a continuous variable (micemd's):
the parameters are drawn as in ``2l.2stage.norm``; every row is predicted with its cluster's
*drawn* coefficients, donors and recipients alike (micemd's matching, mice's type 2: the
clusters left out of the meta-analysis have no estimate of their own to predict donors with),
and each missing row takes the observed value of one of its ``donors`` nearest donors (micemd's
``kpmm = 5``), drawn at random, from all clusters (micemd's default ``incluster = FALSE``).
See :mod:`.two_stage` (``meta_method`` defaults to ``"mm"``, micemd's ``method_est`` default).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmice.methods.base import Imputer, Target, VisitInputs, at_least_one
from jaxmice.methods.pmm import DONORS, match
from jaxmice.methods.two_stage import (
    META_METHOD,
    ClusterDraw,
    linear_predictor,
    two_stage_imputer,
    two_stage_info,
)


def make(target: Target, *, meta_method: str = META_METHOD, donors: int = DONORS) -> Imputer:
    """Bind ``2l.2stage.pmm`` to a continuous target."""
    donors = at_least_one(donors, "donors", "2l.2stage.pmm", target)

    def matched(key: jax.Array, inputs: VisitInputs, par: ClusterDraw
                ) -> tuple[jax.Array, jax.Array]:
        pred = linear_predictor(inputs, par.beta)
        rows = match(key, pred, inputs.ry, pred, donors)
        return inputs.y[rows], jnp.isfinite(pred).all() & inputs.ry.any()

    return two_stage_imputer(target, "2l.2stage.pmm", "gaussian", meta_method, matched)


METHOD = two_stage_info(
    name="2l.2stage.pmm", kinds=frozenset({"continuous"}), make=make,
    description="two-stage predictive mean matching on per-cluster fits",
)
