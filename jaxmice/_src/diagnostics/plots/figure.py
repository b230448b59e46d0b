"""Shared figure plumbing: a Figure on the Agg canvas, mice's colours, tick-label helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

OBSERVED = "#006CC2"  # mice's mdc(1): observed data
IMPUTED = "#B61A51"  # mice's mdc(2): imputed / missing data


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure with an Agg canvas and constrained layout (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(min(max(width, 3.0), 30.0), min(max(height, 2.5), 30.0)),
                 layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def label(value: Any) -> str:
    """A column, level or cluster label as text (3, not 3.0)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def sparse_ticks(n: int, most: int = 30) -> np.ndarray:
    """Positions of at most ``most`` evenly spaced ticks among ``0 .. n-1``."""
    step = max(1, int(np.ceil(n / most)))
    return np.arange(0, n, step)


def set_category_ticks(axis: Any, labels: Sequence, rotate: bool = False, most: int = 40
                       ) -> None:
    """Label positions ``0 .. len(labels)-1`` of an x or y axis (sparser beyond ``most``)."""
    ticks = sparse_ticks(len(labels), most)
    axis.set_ticks(ticks, labels=[label(labels[i]) for i in ticks])
    if rotate:
        for text in axis.get_ticklabels():
            text.set_rotation(90)


def observed_imputed_legend(ax: Any, m: int | None = None, **kwargs: Any) -> None:
    """A two-entry legend: observed (blue), imputed (red)."""
    from matplotlib.lines import Line2D

    what = "imputed" if m is None else f"imputed (m = {m})"
    handles = [Line2D([], [], color=OBSERVED, lw=2, label="observed"),
               Line2D([], [], color=IMPUTED, lw=1, label=what)]
    ax.legend(handles=handles, **kwargs)
