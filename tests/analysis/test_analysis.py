"""imp.fit / imp.analyze / complete-case fits and their pooled tables, end to end."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm

ANALYSIS = "popular ~ 1 + sex + texp + (1 | school)"
COLUMNS = ["term", "estimate", "std_error", "statistic", "df", "p_value", "conf_low",
           "conf_high", "riv", "lambda_", "fmi"]


@pytest.fixture(scope="module")
def popmis():
    return jm.datasets.load_popmis()[["school", "popular", "sex", "texp"]]


@pytest.fixture(scope="module")
def imp(popmis):
    return jm.mice(popmis, m=5, maxit=5, method={"popular": "2l.pan"},
                   predictor_matrix=jm.make_predictor_matrix(popmis, cluster="school"), seed=8,
                   progress=False)


def test_fit_equals_lmer_on_completed_frames(imp):
    fits = imp.fit(ANALYSIS)
    frames = jm.lmer(ANALYSIS, imp.complete("all"))
    np.testing.assert_allclose(fits.beta, frames.beta, rtol=1e-10)
    np.testing.assert_allclose(fits.vcov, frames.vcov, rtol=1e-10)
    pooled = fits.pool()
    table = pooled.summary()
    assert list(table.columns) == COLUMNS
    assert list(table.term) == ["(Intercept)", "sex", "texp"]
    # Rubin's rules by hand
    qbar = fits.beta.mean(0)
    ubar = np.diagonal(fits.vcov, axis1=1, axis2=2).mean(0)
    b = fits.beta.var(0, ddof=1)
    np.testing.assert_allclose(table.estimate, qbar)
    np.testing.assert_allclose(table.std_error, np.sqrt(ubar + 1.2 * b))
    assert set(pooled.extra.index) == {"Intercept~~Intercept|school", "Residual~~Residual",
                                       "ICC|school"}


def test_complete_case_fit_uses_the_complete_rows(imp, popmis):
    cc = imp.complete_case_fit(ANALYSIS)
    direct = jm.lmer(ANALYSIS, popmis)  # lme4's na.omit
    assert cc.nobs == popmis.popular.notna().sum() == direct.nobs
    np.testing.assert_allclose(cc.fixed, direct.fixed, rtol=1e-10)


def test_analyze_with_a_user_function(imp):
    def ols(df):  # (estimates, covariance) of a hand-written regression
        x = np.column_stack([np.ones(len(df)), df.sex, df.texp])
        beta, *_ = np.linalg.lstsq(x, df.popular.to_numpy(), rcond=None)
        resid = df.popular.to_numpy() - x @ beta
        cov = resid @ resid / (len(df) - 3) * np.linalg.inv(x.T @ x)
        return pd.Series(beta, index=["(Intercept)", "sex", "texp"]), cov

    analyses = imp.analyze(ols, progress=False)
    regression = imp.fit("popular ~ sex + texp")
    np.testing.assert_allclose(analyses.estimates, regression.beta, rtol=1e-8)
    np.testing.assert_allclose(analyses.covariances, regression.vcov, rtol=1e-8)
    # no dfcom from a tuple: the large-sample df; the regression knows n - p
    assert analyses.pool().summary().df.iloc[0] > regression.pool().summary().df.iloc[0]


def test_analyze_terms_must_agree(imp):
    calls = iter(range(10))

    def unstable(df):
        names = ["a", "b"] if next(calls) == 0 else ["a", "c"]
        return pd.Series([1.0, 2.0], index=names), np.eye(2)

    with pytest.raises(ValueError, match=r"\['b', 'c'\]"):
        imp.analyze(unstable, progress=False)


def test_one_imputation_says_so(popmis):
    single = jm.mice(popmis, m=1, maxit=2, method={"popular": "2l.pan"},
                     predictor_matrix=jm.make_predictor_matrix(popmis, cluster="school"),
                     seed=1, progress=False)
    fits = single.fit(ANALYSIS)
    with pytest.warns(UserWarning, match="one imputed data set"):
        pooled = fits.pool()
    np.testing.assert_allclose(pooled.summary().std_error, fits.se.iloc[0])


def test_identical_imputations_give_finite_df(popmis):
    complete = popmis.dropna()
    fits = jm.lmer(ANALYSIS, [complete] * 3)  # B = 0 up to rounding
    table = fits.pool().summary()
    assert np.isfinite(table.df).all() and (table.df > 1e6).all()
    # XLA may round the members of a batch differently in the last bits (riv ~1e-29)
    np.testing.assert_allclose(table.riv, 0.0, atol=1e-20)


def test_glmm_pooled_odds_ratios():
    impact = jm.datasets.load_impact(incomplete=True)
    impact = impact[impact.name.isin(["TIUS", "SLIN", "TCDB", "APOE"])].reset_index(drop=True)
    cols = ["name", "type", "age", "motor_score", "pupil", "ct", "mort"]
    pred = jm.make_predictor_matrix(impact[cols])
    pred.loc[:, "name"] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = jm.mice(impact[cols], m=3, maxit=2, predictor_matrix=pred, seed=2,
                      progress=False)
        fits = imp.fit("mort ~ type + age + motor_score + pupil + ct + (1 | name)",
                       family="binomial")
    table = fits.pool().summary(exponentiate=True).set_index("term")
    linear = fits.pool().summary().set_index("term")
    np.testing.assert_allclose(table.estimate, np.exp(linear.estimate))
    np.testing.assert_allclose(table.conf_low, np.exp(linear.conf_low))
    np.testing.assert_allclose(table.conf_high, np.exp(linear.conf_high))
    assert "ctIV/V" in table.index and table.loc["age", "estimate"] > 1.0


def test_case_study_one_three_strategies(popmis):
    """Case study I at small m: ignoring the school shrinks the pooled ICC, fixed school
    dummies inflate it, the multilevel model sits between; the fixed effects agree."""
    ignore = jm.make_predictor_matrix(popmis)
    ignore.loc[:, "school"] = 0
    dummies = popmis.assign(school=popmis.school.astype("category"))
    runs = {
        "ignore": jm.mice(popmis, m=5, maxit=5, method={"popular": "pmm"},
                          predictor_matrix=ignore, seed=1, progress=False),
        "dummies": jm.mice(dummies, m=5, maxit=5, method={"popular": "norm"},
                           predictor_matrix=jm.make_predictor_matrix(dummies), seed=1,
                           progress=False),
        "multilevel": jm.mice(popmis, m=5, maxit=5, method={"popular": "2l.pan"},
                              predictor_matrix=jm.make_predictor_matrix(popmis, "school"),
                              seed=1, progress=False),
    }
    pooled = {k: imp.fit(ANALYSIS).pool() for k, imp in runs.items()}
    icc = {k: p.extra["ICC|school"] for k, p in pooled.items()}
    assert icc["ignore"] < icc["multilevel"] < icc["dummies"]
    assert icc["multilevel"] == pytest.approx(0.4958, abs=0.03)  # R's 2l.pan
    texp = {k: p.summary().set_index("term").loc["texp", "estimate"] for k, p in pooled.items()}
    assert max(texp.values()) - min(texp.values()) < 0.01
    for p in pooled.values():
        assert math.isfinite(p.summary().fmi.sum())
