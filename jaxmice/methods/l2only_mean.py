"""``2lonly.mean``: a cluster-level variable imputed by its cluster's observed mean (mice's
``2lonly.mean``).

The missing rows of a cluster take the mean of the cluster's observed values (which, for a
cluster-level variable, is the cluster's common value). A cluster with no observed value takes
the value of a cluster drawn at random among those with an observed value (``sample`` at
cluster level; mice's ``2lonly.mean`` leaves such clusters missing). Predictors are not used;
codes 2-4 are accepted and read as 1. See :mod:`.cluster_level`.
"""

from __future__ import annotations

from jaxmice.methods import sample
from jaxmice.methods.base import Imputer, MethodInfo, Target
from jaxmice.methods.cluster_level import CLUSTER_LEVEL_CODES, cluster_level


def make(target: Target) -> Imputer:
    """Bind ``2lonly.mean`` to a target (any kind: the mean of equal codes is that code)."""
    return cluster_level(sample.make(target), target.n_clusters)


METHOD = MethodInfo(
    unused_levels=True,
    name="2lonly.mean", kinds=frozenset({"continuous", "binary", "nominal", "ordinal"}),
    make=make, needs_cluster=True, allowed_codes=CLUSTER_LEVEL_CODES, level="cluster",
    description="cluster-level variable: the cluster's observed mean (random cluster if none)",
)
