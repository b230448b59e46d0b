"""Diagnostics and figures, as mice / ggmice draw them; every plot returns a matplotlib
:class:`~matplotlib.figure.Figure` (object-oriented API, Agg canvas: no pyplot state, safe in
tests and on servers): ``fig.savefig(path)``, or display it in a notebook (``%matplotlib inline``).

- :func:`md_pattern`, :func:`plot_pattern`: missingness patterns (``mice::md.pattern``,
  ``ggmice::plot_pattern``), optionally by cluster;
- :func:`plot_corr`: pairwise-complete correlations (``ggmice::plot_corr``);
- :func:`plot_pred`: the predictor matrix (``ggmice::plot_pred``);
- :func:`plot_trace`: chain means and SDs per iteration (``plot(imp)``);
- :func:`plot_density`, :func:`plot_strip`: observed vs imputed values (``densityplot(imp)``,
  ``stripplot(imp)``).

matplotlib is imported when a figure is drawn, not when jaxmice is imported.
"""

from jaxmice._src.diagnostics.plots.correlation import plot_corr
from jaxmice._src.diagnostics.plots.distributions import plot_density, plot_strip
from jaxmice._src.diagnostics.plots.pattern import md_pattern, plot_pattern
from jaxmice._src.diagnostics.plots.predictors import plot_pred
from jaxmice._src.diagnostics.plots.trace import plot_trace

__all__ = ["md_pattern", "plot_corr", "plot_density", "plot_pattern", "plot_pred",
           "plot_strip", "plot_trace"]
