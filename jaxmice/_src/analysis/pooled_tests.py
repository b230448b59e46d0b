"""Pooled tests of nested models fitted to multiply imputed data (mitml's ``testModels``).

``jm.D4`` (Chan and Meng 2019) is the likelihood-ratio test on the stacked data sets.

``jm.D1(fits, null_fits)`` (multivariate Wald, Li, Raghunathan and Rubin 1991), ``jm.D2``
(combined Wald statistics, Li, Meng, Raghunathan and Rubin 1991) and ``jm.D3`` (pooled
likelihood ratio, Meng and Rubin 1992) take the batched fits of ``imp.fit`` (or
``jm.lmer(formula, frames)``); the parameters tested are those of the larger model that the
smaller lacks. Given arrays instead (``estimates: f[m, k]``, ``covariances: f[m, k, k]``,
``test_index``, ``names``), ``D1`` and ``D2`` apply the rules of :mod:`jaxmice.pool` to them:
one entry point per test.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxmice._src.analysis import pool as rules
from jaxmice._src.analysis.fitted import MixedModels
from jaxmice._src.analysis.likelihood import d3_likelihoods, d4_likelihoods
from jaxmice._src.analysis.pool import Fits, TestResult
from jaxmice._src.runtime.precision import in_float64


def _tested(fits: Fits, null_fits: Fits) -> list[int]:
    """Positions of the parameters of ``fits`` that ``null_fits`` lacks."""
    if not isinstance(null_fits, Fits):
        raise TypeError(f"null_fits must be fits of the smaller model, like fits, got "
                        f"{type(null_fits).__name__}")
    m, m0 = len(fits.estimates), len(null_fits.estimates)
    if m != m0:
        raise ValueError(f"the models were fitted to {m} and {m0} data sets")
    tested = [i for i, name in enumerate(fits.names) if name not in null_fits.names]
    if not tested or not set(null_fits.names) <= set(fits.names):
        larger = getattr(fits, "formula", "the larger model")
        smaller = getattr(null_fits, "formula", "the smaller model")
        raise ValueError(f"{smaller!r} is not nested in {larger!r}: the larger "
                         "model must have every parameter of the smaller and more")
    return tested


@in_float64
def D1(fits: Any, null_fits: Any = None, test_index: Any = None, *,
       dfcom: float | None = None, names: Any = None) -> TestResult:
    """Multivariate Wald test (D1) of the fixed effects in ``fits`` but not in ``null_fits``.

    Args:
        fits, null_fits: fits of the larger and the smaller model that keep the results
            protocol (:class:`~jaxmice._src.analysis.pool.Fits`: ``imp.fit(...)``,
            ``imp.analyze(...)``, ``jm.lmer(formula, frames)``); or arrays ``estimates:
            f[m, k]`` and ``covariances: f[m, k, k]``, with ``test_index`` (positions or
            names) and ``names`` (:func:`jaxmice._src.analysis.pool.d1_rule`).
        dfcom: complete-data df (Reiter's small-sample df2), as mitml's ``df.com``.
    """
    if not isinstance(fits, Fits):
        return rules.d1_rule(fits, null_fits, test_index, dfcom=dfcom, names=names)
    _no_arrays_arguments(test_index, names)
    return rules.d1_rule(fits.estimates, fits.covariances, test_index=_tested(fits, null_fits),
                         dfcom=dfcom, names=fits.names)


@in_float64
def D2(fits: Any, null_fits: Any = None, test_index: Any = None, *, names: Any = None
       ) -> TestResult:
    """Combined Wald statistics (D2) for the fixed effects in ``fits`` but not in
    ``null_fits`` (mitml's ``use = "wald"``); or arrays, as for :func:`D1`
    (:func:`jaxmice._src.analysis.pool.d2_rule`)."""
    if not isinstance(fits, Fits):
        return rules.d2_rule(fits, null_fits, test_index, names=names)
    _no_arrays_arguments(test_index, names)
    return rules.d2_rule(fits.estimates, fits.covariances, test_index=_tested(fits, null_fits),
                         names=fits.names)


def _refittable(test: str, *fits: Any) -> None:
    """D3 and D4 evaluate likelihoods at other parameters (refits): jaxmice's own fits only."""
    for f in fits:
        if not isinstance(f, MixedModels):
            raise TypeError(f"{test} evaluates the models' likelihoods at pooled parameters, so "
                            "it takes the fits jaxmice made (imp.fit(...), jm.lmer(...)), not "
                            f"{type(f).__name__}; D1 and D2 take any fits")


def _no_arrays_arguments(test_index: Any, names: Any) -> None:
    if test_index is not None or names is not None:
        raise TypeError("test_index and names are for arrays; with fitted models the "
                        "parameters tested are those of the larger model the smaller lacks")


@in_float64
def D3(fits: MixedModels, null_fits: MixedModels) -> TestResult:
    """Pooled likelihood-ratio test (D3; Meng and Rubin 1992) of ``null_fits`` against
    ``fits``, as mitml's ``testModels(method = "D3")``: REML fits are refitted by ML, the
    likelihoods are evaluated at each data set's own estimates and at the pooled ones.

    Linear models only (``lm`` and ``lmer`` fits).
    """
    _refittable("D3", fits, null_fits)
    _tested(fits, null_fits)
    own, pooled, k_full = d3_likelihoods(fits)
    own0, pooled0, k_null = d3_likelihoods(null_fits)
    m = len(fits)
    k = k_full - k_null
    d_bar = float(np.mean(-2.0 * (own0 - own)))
    d_tilde = float(np.mean(-2.0 * (pooled0 - pooled)))
    r = (m + 1) / (k * (m - 1)) * (d_bar - d_tilde)
    statistic = d_tilde / (k * (1 + r))
    df2 = rules.li_df2(k, m, r)
    terms = tuple(fits.fixed_names[i] for i in _tested(fits, null_fits))
    return TestResult(method="D3", statistic=statistic, df1=k, df2=df2,
                      p_value=rules.tail_f(statistic, k, df2), riv=r, m=m, terms=terms)


#: D4's estimators of the average relative increase in variance (mitml's ``ariv``)
ARIV = ("default", "positive", "robust")


@in_float64
def D4(fits: MixedModels, null_fits: MixedModels, ariv: str = "default") -> TestResult:
    """Pooled likelihood-ratio test of Chan and Meng (2019) (D4) of ``null_fits`` against
    ``fits``, as mitml's ``testModels(method = "D4", ariv = ...)``: the likelihood ratio of
    one fit to all completed data sets stacked (each data set's clusters its own), against
    the mean of the data sets' own likelihood ratios. REML fits are refitted by ML.

    Args:
        fits, null_fits: batched fits of the larger and the smaller linear model (``lm`` or
            ``lmer``; other families: D1 or D2).
        ariv: the estimator of the average relative increase in variance: ``"default"``
            (from the likelihood ratios; may be negative), ``"positive"`` (floored at 0) or
            ``"robust"`` (from the full model's likelihoods alone, with its parameter count:
            it does not depend on the null model).
    """
    if ariv not in ARIV:
        raise ValueError(f"ariv must be one of {ARIV}, got {ariv!r}")
    _refittable("D4", fits, null_fits)
    tested = _tested(fits, null_fits)
    own, stacked, h = d4_likelihoods(fits)
    own0, stacked0, h_null = d4_likelihoods(null_fits)
    m = len(fits)
    k = h - h_null
    d_bar = float(np.mean(-2.0 * (own0 - own)))
    d_hat = -2.0 * (stacked0 - stacked)
    if ariv == "robust":
        r = (m + 1) / (h * (m - 1)) * (2.0 * float(np.mean(own)) - 2.0 * stacked)
        df2 = h * (m - 1) * (1 + 1 / r) ** 2
    else:
        r = (m + 1) / (k * (m - 1)) * (d_bar - d_hat)
        if ariv == "positive":
            r = max(0.0, r)
        df2 = k * (m - 1) * (1 + 1 / r) ** 2 if r != 0 else float("inf")
    statistic = d_hat / (k * (1 + r))
    return TestResult(method="D4", statistic=statistic, df1=k, df2=df2,
                      p_value=rules.tail_f(statistic, k, df2), riv=r, m=m,
                      terms=tuple(fits.fixed_names[i] for i in tested))
