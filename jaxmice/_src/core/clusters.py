"""Cluster structure: a row -> cluster map (:class:`ClusterIndex`), what the methods read.

The methods reduce rows to clusters with segment sums over ``row_cluster``. The padded
``[clusters, size]`` layout of the design card (clusters padded in power-of-two size bands)
was measured against them at IPD scale (``benchmarks/bench_segments.py``, which keeps that
layout for the GPU comparison) and removed: on the CPU the segment sums are deterministic and
1.4-6x faster (1,000,000 rows in 200 studies: 12 ms against 61-74 ms for 8 columns). On a GPU,
where XLA's scatter-add uses atomics, jaxmice compiles its programs with XLA's deterministic
scatter (:func:`jaxmice._src.runtime.programs.compile_options`).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClusterIndex:
    """Rows grouped by a cluster variable.

    Attributes:
        name: the cluster column's label.
        labels: cluster labels; cluster code ``g`` means ``labels[g]``.
        row_cluster: i[n] cluster code of every row.
        sizes: i[G] number of rows in each cluster.
    """

    name: Hashable
    labels: tuple
    row_cluster: np.ndarray
    sizes: np.ndarray

    @property
    def n_clusters(self) -> int:
        """Number of clusters G."""
        return len(self.labels)


def build_cluster_index(name: Hashable, codes: np.ndarray, labels: tuple) -> ClusterIndex:
    """Group rows by cluster code.

    Args:
        name: the cluster column's label (for messages).
        codes: i[n] cluster code of each row, in ``0 .. len(labels) - 1``.
        labels: the cluster labels.

    Returns:
        The :class:`ClusterIndex`.
    """
    codes = np.asarray(codes, dtype=np.int64)
    sizes = np.bincount(codes, minlength=len(labels))
    return ClusterIndex(name=name, labels=tuple(labels), row_cluster=codes, sizes=sizes)
