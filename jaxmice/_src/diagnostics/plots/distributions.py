"""Observed vs imputed values: ``plot_density`` (R: ``densityplot(imp)``) and ``plot_strip``
(R: ``stripplot(imp)``)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from jaxmice._src.adapters import frames_in
from jaxmice._src.diagnostics.plots.figure import (
    IMPUTED,
    OBSERVED,
    label,
    new_figure,
    observed_imputed_legend,
    set_category_ticks,
)
from jaxmice._src.runtime.precision import in_float64
from jaxmice.methods import NO_METHOD

MAX_PANELS = 12
GRID_POINTS = 256


def bandwidth(x: np.ndarray) -> float:
    """Silverman's rule of thumb, exactly R's ``bw.nrd0`` (``density()``'s default)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n < 2:
        raise ValueError("need at least 2 values for a bandwidth")
    hi = float(np.std(x, ddof=1))
    q25, q75 = np.quantile(x, [0.25, 0.75])
    lo = min(hi, float(q75 - q25) / 1.34)
    if not lo > 0:
        lo = hi or abs(float(x[0])) or 1.0
    return 0.9 * lo * n ** -0.2


def kde(x: np.ndarray, grid: np.ndarray, bw: float) -> np.ndarray:
    """Gaussian kernel density of ``x`` on ``grid`` with bandwidth ``bw`` (exact sums, in
    chunks of rows so that memory stays bounded)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(grid.shape)
    for start in range(0, x.size, 4096):
        z = (grid[:, None] - x[None, start:start + 4096]) / bw
        out += np.exp(-0.5 * z * z).sum(axis=1)
    return out / (x.size * bw * np.sqrt(2 * np.pi))


def _cells(imp: Any, var: Hashable) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """One variable's column, its observed values f[n_obs] and rows, its imputed rows and
    their values f[m, n_imp]."""
    j = imp.schema.position(var)
    col = imp.schema.columns[j]
    imputed = imp.methods[j] != NO_METHOD
    imputed_rows = np.flatnonzero(imp.where[:, j]) if imputed else np.zeros(0, int)
    if imputed_rows.size == 0:
        raise ValueError(f"column {var!r} has no imputed values")
    observed_rows = np.flatnonzero(imp.observed[:, j])
    observed = np.asarray(imp.values[observed_rows, j], dtype=np.float64)
    imputed = np.asarray(imp.completed_arrays, np.float64)[:, imputed_rows, j]  # no eager jax
    return col, observed_rows, observed, (imputed_rows, imputed)


def _density_panel(ax: Any, col: Any, observed: np.ndarray, imputed: list[np.ndarray],
                   grid: np.ndarray | None, fallback_bw: float | None) -> None:
    """Observed (blue, thick) and imputed (red, thin, one per imputation) densities; bars of
    proportions per level for a categorical column."""
    if col.is_categorical:
        levels = len(col.levels)
        groups = [(observed, OBSERVED, 1.0)] + [(v, IMPUTED, 0.55) for v in imputed]
        width = 0.8 / len(groups)
        for g, (values, colour, alpha) in enumerate(groups):
            codes = np.round(values).astype(np.int64)
            share = (np.bincount(codes, minlength=levels)[:levels] / max(codes.size, 1))
            ax.bar(np.arange(levels) - 0.4 + (g + 0.5) * width, share, width=width,
                   color=colour, alpha=alpha, linewidth=0)
        set_category_ticks(ax.xaxis, col.levels)
        ax.set_ylabel("proportion")
        return
    for values, colour, lw in [(observed, OBSERVED, 2.0)] + [(v, IMPUTED, 0.8)
                                                            for v in imputed]:
        if values.size == 0:
            continue
        bw = bandwidth(values) if values.size >= 2 and np.ptp(values) > 0 else fallback_bw
        ax.plot(grid, kde(values, grid, bw), color=colour, linewidth=lw)
    ax.set_ylabel("density")


@in_float64
def plot_density(imp: Any, var: Hashable, cluster: Hashable | None = None,
                 max_panels: int = MAX_PANELS) -> Any:
    """Densities of the observed (blue, thick) and imputed values (red, thin: one line per
    imputation) of one variable, as R's ``densityplot(imp, ~ var)``.

    Gaussian kernel densities with Silverman's bandwidth (R's ``bw.nrd0``), each line with its
    own bandwidth; categorical variables are drawn as bars of the proportion per level
    (observed first, then imputation 1..m). Large differences between the observed and
    imputed distributions are not errors under MAR, but deserve a look.

    Args:
        imp: a :class:`~jaxmice.Imputations`.
        var: an imputed variable.
        cluster: a (complete) cluster column: one panel per cluster, for the first
            ``max_panels`` clusters (in label order) that hold imputed values of ``var``;
            the title says how many were left out.
        max_panels: the most panels drawn with ``cluster``.

    Returns:
        matplotlib Figure: one axes, or one per cluster shown.
    """
    col, _, observed, (imputed_rows, imputed) = _cells(imp, var)
    m = imputed.shape[0]
    every = np.concatenate([observed, imputed.ravel()])
    grid, fallback = None, None
    if not col.is_categorical:
        fallback = bandwidth(every) if every.size >= 2 else 1.0
        grid = np.linspace(every.min() - 3 * fallback, every.max() + 3 * fallback,
                           GRID_POINTS)
    if cluster is None:
        fig = new_figure(6.0, 4.0)
        ax = fig.subplots()
        _density_panel(ax, col, observed, list(imputed), grid, fallback)
        ax.set_xlabel(label(var))
        ax.set_title(f"{label(var)}: {observed.size} observed, {imputed.shape[1]} imputed "
                     f"values x {m} imputations", fontsize="medium")
        observed_imputed_legend(ax, m, fontsize="small")
        return fig

    index = frames_in.cluster_index(imp.values, imp.observed, imp.schema, cluster)
    row_cluster = index.row_cluster
    obs_cluster = row_cluster[imp.observed[:, imp.schema.position(var)]]
    imp_cluster = row_cluster[imputed_rows]
    with_imputed = np.unique(imp_cluster)
    shown = with_imputed[:max(int(max_panels), 1)]
    ncols = min(4, len(shown))
    nrows = int(np.ceil(len(shown) / ncols))
    fig = new_figure(3.0 * ncols, 0.9 + 2.4 * nrows)
    first = None
    for i, g in enumerate(shown):
        ax = fig.add_subplot(nrows, ncols, i + 1, sharex=first)
        first = first or ax
        _density_panel(ax, col, observed[obs_cluster == g],
                       [v[imp_cluster == g] for v in imputed], grid, fallback)
        ax.set_title(f"{label(cluster)} = {label(index.labels[g])}", fontsize="small")
    title = (f"{label(var)} by {label(cluster)}: observed (blue) and imputed (red, "
             f"{m} imputations)")
    if len(shown) < len(with_imputed):
        title += (f"\nfirst {len(shown)} of the {len(with_imputed)} clusters with imputed "
                  f"values shown")
    fig.suptitle(title, fontsize="medium")
    return fig


@in_float64
def plot_strip(imp: Any, var: Hashable, cluster: Hashable | None = None) -> Any:
    """Strip plot of one variable's values, as R's ``stripplot(imp, var ~ .imp)``.

    x = imputation number: 0 holds the observed values (blue), 1..m the imputed values of
    each imputation (red), jittered sideways; with ``cluster``, x = cluster (R:
    ``stripplot(imp, var ~ cluster)``), observed in blue and the imputed values of all m
    imputations in red. Categorical variables are drawn by level (jittered up and down too).

    Args:
        imp: a :class:`~jaxmice.Imputations`.
        var: an imputed variable.
        cluster: a (complete) cluster column for the x axis.

    Returns:
        matplotlib Figure with one axes: one point collection per imputation number (1 + m),
        or two (observed, imputed) with ``cluster``.
    """
    col, observed_rows, observed, (imputed_rows, imputed) = _cells(imp, var)
    m = imputed.shape[0]
    rng = np.random.default_rng(0)  # the same jitter every time

    def jitter(size: int, spread: float) -> np.ndarray:
        return rng.uniform(-spread, spread, size)

    def y(values: np.ndarray) -> np.ndarray:
        return values + jitter(values.size, 0.12) if col.is_categorical else values

    many = observed.size + imputed.size > 20_000
    style = dict(s=9, alpha=0.6, linewidths=0, rasterized=many)
    if cluster is None:
        fig = new_figure(2.5 + 0.45 * (m + 1), 4.0)
        ax = fig.subplots()
        ax.scatter(jitter(observed.size, 0.25), y(observed), color=OBSERVED, **style)
        for k in range(m):
            ax.scatter(k + 1 + jitter(imputed.shape[1], 0.25), y(imputed[k]), color=IMPUTED,
                       **style)
        ax.set_xticks(np.arange(m + 1), labels=[str(k) for k in range(m + 1)])
        ax.set_xlabel("imputation number (0 = observed)")
    else:
        index = frames_in.cluster_index(imp.values, imp.observed, imp.schema, cluster)
        x_obs = index.row_cluster[observed_rows]
        x_imp = np.tile(index.row_cluster[imputed_rows], m)
        fig = new_figure(3.0 + 0.12 * index.n_clusters, 4.0)
        ax = fig.subplots()
        ax.scatter(x_obs + jitter(x_obs.size, 0.25), y(observed), color=OBSERVED, **style)
        ax.scatter(x_imp + jitter(x_imp.size, 0.25), y(imputed.ravel()), color=IMPUTED,
                   **style)
        set_category_ticks(ax.xaxis, index.labels, rotate=index.n_clusters > 12)
        ax.set_xlabel(label(cluster))
    if col.is_categorical:
        set_category_ticks(ax.yaxis, col.levels)
    ax.set_ylabel(label(var))
    ax.set_title(f"{label(var)}: observed (blue) and imputed (red) values", fontsize="medium")
    return fig
