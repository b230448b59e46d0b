"""Building blocks of the cluster-level (``2lonly.*``) methods, as in R's mice/miceadds.

A cluster-level variable is constant within each cluster (a school's teacher experience). It
is imputed once per cluster, from the clusters' aggregates, then copied to every row of the
cluster:

* :func:`to_clusters` turns a visit's row-level :class:`~.base.VisitInputs` into cluster-level
  ones with one row per cluster: ``y`` the cluster's value (the mean of its observed rows),
  ``ry`` whether the cluster has an observed value, ``wy`` whether it has rows to impute, ``x``
  the cluster means of the design columns over *all* the cluster's rows (current completed
  predictors; the intercept stays 1).
* a single-level method (``norm``, ``pmm``, ...) draws on those inputs;
* :func:`to_rows` copies each cluster's value back to its rows.

Only clusters with no observed value receive a draw: a cluster with an observed value keeps it
in all its rows, so the imputed variable stays constant within clusters (miceadds imputes the
clusters without observed values only, too).

Predictor codes 2, 3 and 4 act as 1 here: at cluster level there is no within-cluster slope,
and a predictor's cluster mean is the cluster mean itself.

Everything is segment sums over the rows' cluster codes: fixed shapes (``n_clusters`` rows,
static), no Python loop over rows or clusters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmice._src.numerics.linalg import cross_products, select_predictors
from jaxmice.methods.base import Draw, Imputer, VisitInputs

#: predictor codes the cluster-level methods accept (2-4 are read as 1)
CLUSTER_LEVEL_CODES = frozenset({0, 1, 2, 3, 4})


def to_clusters(inputs: VisitInputs, n_clusters: int) -> VisitInputs:
    """The cluster-level inputs of a visit (see the module docstring): J = ``n_clusters`` rows.

    ``y`` is exactly the common value when a cluster's observed values are equal (the mean is
    taken as the largest observed value plus the mean deviation from it, which is then 0);
    clusters without an observed value get ``y = 0`` and ``ry = False``. ``keep`` is the
    row-level selection less the columns whose cluster means are constant or collinear over
    the observed clusters (e.g. a group-mean-centred predictor), which would make the
    cluster-level fit singular. ``gram`` is recomputed over the observed clusters and
    ``cluster`` is ``arange(J)``.
    """
    cluster, dtype = inputs.cluster, inputs.x.dtype

    def per_cluster(values: jax.Array) -> jax.Array:
        return jax.ops.segment_sum(values, cluster, n_clusters)

    rows = per_cluster(jnp.ones_like(inputs.y, dtype=dtype))
    n_obs = per_cluster(inputs.ry.astype(dtype))
    ry = n_obs > 0
    top = jax.ops.segment_max(jnp.where(inputs.ry, inputs.y, -jnp.inf), cluster, n_clusters)
    top = jnp.where(ry, top, 0.0)
    deviation = per_cluster(jnp.where(inputs.ry, inputs.y - top[cluster], 0.0))
    y = top + deviation / jnp.maximum(n_obs, 1.0)
    wy = per_cluster(inputs.wy.astype(jnp.int32)) > 0
    x = per_cluster(inputs.x) / jnp.maximum(rows, 1.0)[:, None]
    x = x.at[:, 0].set(1.0)
    gram = cross_products(x, ry.astype(dtype))
    keep = select_predictors(gram, inputs.keep).keep
    return VisitInputs(y=y, ry=ry, wy=wy, x=x, keep=keep, gram=gram, codes=inputs.codes,
                       cluster=jnp.arange(n_clusters, dtype=cluster.dtype),
                       present=rows > 0)  # the clusters padding the size class have no rows


def to_rows(values: jax.Array, inputs: VisitInputs) -> jax.Array:
    """Each row's cluster value: ``values: f[J]`` -> f[n]."""
    return values[inputs.cluster]


def cluster_level(imputer: Imputer, n_clusters: int) -> Imputer:
    """Run a single-level ``imputer`` on the cluster-level inputs of each visit.

    Clusters with an observed value keep it (only clusters without one take the draw); the
    result is copied to every row of its cluster. The draw is usable when the single-level
    draw is and at least one cluster is observed.
    """

    def init(inputs: VisitInputs):
        return imputer.init(to_clusters(inputs, n_clusters))

    def draw(key: jax.Array, state, inputs: VisitInputs) -> Draw:
        clusters = to_clusters(inputs, n_clusters)
        out = imputer.draw(key, state, clusters)
        values = jnp.where(clusters.ry, clusters.y, out.values)
        return Draw(values=to_rows(values, inputs), state=out.state,
                    ok=out.ok & clusters.ry.any())

    # a stateless method stays stateless (the sampler then builds no inputs for its init)
    return Imputer(init=None if imputer.init is None else init, draw=draw)
