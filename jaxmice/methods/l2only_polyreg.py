"""``2lonly.polyreg``: a cluster-level categorical variable by multinomial logistic regression
on the clusters (miceadds' ``2lonly.function`` with ``polyreg``).

Each cluster is one row: ``polyreg`` on the cluster means of the predictors (codes 2-4 read as
1), fitted on the clusters with an observed value. A cluster without one draws a level and
writes it to all its rows, so the column stays constant within clusters and keeps its levels
and dtype (mice's ``2lonly.pmm`` on factors gives invalid levels, mice issue 555). Clusters
with an observed value keep it. See :mod:`.cluster_level`.
"""

from __future__ import annotations

from jaxmice.methods import polyreg
from jaxmice.methods.base import Imputer, MethodInfo, Target
from jaxmice.methods.cluster_level import CLUSTER_LEVEL_CODES, cluster_level
from jaxmice.methods.logreg import PRIOR_SD


def make(target: Target, *, prior_sd: float = PRIOR_SD) -> Imputer:
    """Bind ``2lonly.polyreg`` to a categorical target."""
    return cluster_level(polyreg.make(target, prior_sd=prior_sd), target.n_clusters)


METHOD = MethodInfo(
    unused_levels=True,
    name="2lonly.polyreg", kinds=frozenset({"binary", "nominal", "ordinal"}), make=make,
    needs_cluster=True, allowed_codes=CLUSTER_LEVEL_CODES, level="cluster",
    description="cluster-level categorical: multinomial logistic regression on clusters",
)
