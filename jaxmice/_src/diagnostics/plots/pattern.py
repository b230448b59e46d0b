"""Missingness patterns: ``md_pattern`` (mice's ``md.pattern``) and ``plot_pattern``."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from jaxmice._src.adapters import frames_in, frames_out
from jaxmice._src.diagnostics.plots.figure import (
    IMPUTED,
    OBSERVED,
    label,
    new_figure,
    set_category_ticks,
)


def _patterns(observed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct missingness patterns, as mice's ``md.pattern`` finds them.

    Args:
        observed: bool[n, p] observed cells.

    Returns:
        ``order`` i[p] the columns by number missing, ascending (ties in data order);
        ``nmis`` i[p] missing cells per column in that order; ``patterns`` bool[k, p] True
        where missing, in mice's order (the 0/1 missingness strings sorted, so the complete
        pattern comes first); ``counts`` i[k] rows per pattern.
    """
    missing = ~np.asarray(observed, dtype=bool)
    n, p = missing.shape
    nmis = missing.sum(axis=0)
    order = np.argsort(nmis, kind="stable")
    if n == 0:
        return order, nmis[order], np.zeros((0, p), dtype=bool), np.zeros(0, dtype=np.int64)
    # np.unique over rows sorts them lexicographically (False < True): mice's order(pat)
    patterns, counts = np.unique(missing[:, order], axis=0, return_counts=True)
    return order, nmis[order], patterns, counts.astype(np.int64)


def md_pattern(df: Any, order: str = "mice") -> Any:
    """Missing-data patterns, laid out as R's ``mice::md.pattern(df, plot = FALSE)``.

    One row per distinct pattern of missing cells: 1 = observed, 0 = missing; columns sorted by
    their number of missing cells, ascending (ties keep the data's order), as mice does. The
    row label is the number of rows with that pattern, and the last column (labelled ``""``)
    the number of variables the pattern misses. The bottom row (labelled ``""``) holds the
    missing cells per column, and their total in its last cell.

    Args:
        df: a DataFrame (any dtypes).
        order: ``"mice"`` (default; mice's order: the patterns' 0/1 missingness strings
            sorted, so the complete pattern comes first and patterns missing the
            most-observed columns last) or ``"frequency"`` (most frequent first, ties in
            mice's order).

    Returns:
        DataFrame[int]; ``pat.index[:-1]`` are the pattern counts, ``pat.iloc[-1]`` the
        missing counts per column.
    """
    if order not in ("mice", "frequency"):
        raise ValueError(f"order must be 'mice' or 'frequency', got {order!r}")
    names, observed = frames_in.missingness(df)
    if not names:
        raise ValueError("md_pattern needs at least one column")
    cols, nmis, patterns, counts = _patterns(observed)
    if order == "frequency":
        keep = np.argsort(-counts, kind="stable")
        patterns, counts = patterns[keep], counts[keep]
    k, p = patterns.shape
    table = np.zeros((k + 1, p + 1), dtype=np.int64)
    table[:k, :p] = ~patterns
    table[:k, p] = patterns.sum(axis=1)
    table[k, :p] = nmis
    table[k, p] = nmis.sum()
    rows = [int(c) for c in counts] + [""]
    return frames_out.labelled_matrix(table, rows, [names[j] for j in cols] + [""])


def plot_pattern(df: Any, npat: int | None = None, rotate: bool = False,
                 cluster: Hashable | None = None) -> Any:
    """The missingness patterns as tiles (R: ``md.pattern(df)``, ``ggmice::plot_pattern``).

    One row per pattern, most frequent at the top (ties in mice's order); blue = observed,
    red = missing. Columns are sorted by their number of missing cells, as
    :func:`md_pattern`. Left margin: rows with the pattern; right margin: variables it
    misses; top: column names; bottom: missing cells per column.

    Args:
        df: a DataFrame.
        npat: show the ``npat`` most frequent patterns; the title says how many patterns
            (and rows) are left out.
        rotate: rotate the column names by 90 degrees.
        cluster: a cluster column: adds a second panel, clusters x columns, shaded by the
            proportion missing in each cluster; columns missing in every row of some
            clusters of 2+ rows (systematically missing) are named under it, with the
            number of such clusters.

    Returns:
        matplotlib Figure: the pattern axes (and the cluster axes and its colour bar).
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    names, observed = frames_in.missingness(df)
    if not names:
        raise ValueError("plot_pattern needs at least one column")
    if npat is not None and (isinstance(npat, bool) or not isinstance(npat, (int, np.integer))
                             or npat < 1):
        raise ValueError(f"npat must be a positive integer or None, got {npat!r}")
    cols, nmis, patterns, counts = _patterns(observed)
    freq = np.argsort(-counts, kind="stable")
    patterns, counts = patterns[freq], counts[freq]
    total = len(counts)
    shown = total if npat is None else min(int(npat), total)
    col_names = [names[j] for j in cols]
    n, p = observed.shape

    groups = None
    if cluster is not None:
        codes, labels = frames_in.group_codes(df, cluster)
        groups = (codes, labels)
    width = 2.0 + 0.5 * p
    height = 2.2 + 0.28 * max(shown, 1)
    if groups is not None:
        height = max(height, 2.2 + 0.12 * min(len(groups[1]), 60))
    fig = new_figure(width * (2.25 if groups is not None else 1.0), height)
    axes = fig.subplots(1, 2 if groups is not None else 1, squeeze=False)[0]
    ax = axes[0]

    grid = (~patterns[:shown]).astype(float)  # 1 observed, 0 missing
    ax.imshow(grid, cmap=ListedColormap([IMPUTED, OBSERVED]), vmin=0, vmax=1, aspect="auto",
              interpolation="nearest")
    ax.set_xticks(np.arange(p + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(shown + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    ax.tick_params(which="major", length=0)
    ax.set_yticks(np.arange(shown), labels=[str(int(c)) for c in counts[:shown]])
    ax.set_ylabel("rows with the pattern")
    ax.set_xticks(np.arange(p), labels=[str(int(c)) for c in nmis])
    ax.set_xlabel(f"missing cells per column (total {int(nmis.sum())})")
    top = ax.secondary_xaxis("top")
    top.set_xticks(np.arange(p), labels=[label(c) for c in col_names])
    top.tick_params(length=0, labelrotation=90 if rotate else 0)
    right = ax.secondary_yaxis("right")
    right.set_yticks(np.arange(shown), labels=[str(int(k)) for k in patterns[:shown].sum(1)])
    right.tick_params(length=0)
    right.set_ylabel("missing columns")
    title = f"{total} missingness pattern{'s' if total != 1 else ''} in {n} rows"
    if shown < total:
        left_out = int(counts[shown:].sum())
        title += (f"\n{shown} most frequent shown; {total - shown} more "
                  f"({left_out} row{'s' if left_out != 1 else ''}) left out")
    ax.set_title(title, fontsize="medium")
    fig.legend(handles=[Patch(color=OBSERVED, label="observed"),
                        Patch(color=IMPUTED, label="missing")],
               loc="outside lower center", ncols=2, frameon=False)

    if groups is not None:
        _cluster_panel(fig, axes[1], observed[:, cols], col_names, groups, cluster, rotate)
    return fig


def _cluster_panel(fig: Any, ax: Any, observed: np.ndarray, col_names: list,
                   groups: tuple[np.ndarray, tuple], cluster: Hashable, rotate: bool) -> None:
    """Clusters x columns, shaded by the proportion missing."""
    codes, labels = groups
    n_groups = len(labels)
    sizes = np.bincount(codes, minlength=n_groups)
    missing = np.zeros((n_groups, observed.shape[1]))
    np.add.at(missing, codes, (~observed).astype(float))
    prop = missing / np.maximum(sizes, 1)[:, None]
    image = ax.imshow(prop, cmap="Reds", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="proportion missing")
    set_category_ticks(ax.xaxis, col_names, rotate=rotate)
    set_category_ticks(ax.yaxis, labels)
    ax.set_ylabel(label(cluster))
    ax.set_title(f"missing by {label(cluster)} ({n_groups} clusters)", fontsize="medium")
    full = (prop >= 1.0) & (sizes >= 2)[:, None] & ~(prop >= 1.0).all(axis=0)[None, :]
    systematic = [f"{label(col_names[j])} ({int(full[:, j].sum())})"
                  for j in np.flatnonzero(full.any(axis=0))]
    ax.set_xlabel("entirely missing in some clusters: " + ", ".join(systematic) if systematic
                  else "no column is missing in all rows of a cluster")
