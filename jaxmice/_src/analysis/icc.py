"""``jm.icc``: the intraclass correlation of a variable within clusters."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from jaxmice._src.analysis.mixed import lmer
from jaxmice._src.core.expressions import quote_name
from jaxmice._src.runtime.precision import in_float64


@in_float64
def icc(df: Any, y: Hashable, cluster: Hashable) -> float:
    """The intraclass correlation of ``y`` within ``cluster``: ``tau^2 / (tau^2 + sigma^2)``.

    The variances come from the random-intercept model ``y ~ 1 + (1 | cluster)`` fitted by
    REML (``jm.lmer``, as lme4's ``lmer``) on the rows where ``y`` is observed: ``tau^2``
    between clusters, ``sigma^2`` within. Column names that are not R identifiers are
    backquoted in the formula.

    Args:
        df: the data (a DataFrame).
        y: the numeric column.
        cluster: the cluster column (no missing values among the rows used).

    Returns:
        The ICC, in [0, 1] (0 when the fit puts the between-cluster variance at 0).
    """
    fit = lmer(f"{quote_name(str(y))} ~ 1 + (1 | {quote_name(str(cluster))})", df)
    tau2 = fit.sigma**2 * float(fit.theta[0]) ** 2  # lme4: Psi = sigma^2 Lambda Lambda'
    sigma2 = fit.sigma**2
    return float(tau2 / (tau2 + sigma2))
