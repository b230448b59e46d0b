"""Pairwise-complete Pearson correlations (R: ``cor(x, y, use = "pairwise.complete.obs")``),
vectorised: every sum is one matrix product over the rows.

Shared by ``quickpred`` (which reads a pair it cannot correlate as 0, as mice does) and
``plot_corr`` (which shows it as ``NA``).
"""

from __future__ import annotations

import numpy as np


def _column_sums(values: np.ndarray, observed: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Each column centred on its own observed mean (0 where missing), and its square:
    f[n, p] each (centring first keeps the pairwise sums accurate)."""
    count = np.maximum(observed.sum(axis=0), 1)
    means = np.where(observed, values, 0.0).sum(axis=0) / count
    centred = np.where(observed, values - means, 0.0)
    return centred, centred**2


def pairwise_correlations(values: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlations of the columns of ``values`` with those of ``other``, each pair
    over the rows where both are observed (NaN = missing).

    Args:
        values: f[n, p].
        other: f[n, r]; ``None``: ``values`` itself (the p x p correlation matrix).

    Returns:
        f[p, r] correlations in [-1, 1]; NaN where a pair has fewer than 2 rows in common or
        one of the two columns does not vary in them.
    """
    a = np.asarray(values, dtype=np.float64)
    b = a if other is None else np.asarray(other, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"values and other must be f[n, p] and f[n, r] with the same rows; "
                         f"got shapes {a.shape} and {b.shape}")
    obs_a, obs_b = ~np.isnan(a), ~np.isnan(b)
    oa, ob = obs_a.astype(np.float64), obs_b.astype(np.float64)
    xa, xa2 = _column_sums(a, obs_a)
    n = oa.T @ ob
    sa, saa = xa.T @ ob, xa2.T @ ob  # sa[i, j]: sum of column i where i and j are observed
    if other is None:
        xb, sb, sbb = xa, sa.T, saa.T
    else:
        xb, xb2 = _column_sums(b, obs_b)
        sb, sbb = oa.T @ xb, oa.T @ xb2
    sab = xa.T @ xb
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sab - sa * sb / n
        var_a = saa - sa**2 / n
        var_b = sbb - sb**2 / n
        r = cov / np.sqrt(var_a * var_b)
    bad = ((n < 2) | (var_a <= 1e-12 * np.maximum(np.abs(saa), 1.0))
           | (var_b <= 1e-12 * np.maximum(np.abs(sbb), 1.0)))
    r = np.clip(r, -1.0, 1.0)
    r[bad] = np.nan
    return r
