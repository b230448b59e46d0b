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

from .base import Draw, Imputer, MethodInfo, Target, VisitInputs, at_least_one
from .pmm import DONORS, match
from .two_stage import (
    ALLOWED_CODES,
    META_METHOD,
    check_meta_method,
    cluster_notes,
    draw_clusters,
    linear_predictor,
)


def make(target: Target, *, meta_method: str = META_METHOD, donors: int = DONORS) -> Imputer:
    """Bind ``2l.2stage.pmm`` to a continuous target."""
    meta_method = check_meta_method(meta_method, "2l.2stage.pmm", target)
    donors = at_least_one(donors, "donors", "2l.2stage.pmm", target)

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        k_par, k_match = jax.random.split(key)
        par = draw_clusters(k_par, inputs, target.n_clusters, "gaussian", meta_method)
        pred = linear_predictor(inputs, par.beta)
        rows = match(k_match, pred, inputs.ry, pred, donors)
        return Draw(values=inputs.y[rows], state=state,
                    ok=par.ok & jnp.isfinite(pred).all() & inputs.ry.any(),
                    fallback=par.fallback)

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    name="2l.2stage.pmm", kinds=frozenset({"continuous"}), make=make, needs_cluster=True,
    allowed_codes=ALLOWED_CODES, cluster_notes=cluster_notes,
    description="two-stage predictive mean matching on per-cluster fits",
)
