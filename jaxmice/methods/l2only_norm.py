"""``2lonly.norm``: Bayesian linear regression at cluster level (mice's ``2lonly.norm``).

Each cluster is one row: the variable's cluster value regressed on the cluster means of the
predictors (over all the cluster's rows; codes 2-4 are read as 1), fitted on the clusters with
an observed value. ``norm`` draws for the clusters without one; the draw is copied to all their
rows. Clusters with an observed value keep it. See :mod:`.cluster_level`.
"""

from __future__ import annotations

from jaxmice.methods import norm
from jaxmice.methods.base import Imputer, MethodInfo, Target
from jaxmice.methods.cluster_level import CLUSTER_LEVEL_CODES, cluster_level
from jaxmice.methods.norm import RIDGE


def make(target: Target, *, ridge: float = RIDGE) -> Imputer:
    """Bind ``2lonly.norm`` to a continuous target."""
    return cluster_level(norm.make(target, ridge=ridge), target.n_clusters)


METHOD = MethodInfo(
    name="2lonly.norm", kinds=frozenset({"continuous"}), make=make, needs_cluster=True,
    allowed_codes=CLUSTER_LEVEL_CODES, level="cluster",
    description="cluster-level variable: Bayesian linear regression on cluster means",
)
