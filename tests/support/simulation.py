"""Known-truth simulation harness shared by the simulation test modules (not a test module).

A :class:`Case` is one scenario (a generator of complete and amputed data) with one imputation
method. :func:`replicate` imputes one replication m times, fits the analysis model to the m
completed data sets and to the data before amputation as one lmer batch (one glmer batch for a
case with a ``family``), and pools with Rubin's rules (Barnard-Rubin df, dfcom = n - p, 95% t
intervals; the complete data get the same t interval with dfcom). Variance components are
pooled as the mean over imputations (mitml); a glmer fit has no residual variance.
:func:`simulate` runs many replications and summarises coverage and the relative bias of the
variance components, for the imputed and the complete data.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

import jaxmice as jm

VARIANCES = ("tau2", "tau2_x", "tau01", "sigma2")


def logistic(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class Case:
    """One scenario with one imputation method.

    Attributes:
        generate: ``rng -> (complete, amputed)`` data frames, cluster column ``g``.
        codes: predictor codes of the target's row (besides the cluster's -2; others 0).
        truth: fixed effects by term, variance components by name (:data:`VARIANCES`).
        between: cluster-level fixed-effect terms: their complete-data df is the number of
            clusters less the number of such terms (the between-within rule of nlme), not
            n - p, which makes their t intervals too narrow with few clusters.
        family: None for lmer, else glmer's family (``"binomial"``, ``"poisson"``).
        kinds: ``jm.mice``'s kinds (e.g. ``{"n": "count"}``).
    """

    name: str
    generate: Callable[[np.random.Generator], tuple[pd.DataFrame, pd.DataFrame]]
    method: str
    target: str
    codes: dict
    formula: str
    truth: dict
    seed: int
    options: dict = field(default_factory=dict)
    m: int = 10
    maxit: int = 10
    between: tuple = ()
    family: str | None = None
    kinds: dict = field(default_factory=dict)


def rubin(q: np.ndarray, u: np.ndarray, dfcom: float) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]:
    """Rubin's rules for estimates ``q: f[m, p]`` with variances ``u: f[m, p]``.

    Returns Q-bar, T = U-bar + (1 + 1/m) B and the Barnard-Rubin degrees of freedom (as mice's
    ``pool``: ``dfcom`` is the complete-data degrees of freedom).
    """
    m = q.shape[0]
    qbar, ubar, b = q.mean(axis=0), u.mean(axis=0), q.var(axis=0, ddof=1)
    t = ubar + (1.0 + 1.0 / m) * b
    lam = np.clip((1.0 + 1.0 / m) * b / t, 1e-12, None)
    df_old = (m - 1) / lam**2
    df_obs = (dfcom + 1.0) / (dfcom + 3.0) * dfcom * (1.0 - lam)
    return qbar, t, df_old * df_obs / (df_old + df_obs)


def t_interval(est: np.ndarray, var: np.ndarray, df: np.ndarray) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    half = stats.t.ppf(0.975, df) * np.sqrt(var)
    return est - half, est + half


def variance_components(fits) -> dict[str, np.ndarray]:
    """Random-effects covariance and residual variance per fit (f[B] each), from theta and
    sigma as lme4's ``VarCorr``: Psi = sigma^2 Lambda Lambda' (glmer: sigma = 1, and no
    residual variance)."""
    s2, th = fits.sigma**2, fits.theta
    out = {"tau2": s2 * th[:, 0] ** 2}
    if fits.family == "gaussian":
        out["sigma2"] = s2
    if th.shape[1] == 3:  # (1 + x | g): theta is Lambda's lower triangle column by column
        out["tau01"] = s2 * th[:, 0] * th[:, 1]
        out["tau2_x"] = s2 * (th[:, 1] ** 2 + th[:, 2] ** 2)
    return out


def predictor_matrix(case: Case, df: pd.DataFrame) -> pd.DataFrame:
    """The target's row: ``case.codes``, others 0, the cluster -2 unless ``codes`` gives ``g``
    (``{"g": 0}``: a single-level method that ignores the clusters)."""
    pred = jm.make_predictor_matrix(df, cluster="g")
    for other in df.columns:
        if other != case.target:
            pred.loc[case.target, other] = case.codes.get(other, -2 if other == "g" else 0)
    return pred


def impute(case: Case, df: pd.DataFrame, seed: int) -> jm.Imputations:
    """The case's imputation of ``df``."""
    return jm.mice(df, m=case.m, maxit=case.maxit, method={case.target: case.method},
                   predictor_matrix=predictor_matrix(case, df), seed=seed, progress=False,
                   method_options={case.target: case.options} if case.options else None,
                   kinds=case.kinds or None)


def pooled_fits(formula: str, completed: list[pd.DataFrame], full: pd.DataFrame,
                family: str | None = None):
    """One lmer batch (glmer with a ``family``) over the completed data sets and the data
    before amputation (last)."""
    frames = [*completed, full]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jm.models.SingularFitWarning)
        fits = jm.lmer(formula, frames) if family is None else jm.glmer(formula, frames, family)
    assert fits.nobs == len(full) and fits.n_omitted == 0  # no row left incomplete
    return fits


@dataclass
class Replication:
    """One replication's outcome: per fixed effect, whether the intervals cover the truth;
    per variance component, the pooled estimate; for imputed and complete data."""

    covered: dict
    covered_complete: dict
    variances: dict
    variances_complete: dict
    estimates: dict
    missing: float


def replicate(case: Case, rep: int) -> Replication:
    full, df = case.generate(np.random.default_rng([case.seed, rep]))
    imp = impute(case, df, seed=1000 * case.seed + rep)
    fits = pooled_fits(case.formula, imp.complete("all"), full, case.family)
    m = case.m
    names = list(fits.fixed_names)
    n_between = len(case.between)
    dfcom = np.array([full["g"].nunique() - n_between if k in case.between
                      else len(full) - len(names) for k in names], float)
    qbar, t, df_br = rubin(fits.beta[:m], np.diagonal(fits.vcov[:m], axis1=1, axis2=2), dfcom)
    low, high = t_interval(qbar, t, df_br)
    c_low, c_high = t_interval(fits.beta[m], np.diag(fits.vcov[m]), dfcom)
    truth = np.array([case.truth[k] for k in names])
    components = variance_components(fits)
    fmi = (1 + 1 / m) * fits.beta[:m].var(axis=0, ddof=1) / t
    return Replication(
        covered=dict(zip(names, (low <= truth) & (truth <= high), strict=True)),
        covered_complete=dict(zip(names, (c_low <= truth) & (truth <= c_high), strict=True)),
        variances={k: float(v[:m].mean()) for k, v in components.items()},
        variances_complete={k: float(v[m]) for k, v in components.items()},
        estimates={**dict(zip(names, qbar, strict=True)),
                   **{f"se {k}": float(np.sqrt(v)) for k, v in zip(names, t, strict=True)},
                   **{f"df {k}": float(v) for k, v in zip(names, df_br, strict=True)},
                   **{f"fmi {k}": float(v) for k, v in zip(names, fmi, strict=True)}},
        missing=float(df[case.target].isna().mean()),
    )


@dataclass
class Summary:
    """Over replications: coverage per fixed effect; per variance component the relative bias
    against the truth, and ``rel_diff`` (the imputed data's mean against the complete data's
    mean on the same replications) with its Monte Carlo standard error ``rel_diff_se``."""

    case: Case
    n_reps: int
    seconds: float
    coverage: dict
    coverage_complete: dict
    rel_bias: dict  # (mean pooled estimate - truth) / truth
    rel_bias_complete: dict
    rel_diff: dict  # mean pooled / mean complete - 1, same replications
    rel_diff_se: dict
    missing: float
    fmi: dict  # mean (1 + 1/m) B / T per fixed effect
    reps: list = field(repr=False, default_factory=list)

    def row(self) -> str:
        cov = " ".join(f"{k}={self.coverage[k]:.3f}({self.coverage_complete[k]:.3f}"
                       f"; fmi {self.fmi[k]:.2f})" for k in self.coverage)
        var = " ".join(f"{k}={self.rel_bias[k]:+.3f}({self.rel_bias_complete[k]:+.3f}; "
                       f"vs complete {self.rel_diff[k]:+.3f}+-{self.rel_diff_se[k]:.3f})"
                       for k in self.rel_bias)
        return (f"{self.case.name:22s} {self.case.method:8s} reps={self.n_reps} "
                f"miss={self.missing:.2f} cover: {cov} | rel.bias: {var} | "
                f"{self.seconds:.0f}s")


def simulate(case: Case, n_reps: int) -> Summary:
    start = time.perf_counter()
    reps = [replicate(case, r) for r in range(n_reps)]
    seconds = time.perf_counter() - start

    def mean(attr: str) -> dict:
        return {k: float(np.mean([getattr(r, attr)[k] for r in reps]))
                for k in getattr(reps[0], attr)}

    variances, complete = mean("variances"), mean("variances_complete")
    keys = [k for k in VARIANCES if k in variances]
    imputed = {k: np.array([r.variances[k] for r in reps]) for k in keys}
    whole = {k: np.array([r.variances_complete[k] for r in reps]) for k in keys}
    # delta method for mean(a) / mean(c) - 1 over paired replications
    ratio_se = {k: float(np.std(imputed[k] - (imputed[k].mean() / whole[k].mean()) * whole[k],
                                ddof=1) / np.sqrt(n_reps) / abs(whole[k].mean())) for k in keys}
    return Summary(
        case=case, n_reps=n_reps, seconds=seconds, coverage=mean("covered"),
        coverage_complete=mean("covered_complete"),
        rel_bias={k: variances[k] / case.truth[k] - 1.0 for k in keys},
        rel_bias_complete={k: complete[k] / case.truth[k] - 1.0 for k in keys},
        rel_diff={k: variances[k] / complete[k] - 1.0 for k in keys},
        rel_diff_se=ratio_se,
        missing=float(np.mean([r.missing for r in reps])),
        fmi={k: float(np.mean([r.estimates[f"fmi {k}"] for r in reps])) for k in reps[0].covered},
        reps=reps,
    )


def case_id(case: Case) -> str:
    return f"{case.name.split()[0]}-{case.method}"
