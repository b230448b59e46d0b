"""``plot_pred``: the predictor matrix as coloured tiles (``ggmice::plot_pred``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxmice._src.adapters import frames_in
from jaxmice._src.core.defaults import CODE_MEANING, CODES
from jaxmice._src.diagnostics.plots.figure import label, new_figure, set_category_ticks

CODE_COLOUR = {
    0: "#f0f0f0", 1: "#006CC2", 2: "#6a3d9a", 3: "#33a02c", 4: "#ff7f00",
    -2: "#B61A51", -3: "#b15928", -4: "#f48fb1",
}


def plot_pred(pred: Any, method: Any = None, rotate: bool = False, all_codes: bool = True
              ) -> Any:
    """The predictor matrix: rows = columns imputed, columns = predictors, one colour per
    code, the code written in every non-zero tile (``ggmice::plot_pred``).

    The legend explains every code -4 .. 4 (``all_codes``; or only those present), named as
    :data:`jaxmice._src.core.defaults.CODE_MEANING` (``1: fixed effect``, ``-2: cluster variable``,
    ...).

    Args:
        pred: the predictor matrix (a DataFrame such as ``jm.make_predictor_matrix(df)`` or
            ``imp.predictor_matrix``; or a square array).
        method: optional methods per row (a Series such as ``imp.method`` or
            ``jm.make_method(df)``, a dict or a list), written on the right.
        rotate: rotate the predictor names by 90 degrees.

    Returns:
        matplotlib Figure with one axes.
    """
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch

    values, rows, cols = frames_in.matrix_parts(pred, "predictor matrix")
    try:
        codes = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("the predictor matrix must hold integer codes") from None
    if np.any(codes != np.round(codes)) or not np.isin(codes, CODES).all():
        bad = codes[~np.isin(codes, CODES)]
        raise ValueError(f"the predictor matrix holds {bad[:3].tolist()}, which are not codes; "
                         f"allowed codes: {CODES}")
    codes = codes.astype(np.int64)
    n_rows, n_cols = codes.shape
    present = list(CODES) if all_codes else [c for c in CODES if (codes == c).any()]
    image = np.array([[to_rgb(CODE_COLOUR[int(c)]) for c in row] for row in codes])
    image = image.reshape(n_rows, n_cols, 3)

    longest = max([len(label(c)) for c in cols] + [1])
    fig = new_figure(2.8 + 0.45 * n_cols + (1.0 if method is not None else 0.0),
                     2.6 + 0.35 * n_rows + (0.07 * longest if rotate else 0.0)
                     + 0.25 * len(present) / 2)
    ax = fig.subplots()
    ax.imshow(image, aspect="auto", interpolation="nearest")
    ax.set_xticks(np.arange(n_cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n_rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0)
    set_category_ticks(ax.xaxis, cols, rotate=rotate, most=200)
    set_category_ticks(ax.yaxis, rows, most=200)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("predictors")
    ax.set_ylabel("imputed columns")
    for i, j in np.argwhere(codes != 0):
        ax.text(j, i, str(codes[i, j]), ha="center", va="center", fontsize="small",
                color="black" if codes[i, j] in (-4, 4) else "white")
    if method is not None:
        shown = frames_in.vector_values(method, rows, "method")
        right = ax.secondary_yaxis("right")
        right.set_yticks(np.arange(n_rows), labels=[str(s) for s in shown])
        right.tick_params(length=0)
        right.set_ylabel("method")
    handles = [Patch(facecolor=CODE_COLOUR[c], edgecolor="#999999",
                     label=f"{c}: {CODE_MEANING[c]}") for c in present]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False,
               fontsize="small")
    return fig
