"""Pooling analyses of multiply imputed data: Rubin's rules and multivariate tests.

Pure functions of the per-imputation estimates ``f[m, k]`` and their covariance matrices
``f[m, k, k]``, on the host in numpy (the arrays are small). The formulas are those of R's
mice (``pool``) and mitml (``testEstimates``, ``testModels``), and the results agree with
them to rounding:

- :func:`pool`: Rubin's (1987) rules with the Barnard-Rubin (1999) degrees of freedom, as
  ``mice::pool(fit, dfcom = ...)`` and ``mitml::testEstimates(fit, df.com = ...)``; without a
  complete-data df, the large-sample df ``(m - 1) / lambda^2`` of ``testEstimates(fit)``.
- :func:`d1_rule`: the multivariate Wald test of Li, Raghunathan and Rubin (1991), as
  ``mitml::testModels(model, null.model, method = "D1")`` (with Reiter's (2007) small-sample
  df2 when ``dfcom`` is given, as ``df.com`` in mitml);
- :func:`d2_rule`: combined Wald chi-square statistics (Li, Meng, Raghunathan and Rubin
  1991), as ``testModels(model, null.model, method = "D2", use = "wald")``;
  :func:`D2_from_statistics` combines any per-imputation chi-square statistics (e.g.
  likelihood-ratio statistics, as ``use = "likelihood"``).

The results protocol, :class:`Fits`, is what pooling reads from the fits of m completed data
sets: their parameters' names, estimates, covariances and complete-data df. ``MixedModels``
(``imp.fit``, ``jm.lmer``), ``Analyses`` (``imp.analyze``) and ``BatchFits`` (``batch.fit``, with
a leading replication axis) implement it, so :func:`pool` takes any of them (``jm.pool(fits)``,
or ``fits.pool()``), and so do the tests' entry points :func:`jaxmice.D1` and :func:`jaxmice.D2`
(:mod:`jaxmice._src.analysis.pooled_tests`; :func:`jaxmice.D3` and :func:`jaxmice.D4` refit, so
they take the fits jaxmice made, ``MixedModels``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from jaxmice._src.adapters.frames_out import columns_frame, float_series, records_frame

__all__ = ["Fits", "pool", "Pooled", "PooledBatch", "D2_from_statistics", "TestResult",
           "d1_rule", "d2_rule"]

LAMBDA_FLOOR = 1e-4  # mice:::barnard.rubin (already in mice 3.15) raises lambda to this for df


@runtime_checkable
class Fits(Protocol):
    """The results protocol: the fits of one analysis on m completed data sets.

    Attributes:
        names: the k parameters' names.
        estimates: f[m, k] each data set's estimates (a batch of R replications: f[R, m, k]).
        covariances: f[m, k, k] their covariance matrices (a batch: f[R, m, k, k]).
        dfcom: the complete-data degrees of freedom, or None for the large-sample df (a batch:
            one per replication).

    Fits that jaxmice can refit (``MixedModels``: ``refit(reml)``, its formula and data) also
    serve the likelihood-based tests D3 and D4.
    """

    @property
    def names(self) -> tuple[str, ...]: ...

    @property
    def estimates(self) -> np.ndarray: ...

    @property
    def covariances(self) -> np.ndarray: ...

    @property
    def dfcom(self) -> Any: ...


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------


def _term_names(names: Sequence | None, estimates: Any, k: int) -> tuple:
    if names is None:
        columns = getattr(estimates, "columns", None)  # a frame of estimates: its column labels
        names = list(columns) if columns is not None else [f"Parameter.{j + 1}" for j in range(k)]
    names = tuple(names)
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries but there are {k} estimates per "
                         "imputation")
    return names


def _as_arrays(estimates: Any, covariances: Any, names: Sequence | None
               ) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Check shapes and values; return ``q: f[m, k]``, ``u: f[m, k, k]``, names."""
    q = np.asarray(estimates, dtype=np.float64)
    if q.ndim == 1:
        raise ValueError(
            f"estimates has shape {q.shape}; expected f[m, k], one row per imputation (for a "
            "single parameter, pass shape (m, 1))")
    if q.ndim != 2:
        raise ValueError(f"estimates has shape {q.shape}; expected f[m, k] (imputations, terms)")
    m, k = q.shape
    if m == 0 or k == 0:
        raise ValueError(f"estimates has shape {q.shape}; need at least one imputation and term")
    names = _term_names(names, estimates, k)
    u = np.asarray(covariances, dtype=np.float64)
    if u.shape == (m, k):  # variances only, as mitml's uhat matrix: diagonal covariances
        u = np.einsum("mk,kl->mkl", u, np.eye(k))
    if u.shape != (m, k, k):
        hint = ""
        if u.shape == (k, k, m):
            hint = " (this looks like R's layout [k, k, m]; use np.moveaxis(u, -1, 0))"
        raise ValueError(f"covariances has shape {u.shape}; expected {(m, k, k)} (one k x k "
                         f"covariance matrix per imputation) or {(m, k)} (variances){hint}")
    if np.isinf(q).any():
        i, j = np.argwhere(np.isinf(q))[0]
        raise ValueError(f"the estimate of term {names[j]!r} is infinite in imputation {i + 1}")
    nan_q = np.isnan(q)
    partial = nan_q.any(axis=0) & ~nan_q.all(axis=0)
    if partial.any():
        j = int(np.flatnonzero(partial)[0])
        where = (np.flatnonzero(nan_q[:, j]) + 1).tolist()
        raise ValueError(
            f"the estimate of term {names[j]!r} is NaN in imputation(s) {where} but not in the "
            f"others; a term must be estimated in all {m} imputations or in none (refit so the "
            "models have the same terms, e.g. the same factor levels in every imputation)")
    ok = ~nan_q[0]  # terms estimated in every imputation
    uo = u[:, ok][:, :, ok]
    if not np.isfinite(uo).all():
        i, a, b = np.argwhere(~np.isfinite(uo))[0]
        live = [names[j] for j in np.flatnonzero(ok)]
        raise ValueError(f"the covariance of terms {live[a]!r} and {live[b]!r} is not finite in "
                         f"imputation {i + 1}")
    diag = np.diagonal(uo, axis1=1, axis2=2)
    if (diag < 0).any():
        i, a = np.argwhere(diag < 0)[0]
        live = [names[j] for j in np.flatnonzero(ok)]
        raise ValueError(f"the variance of term {live[a]!r} is negative ({diag[i, a]:.4g}) in "
                         f"imputation {i + 1}")
    scale = np.maximum(np.abs(uo).max(axis=(1, 2)), np.finfo(float).tiny)
    asym = np.abs(uo - np.swapaxes(uo, 1, 2)).max(axis=(1, 2)) if uo.size else np.zeros(m)
    if (asym > 1e-8 * scale).any():
        i = int(np.flatnonzero(asym > 1e-8 * scale)[0])
        raise ValueError(f"the covariance matrix of imputation {i + 1} is not symmetric")
    return q, u, names


def _check_dfcom(dfcom: float | None) -> float | None:
    """``None`` for infinite (large-sample); otherwise a positive float."""
    if dfcom is None:
        return None
    dfcom = float(dfcom)
    if np.isnan(dfcom) or dfcom <= 0:
        raise ValueError(f"dfcom must be a positive number (the complete-data residual degrees "
                         f"of freedom) or None; got {dfcom}")
    return None if np.isinf(dfcom) else dfcom


# scipy.special is imported where used: importing scipy.stats would add half a second to
# ``import jaxmice``


def _tail_t(statistic: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided tail probability of Student's t with ``df`` (normal when df is infinite)."""
    from scipy.special import stdtr

    with np.errstate(invalid="ignore"):
        return 2.0 * stdtr(df, -np.abs(statistic))


def _quantile_t(p: float, df: np.ndarray) -> np.ndarray:
    """Quantile of Student's t with ``df`` (normal when df is infinite)."""
    from scipy.special import stdtrit

    return stdtrit(df, p)


def summary_columns(terms: list, qbar: np.ndarray, std_error: np.ndarray, df: np.ndarray,
                    after: dict[str, np.ndarray], conf_int: bool = True,
                    conf_level: float = 0.95, exponentiate: bool = False
                    ) -> dict[str, Any]:
    """The columns of a pooled table (:meth:`Pooled.summary`, and every
    replication's at once for a batch): ``term, estimate, std_error, statistic, df, p_value``,
    the interval if ``conf_int``, then the columns of ``after`` (``f[k]`` each).

    ``exponentiate`` reports ``exp(estimate)``, the exponentiated interval and the standard
    error by the delta method (``exp(estimate) * std_error``); ``statistic`` and ``p_value``
    stay on the linear scale."""
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1); got {conf_level}")
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = qbar / std_error
    cols: dict[str, Any] = {"term": terms, "estimate": qbar, "std_error": std_error,
                            "statistic": statistic, "df": df,
                            "p_value": _tail_t(statistic, df)}
    if conf_int:
        crit = _quantile_t(0.5 + conf_level / 2, df)
        cols.update(conf_low=qbar - crit * std_error, conf_high=qbar + crit * std_error)
    if exponentiate:
        cols.update(estimate=np.exp(qbar), std_error=np.exp(qbar) * std_error)
        if conf_int:
            cols.update(conf_low=np.exp(cols["conf_low"]), conf_high=np.exp(cols["conf_high"]))
    cols.update(after)
    return {c: v if c == "term" else np.asarray(v, np.float64) for c, v in cols.items()}


def tail_f(f: float, df1: float, df2: float) -> float:
    """``P(F(df1, df2) > f)``; the chi-square(df1) / df1 limit when df2 is infinite.

    The p-value of the D1, D2 and D3 tests (also used by :mod:`jaxmice._src.analysis.pooled_tests`).
    """
    from scipy.special import chdtrc, fdtrc

    if np.isnan(f) or np.isnan(df2):
        return float("nan")
    if f <= 0:  # D2's statistic can be negative: no evidence at all
        return 1.0
    if np.isinf(df2):
        return float(chdtrc(df1, f * df1))
    return float(fdtrc(df1, df2, f))


# ---------------------------------------------------------------------------
# Rubin's rules
# ---------------------------------------------------------------------------


def barnard_rubin_df(m: int, lambda_: np.ndarray, dfcom: float | None) -> np.ndarray:
    """Degrees of freedom of a pooled coefficient, as ``mice:::barnard.rubin``.

    ``lambda_`` below 1e-4 (no or very little between-imputation variance) is raised to 1e-4
    first, so the df is large but finite. Without ``dfcom`` the large-sample df
    ``(m - 1) / lambda^2``; with it the Barnard-Rubin (1999) df
    ``df_old df_obs / (df_old + df_obs)``, ``df_obs = (dfcom + 1) / (dfcom + 3) dfcom (1 -
    lambda)``.
    """
    lam = np.maximum(np.asarray(lambda_, dtype=np.float64), LAMBDA_FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        df_old = (m - 1) / lam**2
        if dfcom is None:
            return df_old
        df_obs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
        return df_old * df_obs / (df_old + df_obs)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _empty_extra() -> Any:
    return float_series([], [], name="extra")


@dataclass(frozen=True, eq=False)
class Pooled:
    """Estimates pooled over imputations by Rubin's rules (the result of :func:`pool`).

    Attributes:
        names: the terms, in order.
        m: the number of imputations.
        qbar: ``f[k]`` the pooled estimates (mean over imputations).
        ubar: ``f[k, k]`` the within-imputation covariance (mean of the covariances).
        b: ``f[k, k]`` the between-imputation covariance of the estimates (divisor m - 1).
        t: ``f[k, k]`` the total covariance ``ubar + (1 + 1/m) b``.
        dfcom: the complete-data df the degrees of freedom were adjusted for, or ``None``
            (large-sample df).
        riv: ``f[k]`` the relative increase in variance ``(1 + 1/m) b_jj / ubar_jj``.
        lambda_: ``f[k]`` the proportion of variance due to missingness
            ``(1 + 1/m) b_jj / t_jj`` (not floored; the df use it floored at 1e-4).
        df: ``f[k]`` the degrees of freedom of each coefficient.
        fmi: ``f[k]`` the fraction of missing information ``(riv + 2/(df + 3)) / (riv + 1)``.
        extra: a Series of pooled extra parameters (e.g. variance components), empty unless a
            caller fills it.

    With ``m = 1`` there is no between-imputation variance: ``b`` is 0, ``t = ubar``, and
    ``riv``, ``lambda_`` and ``fmi`` are NaN (they cannot be estimated from one data set).
    Terms that were NaN in every imputation (e.g. aliased) are NaN throughout.
    """

    names: tuple
    m: int
    qbar: np.ndarray
    ubar: np.ndarray
    b: np.ndarray
    t: np.ndarray
    dfcom: float | None
    riv: np.ndarray
    lambda_: np.ndarray
    df: np.ndarray
    fmi: np.ndarray
    extra: Any = field(default_factory=_empty_extra)

    @property
    def std_error(self) -> np.ndarray:
        """``f[k]`` the pooled standard errors ``sqrt(diag(t))``."""
        return np.sqrt(np.diagonal(self.t))

    @property
    def statistic(self) -> np.ndarray:
        """``f[k]`` the t statistics ``qbar / std_error``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.qbar / self.std_error

    @property
    def p_value(self) -> np.ndarray:
        """``f[k]`` two-sided p-values from the t distribution with ``df``."""
        return _tail_t(self.statistic, self.df)

    def conf_int(self, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper confidence limits ``qbar -/+ t_{df}(1 - alpha/2) std_error``."""
        if not 0 < conf_level < 1:
            raise ValueError(f"conf_level must be in (0, 1); got {conf_level}")
        crit = _quantile_t(0.5 + conf_level / 2, self.df)
        se = self.std_error
        return self.qbar - crit * se, self.qbar + crit * se

    def summary(self, conf_int: bool = True, conf_level: float = 0.95,
                exponentiate: bool = False) -> Any:
        """The pooled table, one row per term (as ``summary(mice::pool(fit))``).

        Args:
            conf_int: include ``conf_low`` and ``conf_high``.
            conf_level: the confidence level of the interval.
            exponentiate: report ``exp(estimate)`` and the exponentiated interval (odds or
                rate ratios), with the standard error by the delta method
                (``exp(estimate) * std_error``; mice leaves it on the linear scale).
                ``statistic`` and ``p_value`` are those of the linear scale.

        Returns:
            A DataFrame with columns ``term, estimate, std_error, statistic, df, p_value,
            conf_low, conf_high, riv, lambda_, fmi``.
        """
        return columns_frame(summary_columns(
            list(self.names), self.qbar, self.std_error, self.df,
            {"riv": self.riv, "lambda_": self.lambda_, "fmi": self.fmi}, conf_int, conf_level,
            exponentiate))

    def __repr__(self) -> str:
        df = ("large-sample df" if self.dfcom is None
              else f"Barnard-Rubin df with dfcom = {self.dfcom:g}")
        head = f"Pooled estimates (m = {self.m}; Rubin's rules; {df})"
        text = f"{head}\n{self.summary().to_string(index=False)}"
        if len(self.extra):
            text += f"\nExtra parameters:\n{self.extra.to_string()}"
        return text


def pool(estimates: Any, covariances: Any = None, dfcom: float | None = None,
         names: Sequence | None = None) -> Any:
    """Pool per-imputation estimates by Rubin's rules.

    Args:
        estimates: fits that keep the results protocol (:class:`Fits`: ``imp.fit(...)``,
            ``imp.analyze(...)``, ``batch.fit(...)``), or ``f[m, k]``, the estimates of k terms
            in each of m imputations (a frame's column labels become the names).
        covariances: with arrays, ``f[m, k, k]``, their covariance matrices (``f[m, k]`` is
            read as variances, i.e. diagonal matrices).
        dfcom: the complete-data residual degrees of freedom (e.g. ``n - p`` of a linear
            model): Barnard-Rubin df, as ``mice::pool(fit, dfcom = ...)`` and
            ``mitml::testEstimates(fit, df.com = ...)``. ``None`` (or ``inf``): the
            large-sample df ``(m - 1) (1 + 1/riv)^2`` of ``testEstimates(fit)``.
        names: the term names (default: the frame's columns, else ``Parameter.1`` ...).

    Returns:
        A :class:`Pooled` (a :class:`PooledBatch` for a batch's fits; mixed models' pooled
        variance components and ICC in its ``extra``).

    Raises:
        TypeError: neither fits nor arrays.
        ValueError: wrong shapes, infinite values, a term NaN in some imputations but not in
            the others, covariance matrices that are not symmetric or have negative variances,
            or a ``dfcom`` that is not positive.

    Warns:
        UserWarning: ``m = 1`` (nothing to pool: the data set's own estimates and standard
            errors come back, with df ``dfcom`` or infinite).
    """
    if isinstance(estimates, Fits):
        if covariances is not None:
            raise TypeError("pool(fits) reads the covariances from the fits; give the "
                            "complete-data df by name: pool(fits, dfcom=...)")
        return _pool_fits(estimates, dfcom)
    if covariances is None:
        return _pool_fits(estimates, dfcom)  # raises: neither fits nor arrays
    q, u, names = _as_arrays(estimates, covariances, names)
    dfcom = _check_dfcom(dfcom)
    m, k = q.shape
    ok = ~np.isnan(q[0])
    nan_terms = [names[j] for j in np.flatnonzero(~ok)]
    if nan_terms:
        warnings.warn(f"term(s) {nan_terms} are NaN in every imputation (e.g. aliased "
                      "coefficients); their pooled results are NaN", stacklevel=2)
    qo, uo = q[:, ok], u[:, ok][:, :, ok]
    ko = int(ok.sum())
    qbar = qo.mean(axis=0)
    ubar = uo.mean(axis=0)
    if m == 1:
        warnings.warn(
            "m = 1: pooling one imputed data set gives its own estimates and standard errors; "
            "without between-imputation variance the missing-data uncertainty is ignored "
            "(riv, lambda and fmi are NaN; df is dfcom, or infinite without it)", stacklevel=2)
        b = np.zeros((ko, ko))
        t = ubar.copy()
        riv = lam = fmi = np.full(ko, np.nan)
        df = np.full(ko, np.inf if dfcom is None else dfcom)
    else:
        dev = qo - qbar
        b = dev.T @ dev / (m - 1)
        t = ubar + (1 + 1 / m) * b
        bd, ud, td = np.diagonal(b), np.diagonal(ubar), np.diagonal(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            riv = (1 + 1 / m) * bd / ud
            lam = (1 + 1 / m) * bd / td
            df = barnard_rubin_df(m, lam, dfcom)
            fmi = (riv + 2 / (df + 3)) / (riv + 1)

    def full_vec(x: np.ndarray) -> np.ndarray:
        out = np.full(k, np.nan)
        out[ok] = x
        return _frozen(out)

    def full_mat(x: np.ndarray) -> np.ndarray:
        out = np.full((k, k), np.nan)
        out[np.ix_(ok, ok)] = x
        return _frozen(out)

    return Pooled(names=names, m=m, qbar=full_vec(qbar), ubar=full_mat(ubar), b=full_mat(b),
                  t=full_mat(t), dfcom=dfcom, riv=full_vec(riv), lambda_=full_vec(lam),
                  df=full_vec(df), fmi=full_vec(fmi))


def _pool_fits(fits: Any, dfcom: float | None) -> Any:
    """:func:`pool` of fits that keep the results protocol, each with its own complete-data df
    unless ``dfcom`` is given."""
    if not isinstance(fits, Fits):
        raise TypeError(f"pool takes fits (imp.fit(...), imp.analyze(...), batch.fit(...)) or "
                        f"arrays of estimates and covariances, got {type(fits).__name__}")
    extra = getattr(fits, "extra_parameters", None)  # mixed models: variance components, ICC
    if np.ndim(fits.estimates) == 3:
        own = fits.dfcom if dfcom is None else [dfcom] * len(fits.estimates)
        return PooledBatch(tuple(
            pool(q, u, dfcom=d, names=fits.names)
            for q, u, d in zip(fits.estimates, fits.covariances, own, strict=True)))
    pooled = pool(fits.estimates, fits.covariances, dfcom=fits.dfcom if dfcom is None else dfcom,
                  names=fits.names)
    return pooled if extra is None else dataclasses.replace(pooled, extra=extra())


@dataclass(frozen=True)
class PooledBatch:
    """Per replication, its :class:`Pooled` result; ``batch_pooled[r]``."""

    pooled: tuple

    def __len__(self) -> int:
        return len(self.pooled)

    def __getitem__(self, r: int) -> Any:
        return self.pooled[r]

    def __iter__(self):
        return iter(self.pooled)

    def summary(self, conf_int: bool = True, conf_level: float = 0.95,
                exponentiate: bool = False) -> Any:
        """One long table: each replication's pooled summary (``Pooled.summary``, with the
        same arguments) with a ``rep`` column first (0-based), the input
        :func:`jaxmice.score` reads."""
        pooled = self.pooled
        columns = summary_columns(
            [name for p in pooled for name in p.names],
            *(np.concatenate([np.asarray(getattr(p, a)) for p in pooled])
              for a in ("qbar", "std_error", "df")),
            {a: np.concatenate([getattr(p, a) for p in pooled])
             for a in ("riv", "lambda_", "fmi")},
            conf_int, conf_level, exponentiate)
        reps = np.repeat(np.arange(len(pooled)), [len(p.names) for p in pooled])
        return columns_frame({"rep": reps, **columns})


# ---------------------------------------------------------------------------
# multivariate tests
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TestResult:
    """A pooled test that k parameters are all zero (from :func:`d1_rule`, :func:`d2_rule`).

    Attributes:
        method: ``"D1"`` or ``"D2"``.
        statistic: the F statistic.
        df1: numerator df (the number of tested parameters).
        df2: denominator df.
        p_value: ``P(F(df1, df2) > statistic)``.
        riv: the average relative increase in variance (ARIV, ``r``).
        m: the number of imputations.
        terms: the tested terms (names, or positions when no names were given).
        dfcom: the complete-data df used for df2 (D1 only), or ``None``.
    """

    __test__ = False  # not a pytest class

    method: str
    statistic: float
    df1: int
    df2: float
    p_value: float
    riv: float
    m: int
    terms: tuple = ()
    dfcom: float | None = None

    def summary(self) -> Any:
        """One-row DataFrame ``method, statistic, df1, df2, p_value, riv`` (as mitml's
        ``F.value, df1, df2, P(>F), RIV``)."""
        columns = ["method", "statistic", "df1", "df2", "p_value", "riv"]
        return records_frame([{c: getattr(self, c) for c in columns}], columns)

    def __repr__(self) -> str:
        df = "" if self.dfcom is None else f", dfcom = {self.dfcom:g}"
        return (f"{self.method} test of {list(self.terms)} (m = {self.m}{df}): "
                f"F = {self.statistic:.4f}, df1 = {self.df1}, df2 = {self.df2:.3f}, "
                f"p = {self.p_value:.4g}, RIV = {self.riv:.4f}")


def _test_index(test_index: Any, k: int, names: Sequence | None) -> np.ndarray:
    if test_index is None:
        return np.arange(k)
    if isinstance(test_index, (str, int, np.integer)):
        test_index = [test_index]
    items = test_index.tolist() if isinstance(test_index, np.ndarray) else list(test_index)
    if items and all(isinstance(x, (bool, np.bool_)) for x in items):
        if len(items) != k:
            raise ValueError(f"a boolean test_index needs {k} entries (one per term); got "
                             f"{len(items)}")
        idx = np.flatnonzero(items)
    else:
        idx = []
        for x in items:
            if isinstance(x, str):
                if names is None or x not in names:
                    raise ValueError(f"unknown term {x!r} in test_index"
                                     + ("" if names is None else f"; the terms are {list(names)}"))
                idx.append(list(names).index(x))
            elif isinstance(x, (int, np.integer)) and not isinstance(x, bool):
                if not -k <= x < k:
                    raise ValueError(f"test_index {x} out of range for {k} terms")
                idx.append(int(x) % k)
            else:
                raise TypeError(f"test_index entries must be term positions, names or a "
                                f"boolean mask; got {x!r}")
        idx = np.asarray(idx, dtype=np.int64)
    if len(idx) == 0:
        raise ValueError("test_index selects no terms; there is nothing to test")
    if len(np.unique(idx)) != len(idx):
        raise ValueError(f"test_index repeats a term: {idx.tolist()}")
    return idx


def _tested(estimates: Any, covariances: Any, test_index: Any, names: Sequence | None,
            what: str) -> tuple[np.ndarray, np.ndarray, tuple]:
    q, u, all_names = _as_arrays(estimates, covariances, names)
    m, k = q.shape
    if m < 2:
        raise ValueError(f"{what} needs at least 2 imputations; got m = {m}")
    idx = _test_index(test_index, k, all_names)
    qs, us = q[:, idx], u[:, idx][:, :, idx]
    terms = tuple(all_names[j] for j in idx)
    bad = [terms[j] for j in range(len(idx)) if np.isnan(qs[:, j]).any()]
    if bad:
        raise ValueError(f"tested term(s) {bad} are NaN (not estimated); drop them from the test")
    return qs, us, terms


def li_df2(k: int, m: int, r: float) -> float:
    """Denominator df of the D1 and D3 F tests (Li, Raghunathan and Rubin 1991), as mitml.

    With ``t = k (m - 1)``: ``4 + (t - 4) (1 + (1 - 2/t) / r)^2`` when ``t > 4``, else
    ``t (1 + 1/k) (1 + 1/r)^2 / 2``.

    Args:
        k: the number of tested parameters; m: the number of imputations;
        r: the relative increase in variance due to nonresponse (``r = 0`` gives ``inf``).
    """
    t = k * (m - 1)
    r = np.float64(r)  # numpy scalar: 1 / 0 gives inf, as in R
    with np.errstate(divide="ignore", invalid="ignore"):
        if t > 4:
            return float(4 + (t - 4) * (1 + (1 - 2 / t) / r) ** 2)
        return float(t * (1 + 1 / k) * (1 + 1 / r) ** 2 / 2)


def _reiter_df2(k: int, m: int, r: float, dfcom: float) -> float:
    """Reiter's (2007) small-sample denominator df of D1, as mitml's ``.D1`` with ``df.com``."""
    t = np.float64(k * (m - 1))  # numpy scalars: division by zero gives inf/nan, as in R
    r, dfcom = np.float64(r), np.float64(dfcom)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = r * t / (t - 2)
        vstar = (dfcom + 1) / (dfcom + 3) * dfcom
        c0 = 1 / (t - 4)
        c1 = vstar - 2 * (1 + a)
        c2 = vstar - 4 * (1 + a)
        z = (1 / c2 + c0 * (a**2 * c1 / ((1 + a) ** 2 * c2))
             + c0 * (8 * a**2 * c1 / ((1 + a) * c2**2) + 4 * a**2 / ((1 + a) * c2))
             + c0 * (4 * a**2 / (c2 * c1) + 16 * a**2 * c1 / c2**3)
             + c0 * (8 * a**2 / c2**2))
        return float(4 + 1 / z)


def d1_rule(estimates: Any, covariances: Any, test_index: Any = None, dfcom: float | None = None,
            names: Sequence | None = None) -> TestResult:
    """Multivariate Wald test that the selected parameters are all zero (D1).

    Li, Raghunathan and Rubin (1991), as mitml's ``.D1``: with ``qbar``, ``ubar``, ``b``
    pooled over the tested parameters only, ``r = (1 + 1/m) tr(b ubar^-1) / k``,
    ``F = qbar' ((1 + r) ubar)^-1 qbar / k``; with ``t = k (m - 1)``, ``df2 = 4 + (t - 4)
    (1 + (1 - 2/t) / r)^2`` when ``t > 4``, else ``t (1 + 1/k) (1 + 1/r)^2 / 2``; with
    ``dfcom`` Reiter's (2007) small-sample df2 (as ``df.com``; it assumes ``t > 4``).

    ``testModels(model, null.model, method = "D1")`` is this test on the full model's
    estimates, with ``test_index`` the parameters of ``model`` that are not in
    ``null.model`` (the null model's fits are not otherwise used).

    Args:
        estimates: ``f[m, p]`` the full model's estimates in each imputation.
        covariances: ``f[m, p, p]`` their covariance matrices.
        test_index: the tested parameters: positions, a boolean mask of length p, or names
            (with ``names``); ``None`` tests all.
        dfcom: the complete-data df of the model, for Reiter's df2; ``None``: Li et al.'s df2.
        names: the parameter names (optional).

    Returns:
        A :class:`TestResult`.
    """
    qs, us, terms = _tested(estimates, covariances, test_index, names, "D1")
    dfcom = _check_dfcom(dfcom)
    m, k = qs.shape
    qbar = qs.mean(axis=0)
    ubar = us.mean(axis=0)
    dev = qs - qbar
    b = dev.T @ dev / (m - 1)
    try:
        r = np.float64((1 + 1 / m) * np.trace(np.linalg.solve(ubar, b)) / k)
        stat = float(qbar @ np.linalg.solve((1 + r) * ubar, qbar) / k)
    except np.linalg.LinAlgError as err:
        raise ValueError(f"the mean covariance matrix of the tested terms {list(terms)} is "
                         "singular; the D1 test needs it invertible") from err
    t = k * (m - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if dfcom is not None:
            if t <= 4:
                warnings.warn(f"Reiter's small-sample df2 assumes k (m - 1) > 4; here it is "
                              f"{t} (k = {k}, m = {m}): df2 follows mitml's formula but is "
                              "unreliable; use more imputations", stacklevel=2)
            df2 = _reiter_df2(k, m, r, dfcom)
        else:
            df2 = li_df2(k, m, r)
    return TestResult(method="D1", statistic=stat, df1=k, df2=df2,
                      p_value=tail_f(stat, k, df2), riv=float(r), m=m, terms=terms,
                      dfcom=dfcom)


def D2_from_statistics(statistics: Any, df1: int, terms: Sequence = ()) -> TestResult:
    """Combine per-imputation chi-square statistics ``d_1 .. d_m`` on ``df1`` df (D2).

    Li, Meng, Raghunathan and Rubin (1991), as mitml's ``.D2``:
    ``r = (1 + 1/m) var(sqrt(d))`` (divisor m - 1), ``F = (mean(d)/k - (m + 1)/(m - 1) r) /
    (1 + r)``, ``df2 = k^(-3/m) (m - 1) (1 + 1/r)^2``. ``F`` can be negative (p-value 1).

    Args:
        statistics: ``f[m]`` Wald or likelihood-ratio chi-square statistics, one per
            imputation.
        df1: their degrees of freedom k.
        terms: the tested terms, for the result's label.
    """
    d = np.asarray(statistics, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"statistics has shape {d.shape}; expected f[m]")
    m = len(d)
    if m < 2:
        raise ValueError(f"D2 needs at least 2 imputations; got m = {m}")
    if not np.isfinite(d).all():
        raise ValueError(f"statistics must be finite; got {d.tolist()}")
    if (d < 0).any():
        raise ValueError(f"chi-square statistics must be >= 0; got {d.tolist()}")
    k = int(df1)
    if k != df1 or k < 1:
        raise ValueError(f"df1 must be a positive integer; got {df1}")
    r = np.float64((1 + 1 / m) * np.var(np.sqrt(d), ddof=1))  # numpy: 1/0 gives inf
    stat = float((d.mean() / k - (m + 1) / (m - 1) * r) / (1 + r))
    with np.errstate(divide="ignore"):
        df2 = float(k ** (-3 / m) * (m - 1) * (1 + 1 / r) ** 2)
    return TestResult(method="D2", statistic=stat, df1=k, df2=df2,
                      p_value=tail_f(stat, k, df2), riv=float(r), m=m, terms=tuple(terms))


def d2_rule(estimates: Any, covariances: Any, test_index: Any = None,
            names: Sequence | None = None) -> TestResult:
    """Combined Wald test that the selected parameters are all zero (D2, ``use = "wald"``).

    As ``mitml::testModels(model, null.model, method = "D2", use = "wald")``: the Wald
    statistic ``d_l = q_l' U_l^-1 q_l`` of the tested parameters in each imputation (not
    divided by k), combined by :func:`D2_from_statistics`. mitml has no complete-data df
    for D2 (it ignores ``df.com``), so neither does this.

    Args:
        estimates: ``f[m, p]`` the full model's estimates in each imputation.
        covariances: ``f[m, p, p]`` their covariance matrices.
        test_index: the tested parameters (positions, boolean mask, or names with
            ``names``); ``None`` tests all.
        names: the parameter names (optional).
    """
    qs, us, terms = _tested(estimates, covariances, test_index, names, "D2")
    d = np.empty(len(qs))
    for i in range(len(qs)):
        try:
            d[i] = qs[i] @ np.linalg.solve(us[i], qs[i])
        except np.linalg.LinAlgError as err:
            raise ValueError(f"the covariance matrix of the tested terms {list(terms)} is "
                             f"singular in imputation {i + 1}") from err
    return D2_from_statistics(d, qs.shape[1], terms=terms)
