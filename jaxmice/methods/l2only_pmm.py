"""``2lonly.pmm``: predictive mean matching at cluster level (mice's ``2lonly.pmm``).

Each cluster is one row: ``pmm`` on the cluster means of the predictors (over all the
cluster's rows; codes 2-4 are read as 1), with the clusters that have an observed value as
donors. A cluster without an observed value takes a donor cluster's value in all its rows, so
only values observed in other clusters are imputed. Clusters with an observed value keep it.
See :mod:`.cluster_level`.
"""

from __future__ import annotations

from jaxmice.methods import pmm
from jaxmice.methods.base import Imputer, MethodInfo, Target
from jaxmice.methods.cluster_level import CLUSTER_LEVEL_CODES, cluster_level
from jaxmice.methods.norm import RIDGE


def make(target: Target, *, donors: int = pmm.DONORS, ridge: float = RIDGE) -> Imputer:
    """Bind ``2lonly.pmm`` to a target (continuous, binary or ordinal)."""
    return cluster_level(pmm.make(target, donors=donors, ridge=ridge), target.n_clusters)


METHOD = MethodInfo(
    unused_levels=True,
    name="2lonly.pmm", kinds=frozenset({"continuous", "binary", "ordinal", "count"}), make=make,
    needs_cluster=True, allowed_codes=CLUSTER_LEVEL_CODES, level="cluster",
    description="cluster-level variable: predictive mean matching on cluster means",
)
