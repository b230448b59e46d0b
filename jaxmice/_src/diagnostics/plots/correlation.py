"""``plot_corr``: pairwise-complete correlations (``ggmice::plot_corr``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxmice._src.adapters import frames_in
from jaxmice._src.core.correlation import pairwise_correlations
from jaxmice._src.diagnostics.plots.figure import label, new_figure, set_category_ticks
from jaxmice._src.runtime.precision import in_float64

ANNOTATE_UP_TO = 25  # columns; beyond this the cells are too small to write in


@in_float64
def plot_corr(df: Any, rotate: bool = False) -> Any:
    """Correlations of every pair of columns, pairwise complete (``ggmice::plot_corr``).

    Categorical, bool and string columns enter by their category codes (0, 1, ...), which
    the figure notes; a nominal column's correlations therefore depend on its level order.
    Cells are annotated with the correlation (up to 25 columns); ``NA`` marks pairs with
    fewer than 2 rows in common or no variance. Colours run from -1 (blue) to 1 (red).

    Args:
        df: a DataFrame.
        rotate: rotate the x-axis labels by 90 degrees.

    Returns:
        matplotlib Figure: the heat map axes and its colour bar.
    """
    names, values, coded = frames_in.numeric_matrix(df)
    p = len(names)
    if p == 0:
        raise ValueError("plot_corr needs at least one column")
    r = pairwise_correlations(values)
    size = 2.5 + 0.55 * p
    fig = new_figure(size + 1.2, size)
    ax = fig.subplots()
    image = ax.imshow(r, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="correlation", shrink=0.8)
    set_category_ticks(ax.xaxis, names, rotate=rotate, most=200)
    set_category_ticks(ax.yaxis, names, most=200)
    ax.tick_params(length=0)
    if p <= ANNOTATE_UP_TO:
        fontsize = "small" if p <= 10 else "x-small"
        for i in range(p):
            for j in range(p):
                v = r[i, j]
                ax.text(j, i, "NA" if np.isnan(v) else f"{v:.2f}", ha="center", va="center",
                        fontsize=fontsize, color="white" if abs(np.nan_to_num(v)) > 0.6
                        else "black")
    title = "pairwise-complete correlations"
    if coded.any():
        title += "\ncategorical columns by their codes: " + ", ".join(
            label(names[j]) for j in np.flatnonzero(coded))
    ax.set_title(title, fontsize="medium")
    return fig
