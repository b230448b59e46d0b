"""``jm.score``: performance measures of a simulation study, with Monte Carlo standard errors.

The measures and their Monte Carlo standard errors (MCSE) are those of R's ``rsimsum``
(``simsum``; White 2010, "simsum: Analyses of simulation studies including measures of Monte
Carlo error", Stata Journal 10(3)) and of Morris, White and Crowther (2019, "Using simulation
studies to evaluate statistical methods", Stat Med 38, Table 6). For one term with true value
``theta`` and ``R`` usable replications with estimates ``e_i``, standard errors ``s_i`` and
intervals ``[l_i, u_i]`` (``ebar`` the mean estimate):

- ``bias = ebar - theta``; MCSE ``empse / sqrt(R)``.
- ``rel_bias = (ebar - theta) / theta`` (NaN when ``theta = 0``); MCSE ``bias_mcse / |theta|``.
- ``empse = sd(e)``; MCSE ``empse / sqrt(2 (R - 1))``.
- ``modelse = sqrt(mean(s^2))``; MCSE ``sqrt(var(s^2) / (4 R modelse^2))``.
- ``mse = mean((e - theta)^2)``; MCSE ``sqrt(sum(((e - theta)^2 - mse)^2) / (R (R - 1)))``.
- ``rmse = sqrt(mse)``; MCSE ``mse_mcse / (2 rmse)`` (delta method).
- ``coverage``: the share ``c`` of ``l_i <= theta <= u_i``; MCSE ``sqrt(c (1 - c) / R)``.
- ``be_coverage``: the share ``c`` of ``l_i <= ebar <= u_i``; MCSE ``sqrt(c (1 - c) / R)``.
- ``width = mean(u - l)``; MCSE ``sd(u - l) / sqrt(R)``.

``var`` and ``sd`` have divisor ``R - 1``. These are rsimsum's conventions (its
``.performance``): ``modelse`` is the root mean squared standard error (not the mean standard
error), its MCSE the delta-method one above, the relative bias is rsimsum's ``rbias`` (as a
fraction, not a percentage), the interval ends count as covered, and ``be_coverage`` is rsimsum's
``becover``. rsimsum reports ``mse``; ``rmse`` and ``width`` (and their MCSEs) are added here.

Intervals are the given ``conf_low``/``conf_high`` (e.g. the pooled t-intervals with Rubin's df
of :meth:`jaxmice.Pooled.summary`), else ``estimate +- z std_error`` with the normal quantile of
``conf_level`` (rsimsum's default). A replication enters a term's measures when its estimate, its
standard error and (when given) both interval limits are not NaN, as rsimsum (``na.rm``) counts
a replication when its estimate and standard error are present (a NaN interval, which rsimsum
would count as not covering, drops the replication here); ``n_reps`` reports how many did.
Measures that need more replications than there are (e.g. ``empse`` with one) are NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from jaxmice._src.adapters import frames_in, frames_out
from jaxmice._src.analysis.pool import Pooled

__all__ = ["MEASURES", "measures", "score"]

MEASURES = ("bias", "rel_bias", "empse", "modelse", "mse", "rmse", "coverage", "be_coverage",
            "width")
_REQUIRED = ("rep", "term", "estimate", "std_error")
_INTERVAL = ("conf_low", "conf_high")


def _as_columns(frame: Any, what: str, rep: int | None = None) -> dict[str, np.ndarray]:
    """A long frame's columns, checked for ``rep, term, estimate, std_error`` (``rep``, when
    given, fills the ``rep`` column: the frame is one replication)."""
    cols = frames_in.table_columns(frame, what)
    if rep is not None and "term" in cols:
        cols["rep"] = np.full(len(cols["term"]), rep)
    missing = [c for c in _REQUIRED if c not in cols]
    if missing == ["rep"]:
        raise ValueError(f"score needs replications: {what} has no 'rep' column")
    if missing:
        raise ValueError(f"{what} lacks the column(s) {missing}; it has {list(cols)}")
    if (c := [c for c in _INTERVAL if c in cols]) and len(c) == 1:
        raise ValueError(f"{what} has {c[0]!r} but not its partner; give both or neither of "
                         f"{list(_INTERVAL)}")
    return cols


def _stack(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate column dicts; a column absent from some parts is NaN there."""
    names = list(dict.fromkeys(c for p in parts for c in p))
    sizes = [len(p["term"]) for p in parts]
    out = {}
    for c in names:
        pieces = [p[c] if c in p else np.full(n, np.nan) for p, n in zip(parts, sizes, strict=True)]
        out[c] = np.concatenate([np.asarray(x, dtype=object) if c in ("term", "method")
                                 else np.asarray(x) for x in pieces])
    return out


def _from_sequence(results: Sequence, conf_level: float) -> dict[str, np.ndarray]:
    """One replication per element (``rep`` = its position): ``Pooled`` or frames of terms."""
    if not results:
        raise ValueError("score needs replications: got an empty sequence")
    parts = []
    for i, r in enumerate(results):
        frame = (r.summary(conf_int=True, conf_level=conf_level) if hasattr(r, "summary")
                 else r)
        parts.append(_as_columns(frame, f"replication {i}", rep=i))
    return _stack(parts)


def _long_columns(pooled: Any, conf_level: float) -> dict[str, np.ndarray]:
    """Normalise one set of results (frame, sequence of ``Pooled``, batched object) to
    long columns ``rep, term, estimate, std_error[, conf_low, conf_high]`` (plus any others)."""
    if isinstance(pooled, Pooled):
        raise ValueError("score needs replications: got a single Pooled (pass a list of them, "
                         "one per replication, or a frame with a 'rep' column)")
    if frames_in.is_table(pooled):
        return _as_columns(pooled, "the results frame")
    if isinstance(pooled, (list, tuple)):
        return _from_sequence(pooled, conf_level)
    if hasattr(pooled, "summary"):
        frame = pooled.summary(conf_int=True, conf_level=conf_level)
        return _as_columns(frame, f"{type(pooled).__name__}.summary()")
    raise TypeError("score takes a DataFrame with a 'rep' column, a list of Pooled, an object "
                    "with .summary() giving such a frame, or a dict of these; got "
                    f"{type(pooled).__name__}")


def _results(pooled: Any, conf_level: float) -> dict[str, np.ndarray]:
    """All results as long columns; a dict of methods adds a leading ``method`` column."""
    if not isinstance(pooled, Mapping):
        return _long_columns(pooled, conf_level)
    if not pooled:
        raise ValueError("score got an empty dict of methods")
    parts = []
    for name, results in pooled.items():
        cols = _long_columns(results, conf_level)
        if "method" in cols:
            raise ValueError(f"the results of method {name!r} already have a 'method' column")
        parts.append({"method": np.full(len(cols["term"]), name, dtype=object)} | cols)
    return _stack(parts)


def _truth(truth: Any, terms: Sequence) -> dict[Any, float]:
    """The true value of each scored term: all terms for a scalar, else the mapping's terms."""
    if hasattr(truth, "items"):
        values = {k: float(v) for k, v in truth.items()}
        absent = [k for k in values if k not in set(terms)]
        if absent:
            raise ValueError(f"truth names term(s) {absent} absent from the results; the "
                             f"results have {list(terms)}")
        if not values:
            raise ValueError("truth is empty: no term to score")
        return values
    if np.ndim(truth) != 0:
        raise TypeError("truth must be a dict or Series (term -> value) or a scalar, got "
                        f"{type(truth).__name__}")
    return dict.fromkeys(terms, float(truth))


def _sd(x: np.ndarray) -> float:
    """Sample standard deviation (divisor ``n - 1``); NaN below two values."""
    return float(np.std(x, ddof=1)) if len(x) > 1 else math.nan


def _share(hit: np.ndarray) -> tuple[float, float]:
    """A proportion and its binomial MCSE ``sqrt(p (1 - p) / R)``."""
    if not len(hit):
        return math.nan, math.nan
    p = float(np.mean(hit))
    return p, math.sqrt(p * (1.0 - p) / len(hit))


def _ratio(a: float, b: float) -> float:
    """``a / b``, NaN where ``b`` is 0 or NaN."""
    return a / b if b and not math.isnan(b) else math.nan


def measures(estimate: np.ndarray, std_error: np.ndarray, low: np.ndarray, high: np.ndarray,
             theta: float) -> dict[str, float]:
    """The performance measures of one term (see the module docstring) with their MCSEs.

    Args:
        estimate: ``f[R]`` the estimates of the usable replications.
        std_error: ``f[R]`` their model standard errors.
        low: ``f[R]`` the lower interval limits.
        high: ``f[R]`` the upper interval limits.
        theta: the true value.

    Returns:
        ``n_reps`` and, for each of :data:`MEASURES`, the value and ``<measure>_mcse``.
    """
    n = len(estimate)
    mean = float(np.mean(estimate)) if n else math.nan
    empse = _sd(estimate)
    bias = mean - theta
    bias_mcse = empse / math.sqrt(n) if n else math.nan
    sq = (estimate - theta) ** 2
    mse = float(np.mean(sq)) if n else math.nan
    mse_mcse = (math.sqrt(float(np.sum((sq - mse) ** 2)) / (n * (n - 1))) if n > 1
                else math.nan)
    rmse = math.sqrt(mse)
    modelse = math.sqrt(float(np.mean(std_error ** 2))) if n else math.nan
    var_se2 = _sd(std_error ** 2) ** 2
    coverage, coverage_mcse = _share((low <= theta) & (theta <= high))
    be_coverage, be_coverage_mcse = _share((low <= mean) & (mean <= high))
    width = high - low
    out = {
        "n_reps": n,
        "bias": bias, "bias_mcse": bias_mcse,
        "rel_bias": _ratio(bias, theta), "rel_bias_mcse": _ratio(bias_mcse, abs(theta)),
        "empse": empse, "empse_mcse": empse / math.sqrt(2 * (n - 1)) if n > 1 else math.nan,
        "modelse": modelse,
        "modelse_mcse": math.sqrt(_ratio(var_se2, 4 * n * modelse ** 2)) if n else math.nan,
        "mse": mse, "mse_mcse": mse_mcse,
        "rmse": rmse, "rmse_mcse": _ratio(mse_mcse, 2 * rmse),
        "coverage": coverage, "coverage_mcse": coverage_mcse,
        "be_coverage": be_coverage, "be_coverage_mcse": be_coverage_mcse,
        "width": float(np.mean(width)) if n else math.nan,
        "width_mcse": _sd(width) / math.sqrt(n) if n else math.nan,
    }
    return out


def _intervals(cols: dict[str, np.ndarray], conf_level: float) -> tuple[np.ndarray, np.ndarray]:
    """The given ``conf_low``/``conf_high``, else ``estimate +- z std_error``."""
    if all(c in cols for c in _INTERVAL):
        return (np.asarray(cols["conf_low"], dtype=float),
                np.asarray(cols["conf_high"], dtype=float))
    z = NormalDist().inv_cdf(1.0 - (1.0 - conf_level) / 2.0)
    est = np.asarray(cols["estimate"], dtype=float)
    se = np.asarray(cols["std_error"], dtype=float)
    return est - z * se, est + z * se


def _group_keys(cols: dict[str, np.ndarray], by: Sequence[str]) -> dict[tuple, list[int]]:
    """Row indices of each group ``(*by, term)``, in order of first appearance; one row per
    replication within a group."""
    groups: dict[tuple, list[int]] = {}
    seen: set[tuple] = set()
    keys = [cols[c] for c in (*by, "term")]
    for i, (key, rep) in enumerate(zip(zip(*keys, strict=True), cols["rep"], strict=True)):
        if (key, rep) in seen:
            where = dict(zip((*by, "term"), key, strict=True))
            raise ValueError(f"replication {rep!r} appears twice for {where}")
        seen.add((key, rep))
        groups.setdefault(key, []).append(i)
    return groups


def _by_columns(by: str | Sequence[str] | None, cols: dict[str, np.ndarray]) -> list[str]:
    """The grouping columns: ``method`` (when present) then ``by``; checked to exist."""
    extra = [] if by is None else [by] if isinstance(by, str) else list(by)
    absent = [c for c in extra if c not in cols]
    if absent:
        raise ValueError(f"by column(s) {absent} are not in the results; they have {list(cols)}")
    reserved = [c for c in extra if c in (*_REQUIRED, *_INTERVAL)]
    if reserved:
        raise ValueError(f"cannot group by {reserved}")
    lead = ["method"] if "method" in cols and "method" not in extra else []
    return lead + extra


def score(pooled: Any, truth: Any, conf_level: float = 0.95,
          by: str | Sequence[str] | None = None) -> Any:
    """Performance measures of a simulation study per term, with Monte Carlo standard errors.

    rsimsum's measures (``simsum``; White 2010; Morris, White and Crowther 2019, Table 6) over
    the replications: bias, relative bias, empirical and model SE, MSE and its root, coverage,
    bias-eliminated coverage and mean interval width, each with its MCSE (the formulas and
    conventions are in :mod:`jaxmice.score`'s docstring).

    Args:
        pooled: the results, one set per replication, as
            (1) a DataFrame with columns ``rep, term, estimate, std_error`` and optionally
            ``conf_low, conf_high`` (and any grouping columns; a ``method`` column groups too);
            (2) a list or tuple of :class:`~jaxmice.Pooled` (``rep`` is the position);
            (3) an object whose ``.summary(conf_int=True, conf_level=...)`` gives a frame as in
            (1), e.g. a batch of pooled results; or (4) a dict ``{method: any of these}``, which
            adds a leading ``method`` column. A single ``Pooled`` is an error.
        truth: the true values: a dict or Series ``term -> value`` (only its terms are scored),
            or a scalar (every term).
        conf_level: the level of the z-intervals ``estimate +- z std_error`` used when the
            results have no ``conf_low``/``conf_high``, and of the intervals asked of
            ``Pooled.summary``; given interval columns are taken as they are.
        by: extra grouping column(s) of the results (e.g. a scenario), before ``term``.

    Returns:
        A DataFrame with one row per (method, *by, term): those columns, ``n_reps`` (the
        replications used), and each of ``bias, rel_bias, empse, modelse, mse, rmse, coverage,
        be_coverage, width`` followed by its ``<measure>_mcse``.

    Raises:
        ValueError: no replications (a single ``Pooled``, a frame without ``rep``), missing
            columns, a term of ``truth`` absent from the results, a replication repeated
            within a term, or an unknown ``by`` column.
        TypeError: ``pooled`` or ``truth`` of an unsupported type.
    """
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level must lie in (0, 1), got {conf_level}")
    cols = _results(pooled, conf_level)
    keys = _by_columns(by, cols)
    terms = list(dict.fromkeys(cols["term"]))
    theta = _truth(truth, terms)
    low, high = _intervals(cols, conf_level)
    est = np.asarray(cols["estimate"], dtype=float)
    se = np.asarray(cols["std_error"], dtype=float)
    usable = ~(np.isnan(est) | np.isnan(se) | np.isnan(low) | np.isnan(high))
    records = []
    for key, rows in _group_keys(cols, keys).items():
        term = key[-1]
        if term not in theta:
            continue
        idx = np.asarray(rows)[usable[rows]]
        record = dict(zip((*keys, "term"), key, strict=True))
        record.update(measures(est[idx], se[idx], low[idx], high[idx], theta[term]))
        records.append(record)
    columns = [*keys, "term", "n_reps"] + [c for m in MEASURES for c in (m, f"{m}_mcse")]
    return frames_out.records_frame(records, columns)
