"""``jm.convergence``: R-hat and autocorrelation of the chains (R's ``mice::convergence``).

Follows ``mice::convergence`` (mice 3.15, after Oberman 2021, "Missing the point: non-
convergence in iterative imputation algorithms") on the chain means (or, with
``parameter="sd"``, the chain standard deviations ``sqrt(chain_var)``) of every imputed
variable, for every iteration ``t`` of the run:

- ``rhat``: the rank-normalised split R-hat of Vehtari, Gelman, Simpson, Carpenter and Buerkner
  (2021), as ``rstan::Rhat``, which mice calls, on the traces of iterations ``1..t``: each
  chain's first ``t`` iterations are split into two halves (the middle iteration is dropped when
  ``t`` is odd), all values are rank-normalised together (``ndtri((rank - 1/2) / S)``, ties
  averaged), and the classic R-hat ``sqrt((B/W + n - 1) / n)`` is taken of them (bulk R-hat)
  and of the folded values ``|x - median(x)|`` rank-normalised the same way (tail R-hat); the
  larger of the two is reported. It is NaN where it is undefined: for ``t < 4`` (a half needs two
  iterations for a within-chain variance), for a constant trace, or for non-finite values.
- ``ac``: mice's autocorrelation: at each iteration ``s >= 2`` the Pearson correlation, across
  the m chains, between the chain means at iterations ``s - 1`` and ``s`` (0 where undefined,
  e.g. when the chains agree exactly), averaged over ``s = 2..t``. It is NaN at ``t = 1``.
  Note that this is a correlation between chains, not a within-chain autocorrelation: it is high
  when chains that were high stay high, i.e. when the chains still carry their own state.

Differences from R: mice also reports R-hat at ``t = 2`` and ``t = 3``, where R drops a
matrix dimension when splitting so that its numbers compare iterations with each other instead of
chains; jaxmice reports NaN there. mice lists every column (NA for those not imputed); jaxmice
lists the imputed (and passive) variables only. From ``t = 4`` on, both agree to rounding error.

mice's documentation suggests R-hat below 1.1 (or stricter, 1.01) as a sign of convergence;
``threshold`` sets the level at which :func:`convergence` flags a variable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxmice._src.adapters import frames_out
from jaxmice._src.runtime.precision import in_float64

__all__ = ["autocorrelation", "convergence", "convergence_summary", "rhat"]

_DIAGNOSTICS = {"all": ("rhat", "ac"), "rhat": ("rhat",), "psrf": ("rhat",), "gr": ("rhat",),
                "ac": ("ac",)}
_MIN_RHAT_ITERATIONS = 4


def _split_chains(sims: np.ndarray) -> np.ndarray:
    """f[n, m] -> f[n // 2, 2m]: the first and last halves of each chain (odd n: middle out)."""
    n = sims.shape[0]
    half = n // 2
    return np.concatenate([sims[:half], sims[n - half:]], axis=1)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..S of ``values: f[S]``, ties given their average rank (``rank(ties = "average")``
    in R, ``scipy.stats.rankdata``, whose import alone costs half a second)."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # start of each run of equal values, and each value's run
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    run = np.cumsum(np.r_[True, sorted_values[1:] != sorted_values[:-1]]) - 1
    ends = np.r_[starts[1:], values.size]
    ranks = np.empty(values.size)
    ranks[order] = (starts[run] + ends[run] + 1) / 2.0
    return ranks


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank-normalise all values together: ``ndtri((rank - 1/2) / S)``, ties averaged."""
    from scipy.special import ndtri  # imported here, on first use

    ranks = _average_ranks(x.ravel()).reshape(x.shape)
    return ndtri((ranks - 0.5) / x.size)


def _rhat_classic(sims: np.ndarray) -> float:
    """``sqrt((B/W + n - 1) / n)`` of f[n, chains] (``rstan:::rhat_rfun``)."""
    if not np.isfinite(sims).all():
        return float("nan")
    n, chains = sims.shape
    if n < 2 or chains < 2 or abs(sims.max() - sims.min()) < np.finfo(float).eps:
        return float("nan")
    between = n * np.var(sims.mean(axis=0), ddof=1)
    within = np.mean(np.var(sims, axis=0, ddof=1))
    with np.errstate(divide="ignore"):  # chains each constant but apart: R gives Inf too
        return float(np.sqrt((between / within + n - 1) / n))


def rhat(sims: Any) -> float:
    """Rank-normalised split R-hat of one trace, the larger of bulk and tail R-hat.

    Args:
        sims: f[iterations, chains] the trace (e.g. the chain means over iterations 1..t).

    Returns:
        R-hat as ``rstan::Rhat`` computes it; NaN with fewer than 4 iterations, a constant
        trace or non-finite values.
    """
    sims = np.asarray(sims, dtype=np.float64)
    if sims.ndim != 2:
        raise ValueError(f"sims must be f[iterations, chains], got shape {sims.shape}")
    if sims.shape[0] < _MIN_RHAT_ITERATIONS or not np.isfinite(sims).all():
        return float("nan")
    bulk = _rhat_classic(_z_scale(_split_chains(sims)))
    folded = np.abs(sims - np.median(sims))
    tail = _rhat_classic(_z_scale(_split_chains(folded)))
    if np.isnan(bulk) or np.isnan(tail):  # R's max(): NA if either is NA
        return float("nan")
    return max(bulk, tail)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation on the pairs where both are finite; NaN if undefined."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / denom) if denom > 0 else float("nan")


def autocorrelation(sims: Any) -> np.ndarray:
    """mice's lag-1 autocorrelation of a trace, for every iteration.

    Args:
        sims: f[iterations, chains] the trace.

    Returns:
        f[iterations]: at iteration t, the mean over s = 2..t of the correlation across chains
        between iterations s - 1 and s (an undefined correlation counts as 0); NaN at t = 1
        and wherever the first chain's value is missing (as in R).
    """
    sims = np.asarray(sims, dtype=np.float64)
    if sims.ndim != 2:
        raise ValueError(f"sims must be f[iterations, chains], got shape {sims.shape}")
    t = sims.shape[0]
    lag1 = np.array([_correlation(sims[s - 1], sims[s]) for s in range(1, t)])
    lag1 = np.where(np.isnan(lag1), 0.0, lag1)
    out = np.full(t, np.nan)
    if t > 1:
        out[1:] = np.cumsum(lag1) / np.arange(1, t)
    return np.where(np.isnan(sims[:, 0]), np.nan, out)


def _traces(imp: Any, parameter: str) -> tuple[list, np.ndarray]:
    """Variable names and f[variables, iterations, m] traces of ``imp``."""
    if parameter not in ("mean", "sd"):
        raise ValueError(f"parameter must be 'mean' or 'sd', got {parameter!r}")
    if imp.m < 2:
        raise ValueError(f"convergence compares chains: it needs m >= 2 imputations, got "
                         f"m = {imp.m}")
    if imp.iterations < 1:
        raise ValueError("no iterations to diagnose: run some first (imp.iterate(k))")
    frame = imp.chain_mean if parameter == "mean" else imp.chain_var
    t = imp.iterations
    arr = frame.to_numpy(dtype=np.float64)
    arr = arr.reshape(-1, t, arr.shape[1])
    names = list(frame.index.get_level_values(0)[::t])
    if parameter == "sd":
        arr = np.sqrt(arr)
    return names, arr


def _diagnose(names: list, arr: np.ndarray, diagnostic: str, threshold: float) -> Any:
    if diagnostic not in _DIAGNOSTICS:
        raise ValueError(f"diagnostic must be one of {list(_DIAGNOSTICS)}, got {diagnostic!r}")
    wanted = _DIAGNOSTICS[diagnostic]
    records = []
    for name, trace in zip(names, arr, strict=True):
        sims = trace  # f[iterations, m]
        ac = autocorrelation(sims) if "ac" in wanted else None
        for t in range(1, sims.shape[0] + 1):
            row: dict[str, Any] = dict(variable=name, iteration=t)
            if "rhat" in wanted:
                row["rhat"] = rhat(sims[:t])
            if ac is not None:
                row["ac"] = float(ac[t - 1])
            if "rhat" in wanted:
                row["flag"] = bool(row["rhat"] > threshold)
            records.append(row)
    columns = ["variable", "iteration"] + [c for c in ("rhat", "ac") if c in wanted]
    if "rhat" in wanted:
        columns.append("flag")
    return frames_out.records_frame(records, columns)


@in_float64
def convergence(imp: Any, diagnostic: str = "all", parameter: str = "mean",
                threshold: float = 1.1) -> Any:
    """R-hat and autocorrelation of the chains per imputed variable and iteration
    (R's ``mice::convergence``).

    Args:
        imp: an :class:`~jaxmice.Imputations` with ``m >= 2``.
        diagnostic: ``"all"``, ``"rhat"`` (mice's ``"psrf"`` and ``"gr"`` are accepted too)
            or ``"ac"``.
        parameter: ``"mean"`` (the chain means) or ``"sd"`` (the chains' standard deviations).
        threshold: R-hat above this is flagged (mice's documentation suggests 1.1).

    Returns:
        A DataFrame with one row per variable and iteration ``t`` (1..T): ``variable``,
        ``iteration``, ``rhat`` (rank-normalised split R-hat of iterations 1..t; NaN for
        t < 4), ``ac`` (mice's lag-1 autocorrelation, averaged over iterations 2..t) and
        ``flag`` (``rhat > threshold``). Definitions: see :mod:`jaxmice.convergence`.
        A variable whose ``flag`` is set at the last iteration has not converged: continue the
        chains with ``imp.iterate(k)``.
    """
    names, arr = _traces(imp, parameter)
    return _diagnose(names, arr, diagnostic, threshold)


@in_float64
def convergence_summary(imp: Any, parameter: str = "mean", threshold: float = 1.1) -> str:
    """A few lines saying, per imputed variable, whether its chains look converged.

    Uses the R-hat and autocorrelation of :func:`convergence` at the last iteration.

    Returns:
        The text, one line per variable, ending with advice if any variable is flagged.
    """
    names, arr = _traces(imp, parameter)
    t = arr.shape[1]
    width = max(len(str(n)) for n in names) if names else 0
    what = "means" if parameter == "mean" else "standard deviations"
    lines = [f"Convergence of the chain {what} after {t} iteration(s), m = {imp.m} "
             f"(R-hat threshold {threshold:g}):"]
    flagged, unknown = [], []
    for name, sims in zip(names, arr, strict=True):
        r, ac = rhat(sims), autocorrelation(sims)[-1]
        if np.isnan(r):
            verdict = ("undetermined (R-hat needs at least 4 iterations)"
                       if t < _MIN_RHAT_ITERATIONS else "undetermined (R-hat undefined)")
            unknown.append(name)
        elif r > threshold:
            verdict = "NOT CONVERGED"
            flagged.append(name)
        else:
            verdict = "converged"
        shown = f"{r:6.3f}" if np.isfinite(r) else f"{'--':>6}"
        lines.append(f"  {str(name):<{width}}  R-hat {shown}  ac {ac:6.3f}  {verdict}")
    if flagged:
        lines.append(f"R-hat above {threshold:g} for {flagged}: the chains still disagree; "
                     "run more iterations (imp.iterate(k)) and check again.")
    elif unknown and t < _MIN_RHAT_ITERATIONS:
        lines.append("Too few iterations to judge: run more (imp.iterate(k)).")
    else:
        lines.append("No variable flagged.")
    return "\n".join(lines)
