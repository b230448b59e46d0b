"""Cluster structure: a row -> cluster map (:class:`ClusterIndex`, what the methods read), and,
built only on request, padded ``[clusters, size]`` index arrays in size bands
(:func:`size_bands`).

The methods work on segment sums over ``row_cluster``; the padded bands are the alternative
shape the design card describes, kept as a tested function so that the two can be measured
against each other. Clusters of very different sizes are bucketed by size so that padding
stays bounded: clusters whose sizes fall in the same power-of-two band share one padded array
whose width is the largest size in that band. Padding is therefore below 2x per bucket,
whatever the imbalance (one cluster of 500,000 rows beside 5,000 clusters of 100 costs no more
than 2x, not 5,000x).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bucket:
    """Clusters of similar size, padded to a common width.

    Attributes:
        clusters: i[c] cluster codes held by this bucket.
        rows: i[c, s] row indices of each cluster's members, padded with 0.
        mask: bool[c, s] True where ``rows`` holds a real member.
    """

    clusters: np.ndarray
    rows: np.ndarray
    mask: np.ndarray


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
    """Group rows by cluster code (no padded arrays: see :func:`size_bands`).

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


def size_bands(index: ClusterIndex, band: float = 2.0) -> tuple[Bucket, ...]:
    """Padded ``[clusters, size]`` row indices, clusters bucketed by size.

    Costs an argsort over all rows: build it where a method pads clusters, not per call.

    Args:
        index: the clusters.
        band: clusters whose sizes differ by less than this factor may share a bucket.

    Returns:
        Buckets covering every non-empty cluster once; within a cluster, rows keep their
        order and real members come before the padding.
    """
    codes, sizes = index.row_cluster, index.sizes
    order = np.argsort(codes, kind="stable")  # rows grouped by cluster, original order within
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    band_of = np.floor(np.log(np.maximum(sizes, 1)) / np.log(band)).astype(np.int64)
    buckets = []
    for b in np.unique(band_of[sizes > 0]):
        members = np.flatnonzero((band_of == b) & (sizes > 0))
        width = int(sizes[members].max())
        offsets = np.arange(width)
        mask = offsets[None, :] < sizes[members, None]
        positions = np.where(mask, starts[members, None] + offsets[None, :], 0)
        rows = np.where(mask, order[positions], 0)
        buckets.append(Bucket(clusters=members, rows=rows, mask=mask))
    return tuple(buckets)


def padded_cells(buckets: tuple[Bucket, ...]) -> int:
    """Cells held by the padded arrays (real members plus padding)."""
    return int(sum(b.rows.size for b in buckets))


def padding_ratio(buckets: tuple[Bucket, ...], sizes: np.ndarray) -> float:
    """Padded cells / real cells (1.0 means no padding at all).

    Args:
        buckets: from :func:`size_bands`.
        sizes: i[G] rows per cluster.
    """
    return padded_cells(buckets) / max(int(np.sum(sizes)), 1)
