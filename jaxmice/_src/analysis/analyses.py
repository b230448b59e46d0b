"""``imp.analyze(fn)``: any analysis of each completed data set, collected for pooling.

For models jaxmice fits itself use ``imp.fit`` (one batched, compiled fit of all m data
sets); ``analyze`` runs a user's function on each completed DataFrame on the host (statsmodels,
lifelines, a hand-written estimator) and keeps what Rubin's rules need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jaxmice._src.analysis.pool import pool
from jaxmice._src.runtime.progress import show_progress


@dataclass(frozen=True)
class Analyses:
    """Per-imputation estimates of one analysis (the results protocol,
    :class:`~jaxmice._src.analysis.pool.Fits`).

    Attributes:
        names: the parameters' names.
        estimates: f[m, k]; covariances: f[m, k, k].
        dfcom: complete-data degrees of freedom (a statsmodels result's ``df_resid``), or None.
        results: what ``fn`` returned for each data set.
    """

    names: tuple[str, ...]
    estimates: np.ndarray
    covariances: np.ndarray
    dfcom: float | None
    results: tuple

    def pool(self, dfcom: float | None = None):
        """Rubin's rules (see :func:`jaxmice.pool`); ``dfcom`` defaults to the results'."""
        return pool(self, dfcom=dfcom)


def _estimates(result: Any, k: int) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, Any]:
    """Names, estimates, covariance and complete-data df of one analysis result."""
    if hasattr(result, "params") and hasattr(result, "cov_params"):  # statsmodels-like
        params, cov = result.params, result.cov_params()
        dfcom = getattr(result, "df_resid", None)
    elif isinstance(result, tuple) and len(result) == 2:
        params, cov = result
        dfcom = None
    else:
        raise TypeError(f"analysis of data set {k} returned {type(result).__name__}; return a "
                        "statsmodels results object or a tuple (estimates, covariance)")
    names = (tuple(str(n) for n in params.index) if hasattr(params, "index")
             else tuple(f"b{i}" for i in range(np.size(params))))
    est = np.asarray(params, dtype=np.float64).reshape(-1)
    cov = np.asarray(cov, dtype=np.float64)
    if cov.shape != (est.size, est.size):
        raise ValueError(f"analysis of data set {k}: covariance has shape {cov.shape}, "
                         f"expected {(est.size, est.size)}")
    return names, est, cov, (None if dfcom is None else float(dfcom))


def analyze(frames: Sequence[Any], fn: Callable[[Any], Any], progress: bool | None = None
            ) -> Analyses:
    """Run ``fn`` on each completed frame and collect estimates and covariances.

    ``progress``: a progress bar, None on a terminal or in a notebook only, True or False to
    force.

    Raises:
        ValueError: the analyses disagree on their parameters' names.
    """
    iterator = frames
    if show_progress(progress):
        from tqdm.auto import tqdm

        iterator = tqdm(frames, desc="analysing", unit="data set", leave=False)
    results, names, est, cov, dfs = [], None, [], [], []
    for k, frame in enumerate(iterator):
        result = fn(frame)
        n_k, e_k, c_k, df_k = _estimates(result, k)
        if names is not None and n_k != names:
            extra = sorted(set(n_k) ^ set(names))
            raise ValueError(f"analysis of data set {k} has parameters {list(n_k)}, data set 0 "
                             f"has {list(names)}; term(s) {extra} are not in every analysis")
        names = n_k
        results.append(result)
        est.append(e_k)
        cov.append(c_k)
        dfs.append(df_k)
    dfcom = None if any(d is None for d in dfs) else float(np.mean(dfs))
    return Analyses(names=names, estimates=np.stack(est), covariances=np.stack(cov),
                    dfcom=dfcom, results=tuple(results))
