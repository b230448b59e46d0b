"""The two-level binary bias study's data (jaxmice's 2l.bin beside R mice's, known truth).

Moved from ``benchmarks/generate.py``: only this study uses it. :func:`make_binary_two_level`
draws replication ``r`` of either scenario (``sporadic``: x missing at random within clusters;
``systematic``: x wholly missing in 3 clusters); ``write_bin2l_reps.py`` writes them as CSV
for ``r/mice_2lbin_reps.R``, ``jm_2lbin_reps.py`` imputes the same data sets in jaxmice and
``summarize_bin2l_reps.py`` scores both against :data:`BINARY_TWO_LEVEL_TRUTH`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

BINARY_TWO_LEVEL_TRUTH = {"intercept": -0.5, "slope": 0.8, "ri_variance": 1.0}
"""The parameters of ``glmer(x ~ y + (1 | g), binomial)`` in :func:`make_binary_two_level`."""

_LAYOUT_SEED = 12345  # cluster sizes and systematically missing clusters of make_binary_two_level
_SYSTEMATIC_CLUSTERS = 3


def binary_two_level_layout(n_clusters: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """The fixed design of :func:`make_binary_two_level`, the same for every seed.

    Args:
        n_clusters: Number of clusters (at least 4).

    Returns:
        ``(sizes, systematic)``: the cluster sizes (20 to 50, drawn from
        ``np.random.default_rng(12345)``) and the sorted ids of the 3 clusters in which
        ``x`` is wholly missing in the systematic scenario (drawn next from that stream).
    """
    if n_clusters <= _SYSTEMATIC_CLUSTERS:
        raise ValueError(f"n_clusters must be at least {_SYSTEMATIC_CLUSTERS + 1}")
    rng = np.random.default_rng(_LAYOUT_SEED)
    sizes = rng.integers(20, 51, n_clusters)
    systematic = np.sort(rng.choice(n_clusters, _SYSTEMATIC_CLUSTERS, replace=False))
    return sizes, systematic


def make_binary_two_level(
    seed: int, n_clusters: int = 30, systematic: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Make a small two-level data set with a binary outcome, complete and amputed.

    The cluster sizes (20 to 50) come from :func:`binary_two_level_layout`, so every seed
    gives the same clusters (``g = 0 .. n_clusters - 1``, consecutive rows). Then::

        y_ij = a_j + e_ij,                       a_j ~ N(0, 0.5),  e_ij ~ N(0, 1)
        x_ij ~ Bernoulli(sigmoid(-0.5 + 0.8 y_ij + b_j)),          b_j ~ N(0, 1)

    (0.5 and 1 the variances), so the analysis model ``glmer(x ~ y + (1 | g), binomial)``
    holds with intercept -0.5, slope 0.8 and random-intercept variance 1.0
    (:data:`BINARY_TWO_LEVEL_TRUTH`). In the amputed copy ``x`` is missing either
    sporadically, at random given ``y`` with probability ``sigmoid(-1 + 0.5 y)`` (about
    28%), or, with ``systematic``, wholly in the 3 clusters of
    :func:`binary_two_level_layout` (the same every seed) and nowhere else. The
    missingness draws use their own random stream (seeded by ``[seed, 4]``).

    Args:
        seed: Seed for the data and the missingness.
        n_clusters: Number of clusters (at least 4).
        systematic: Whether ``x`` is missing systematically (whole clusters) rather than
            sporadically.

    Returns:
        ``(complete, amputed)``: DataFrames with columns ``g`` (int), ``y`` (float) and
        ``x`` (``Int64`` 0/1; ``pd.NA`` where missing in ``amputed``).
    """
    sizes, dropped = binary_two_level_layout(n_clusters)
    g = np.repeat(np.arange(n_clusters, dtype=np.int64), sizes)
    rng = np.random.default_rng(seed)
    a_j = rng.normal(0.0, np.sqrt(0.5), n_clusters)
    b_j = rng.standard_normal(n_clusters)
    y = a_j[g] + rng.standard_normal(len(g))
    eta = (BINARY_TWO_LEVEL_TRUTH["intercept"] + BINARY_TWO_LEVEL_TRUTH["slope"] * y
           + b_j[g])
    x = (rng.random(len(g)) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)
    complete = pd.DataFrame({"g": g, "y": y, "x": pd.array(x, dtype="Int64")})
    if systematic:
        missing = np.isin(g, dropped)
    else:
        miss_rng = np.random.default_rng([seed, 4])
        missing = miss_rng.random(len(g)) < 1.0 / (1.0 + np.exp(-(-1.0 + 0.5 * y)))
    amputed = complete.copy()
    amputed.loc[missing, "x"] = pd.NA
    return complete, amputed


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a data set as CSV with empty fields for missing values (read as NA by R's
    ``read.csv``); the parent folder is created if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, na_rep="", float_format="%.10g")
