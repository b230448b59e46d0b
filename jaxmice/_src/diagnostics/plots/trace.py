"""``plot_trace``: chain means and SDs per iteration (R: ``plot(imp)``)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from jaxmice._src.diagnostics.plots.figure import label, new_figure
from jaxmice._src.runtime.precision import in_float64


@in_float64
def plot_trace(imp: Any, vars: Hashable | Sequence[Hashable] | None = None) -> Any:
    """Trace plots of the chains, as mice's ``plot(imp)``: for every imputed variable the mean
    (left) and the SD (right) of its imputed cells per iteration, one line per imputation
    (chain). Chains that mix show as intertwined lines without trend.

    Args:
        imp: a :class:`~jaxmice.Imputations`.
        vars: a variable or a list of them (default: every imputed variable, in data order).
            Categorical variables are traced by their level codes (0-based), as
            ``imp.chain_mean``.

    Returns:
        matplotlib Figure with a row of two axes per variable.
    """
    from matplotlib.ticker import MaxNLocator

    names, means = imp._chain_array("mean")
    _, variances = imp._chain_array("var")
    if means.shape[1] == 0:
        raise ValueError("the imputation has run no iterations: nothing to trace "
                         "(use imp.iterate(k))")
    if vars is None:
        chosen = list(names)
    else:
        chosen = [vars] if isinstance(vars, (str, int)) or not isinstance(vars, Sequence) \
            else list(vars)
        unknown = [v for v in chosen if v not in names]
        if unknown:
            raise ValueError(f"no chains for {unknown}: traced (imputed) variables are "
                             f"{list(names)}")
    if not chosen:
        raise ValueError("no variable to trace: nothing was imputed")
    iterations = np.arange(1, means.shape[1] + 1)
    m = means.shape[2]
    fig = new_figure(8.0, 0.6 + 2.0 * len(chosen))
    axes = fig.subplots(len(chosen), 2, squeeze=False, sharex=True)
    for row, var in enumerate(chosen):
        v = list(names).index(var)
        categorical = imp.schema[var].is_categorical
        sd = np.sqrt(np.maximum(variances[v], 0.0))
        for ax, stat, what in ((axes[row, 0], means[v], "mean"), (axes[row, 1], sd, "sd")):
            for k in range(m):
                ax.plot(iterations, stat[:, k], color=f"C{k % 10}", linewidth=1)
            ax.set_title(f"{label(var)}: {what}" + (" (codes)" if categorical else ""),
                         fontsize="medium")
    for ax in axes[-1]:
        ax.set_xlabel("iteration")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"{m} chains, one line per imputation", fontsize="medium")
    return fig
