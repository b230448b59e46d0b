"""jaxmice._src.analysis.pool (Rubin's rules, D1, D2) against mice::pool and
mitml::testEstimates/testModels.

The per-imputation estimates and covariances, and R's results, come from
tests/r/make_pool_reference.R (tests/data/pool_reference.json): no R and no imputation here.
The formulas are the same, so agreement is to rounding.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from jaxmice import D1, D2
from jaxmice._src.analysis.pool import D2_from_statistics, Pooled, TestResult, pool

REF = json.loads((Path(__file__).parents[1] / "data" / "pool_reference.json").read_text())
CASES = REF["cases"]
TESTS = [(case, label) for case in CASES for label in CASES[case]["tests"]]

EST, SE, DF = 1e-10, 1e-8, 1e-6  # relative tolerances: estimates, standard errors, df / fmi


def inputs(case: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    c = CASES[case]
    return np.array(c["estimates"]), np.array(c["covariances"]), c["names"]


def close(actual, expected, rtol, atol=0.0):
    np.testing.assert_allclose(np.asarray(actual, dtype=float),
                               np.asarray(expected, dtype=float), rtol=rtol, atol=atol)


def p_close(actual, expected):
    # mitml computes 2 * (1 - pt(|t|, df)), which loses relative precision for tiny p-values
    close(actual, expected, rtol=1e-7, atol=1e-13)


@pytest.mark.parametrize("case", list(CASES))
def test_reference_data_shapes(case):
    q, u, names = inputs(case)
    m = CASES[case]["m"]
    assert q.shape == (m, len(names)) and u.shape == (m, len(names), len(names))


# ---------------------------------------------------------------------------
# Rubin's rules
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("with_dfcom", [False, True])
def test_pool_matches_mitml_testEstimates(case, with_dfcom):
    q, u, names = inputs(case)
    c = CASES[case]
    ref = c["testEstimates_dfcom" if with_dfcom else "testEstimates"]
    p = pool(q, u, dfcom=c["df_com"] if with_dfcom else None, names=names)
    assert p.names == tuple(names) and p.m == c["m"]
    close(p.qbar, ref["estimate"], EST)
    close(p.std_error, ref["std_error"], SE)
    close(p.t, ref["t"], SE)
    close(p.statistic, ref["statistic"], SE)
    close(p.df, ref["df"], DF)
    close(p.riv, ref["riv"], DF)
    close(p.fmi, ref["fmi"], DF)
    p_close(p.p_value, ref["p_value"])
    s = p.summary()
    close(s["estimate"], ref["estimate"], EST)
    close(s["std_error"], ref["std_error"], SE)
    close(s["df"], ref["df"], DF)
    p_close(s["p_value"], ref["p_value"])


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("which", ["mice_pool_default", "mice_pool_dfcom"])
def test_pool_matches_mice_pool(case, which):
    q, u, names = inputs(case)
    ref = CASES[case][which]
    assert ref["term"] == names
    p = pool(q, u, dfcom=ref["dfcom"], names=names)
    close(p.qbar, ref["qbar"], EST)
    close(np.diagonal(p.ubar), ref["ubar"], SE)
    close(np.diagonal(p.b), ref["b"], SE)
    close(np.diagonal(p.t), ref["t"], SE)
    close(p.df, ref["df"], DF)
    close(p.riv, ref["riv"], DF)
    close(p.lambda_, ref["lambda"], DF)
    close(p.fmi, ref["fmi"], DF)
    s = p.summary(conf_int=True, conf_level=0.95)
    assert list(s.columns) == ["term", "estimate", "std_error", "statistic", "df", "p_value",
                               "conf_low", "conf_high", "riv", "lambda_", "fmi"]
    assert list(s["term"]) == names
    close(s["std_error"], ref["std_error"], SE)
    close(s["statistic"], ref["statistic"], SE)
    close(s["p_value"], ref["p_value"], 1e-7)
    close(s["conf_low"], ref["conf_low"], SE)
    close(s["conf_high"], ref["conf_high"], SE)


def test_mice_default_dfcom_for_lmer_is_nobs_minus_all_parameters():
    """mice::pool takes dfcom from broom.mixed's glance(): nobs - (3 fixed + 2 variance
    parameters) for lmer(popular ~ sex + texp + (1 | school)); not the cluster count."""
    c = CASES["lmer_popmis"]
    assert c["mice_pool_default"]["dfcom"] == c["nobs"] - 5


@pytest.mark.parametrize("case", list(CASES))
def test_exponentiate(case):
    q, u, names = inputs(case)
    ref = CASES[case]["mice_pool_dfcom"]
    p = pool(q, u, dfcom=ref["dfcom"], names=names)
    lin = p.summary()
    s = p.summary(exponentiate=True)
    close(s["estimate"], ref["exp_estimate"], EST)
    close(s["conf_low"], ref["exp_conf_low"], SE)
    close(s["conf_high"], ref["exp_conf_high"], SE)
    # mice leaves std.error on the linear scale; jaxmice uses the delta method
    close(ref["exp_std_error"], lin["std_error"], SE)
    close(s["std_error"], np.exp(p.qbar) * p.std_error, 1e-12)
    for col in ("statistic", "df", "p_value", "riv", "lambda_", "fmi"):
        close(s[col], lin[col], 0)


def test_summary_without_interval_and_other_level():
    q, u, names = inputs("lm_nhanes2")
    p = pool(q, u, dfcom=20, names=names)
    s = p.summary(conf_int=False)
    assert list(s.columns) == ["term", "estimate", "std_error", "statistic", "df", "p_value",
                               "riv", "lambda_", "fmi"]
    from scipy import stats
    s90 = p.summary(conf_level=0.9)
    crit = stats.t.ppf(0.95, p.df)
    close(s90["conf_high"] - s90["estimate"], crit * p.std_error, 1e-12)
    with pytest.raises(ValueError, match="conf_level"):
        p.summary(conf_level=95)


def test_repr_prints_the_table_and_extra():
    q, u, names = inputs("lm_nhanes2")
    p = pool(q, u, dfcom=20, names=names)
    text = repr(p)
    assert "m = 5" in text and "dfcom = 20" in text and "age40-59" in text and "fmi" in text
    assert len(p.extra) == 0 and p.extra.dtype == np.float64
    p.extra["sigma"] = 1.5  # the caller fills pooled extra parameters
    assert "sigma" in repr(p)
    assert len(pool(q, u).extra) == 0  # a fresh Series per result


def test_pooled_is_frozen():
    q, u, names = inputs("lm_nhanes2")
    p = pool(q, u, names=names)
    assert isinstance(p, Pooled)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.m = 3
    with pytest.raises(ValueError):
        p.qbar[0] = 0.0


def test_default_names_and_frame_columns():
    import pandas as pd

    q, u, names = inputs("lm_nhanes2")
    assert pool(q, u).names == tuple(f"Parameter.{j}" for j in range(1, 6))
    assert pool(pd.DataFrame(q, columns=names), u).names == tuple(names)


def test_variances_are_diagonal_covariances():
    q, u, names = inputs("lm_nhanes2")
    diag = np.diagonal(u, axis1=1, axis2=2)
    a = pool(q, diag, dfcom=20)
    b = pool(q, u * np.eye(len(names)), dfcom=20)
    close(a.t, b.t, 0)
    close(a.df, b.df, 0)


def test_between_variance_zero():
    """Identical estimates in every imputation: B = 0 exactly; lambda is floored at 1e-4
    for the df (as mice), so df is finite and fmi follows its formula."""
    q = np.tile([1.0, -2.0, 0.5], (5, 1))
    u = np.tile(np.array([[0.5, 0.1, 0.0], [0.1, 1.0, 0.2], [0.0, 0.2, 2.0]]), (5, 1, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = pool(q, u)
        p20 = pool(q, u, dfcom=20)
        s = p20.summary()
    assert np.all(p.b == 0) and np.all(p.riv == 0) and np.all(p.lambda_ == 0)
    close(p.t, u[0], 0)
    close(p.df, np.full(3, 4 / 1e-8), 1e-12)  # (m - 1) / 1e-4^2
    close(p.fmi, 2 / (p.df + 3), 1e-12)
    dfobs = 21 / 23 * 20 * (1 - 1e-4)
    df = 4e8 * dfobs / (4e8 + dfobs)
    close(p20.df, np.full(3, df), 1e-12)
    close(p20.fmi, 2 / (df + 3), 1e-12)
    assert np.isfinite(s.drop(columns="term").to_numpy()).all()
    r = D1(q, u, [1, 2])  # mitml does not floor: r = 0 gives df2 = inf (chi-square limit)
    assert r.riv == 0 and r.df2 == np.inf and 0 < r.p_value < 1
    assert D2(q, u, [1, 2]).df2 == np.inf


def test_one_imputation_warns_and_returns_its_own_results():
    q, u, names = inputs("lm_nhanes2")
    with pytest.warns(UserWarning, match="pooling one imputed data set gives its own "
                                         "estimates and standard errors"):
        p = pool(q[:1], u[:1], names=names)
    close(p.qbar, q[0], 0)
    close(p.std_error, np.sqrt(np.diagonal(u[0])), 0)
    assert np.all(p.b == 0) and np.all(np.isinf(p.df))
    assert np.isnan(p.fmi).all() and np.isnan(p.riv).all()
    with pytest.warns(UserWarning, match="m = 1"):
        assert np.all(pool(q[:1], u[:1], dfcom=20).df == 20)
    with pytest.raises(ValueError, match="at least 2 imputations"):
        D1(q[:1], u[:1], [1, 2])
    with pytest.raises(ValueError, match="at least 2 imputations"):
        D2(q[:1], u[:1], [1, 2])


def test_term_nan_in_some_imputations_is_an_error_naming_it():
    q, u, names = inputs("lm_nhanes2")
    q = q.copy()
    q[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"'bmi' is NaN in imputation\(s\) \[3\]"):
        pool(q, u, names=names)
    with pytest.raises(ValueError, match="'bmi'"):
        D1(q, u, [1, 2], names=names)


def test_term_nan_in_all_imputations_is_nan_in_the_result():
    q, u, names = inputs("lm_nhanes2")
    q, u = q.copy(), u.copy()
    q[:, 4] = np.nan
    u[:, 4, :] = u[:, :, 4] = np.nan
    with pytest.warns(UserWarning, match="hypyes"):
        p = pool(q, u, dfcom=20, names=names)
    ref = pool(q[:, :4], u[:, :4, :4], dfcom=20)
    assert np.isnan(p.qbar[4]) and np.isnan(p.df[4]) and np.isnan(p.t[4]).all()
    close(p.qbar[:4], ref.qbar, 0)
    close(p.df[:4], ref.df, 0)
    close(p.t[:4, :4], ref.t, 0)
    with pytest.raises(ValueError, match="hypyes"):
        D1(q, u, None, names=names)
    assert D1(q, u, [1, 2], names=names).df1 == 2


def test_input_errors():
    q, u, _ = inputs("lmer_popmis")  # m = 20, k = 3
    with pytest.raises(ValueError, match="R's layout"):
        pool(q, np.moveaxis(u, 0, -1))
    q, u, names = inputs("lm_nhanes2")
    with pytest.raises(ValueError, match=r"expected f\[m, k\]"):
        pool(q[:, 0], u[:, 0, 0])
    with pytest.raises(ValueError, match="names has 2 entries"):
        pool(q, u, names=["a", "b"])
    with pytest.raises(ValueError, match="dfcom"):
        pool(q, u, dfcom=0)
    bad = q.copy()
    bad[1, 0] = np.inf
    with pytest.raises(ValueError, match="infinite in imputation 2"):
        pool(bad, u, names=names)
    bad = u.copy()
    bad[0, 3, 3] = -1.0
    with pytest.raises(ValueError, match="variance of term 'bmi' is negative"):
        pool(q, bad, names=names)
    bad = u.copy()
    bad[4, 0, 1] += 1.0
    with pytest.raises(ValueError, match="imputation 5 is not symmetric"):
        pool(q, bad)
    bad = u.copy()
    bad[1, 0, 2] = bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="not finite in imputation 2"):
        pool(q, bad)


def test_dfcom_infinite_is_large_sample():
    q, u, _ = inputs("lm_nhanes2")
    p = pool(q, u, dfcom=np.inf)
    assert p.dfcom is None
    close(p.df, pool(q, u).df, 0)


# ---------------------------------------------------------------------------
# D1 and D2
# ---------------------------------------------------------------------------


def check_test(result: TestResult, ref: dict, method: str):
    assert isinstance(result, TestResult) and result.method == method
    assert result.df1 == ref["df1"]
    close(result.statistic, ref["F"], SE)
    close(result.df2, ref["df2"], DF)
    close(result.riv, ref["riv"], SE)
    close(result.p_value, ref["p_value"], DF)


@pytest.mark.parametrize("case,label", TESTS)
def test_D1_matches_mitml_testModels(case, label):
    q, u, names = inputs(case)
    t = CASES[case]["tests"][label]
    r = D1(q, u, t["test_index"])
    check_test(r, t["D1"], "D1")
    assert r.dfcom is None and r.m == CASES[case]["m"]
    # the same test by names or by a boolean mask
    by_name = D1(q, u, t["tested"], names=names)
    assert by_name.terms == tuple(t["tested"])
    assert by_name.statistic == r.statistic and by_name.df2 == r.df2
    mask = np.isin(np.arange(len(names)), t["test_index"])
    assert D1(q, u, mask).statistic == r.statistic


@pytest.mark.parametrize("case,label", TESTS)
def test_D1_with_dfcom_matches_mitml_testModels(case, label):
    q, u, _ = inputs(case)
    c = CASES[case]
    t = c["tests"][label]
    k, m = len(t["test_index"]), c["m"]
    if k * (m - 1) <= 4:  # lm_nhanes2 bmi: k (m - 1) = 4, Reiter's df2 is at its limit 4
        with pytest.warns(UserWarning, match="Reiter"):
            r = D1(q, u, t["test_index"], dfcom=c["df_com"])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            r = D1(q, u, t["test_index"], dfcom=c["df_com"])
    check_test(r, t["D1_dfcom"], "D1")
    assert r.dfcom == c["df_com"]


@pytest.mark.parametrize("case,label", TESTS)
def test_D2_matches_mitml_testModels(case, label):
    q, u, _ = inputs(case)
    t = CASES[case]["tests"][label]
    r = D2(q, u, t["test_index"])
    check_test(r, t["D2"], "D2")


@pytest.mark.parametrize("case", list(CASES))
def test_D1_of_one_parameter(case):
    """One tested parameter: F = t^2 with Rubin's T (the ARIV is riv). Without dfcom, df2 is
    the large-sample df (m - 1)(1 + 1/r)^2 of testEstimates only when k (m - 1) <= 4; above,
    Li et al.'s 4 + (t - 4)(1 + (1 - 2/t)/r)^2."""
    q, u, _ = inputs(case)
    m = CASES[case]["m"]
    p = pool(q, u)
    r = D1(q, u, 1)
    close(r.riv, p.riv[1], 1e-12)
    close(r.statistic, p.statistic[1] ** 2, 1e-12)
    t = m - 1
    expected = p.df[1] if t <= 4 else 4 + (t - 4) * (1 + (1 - 2 / t) / p.riv[1]) ** 2
    close(r.df2, expected, 1e-10)


def test_D2_from_statistics():
    d = np.array([4.0, 6.0, 5.0, 7.5, 3.0])
    r = D2_from_statistics(d, 2)
    m = 5
    riv = (1 + 1 / m) * np.var(np.sqrt(d), ddof=1)
    close(r.riv, riv, 1e-14)
    close(r.statistic, (d.mean() / 2 - (m + 1) / (m - 1) * riv) / (1 + riv), 1e-14)
    close(r.df2, 2 ** (-3 / m) * (m - 1) * (1 + 1 / riv) ** 2, 1e-14)
    neg = D2_from_statistics([0.0, 9.0, 0.0, 9.0], 3)  # F < 0 is possible: p-value 1
    assert neg.statistic < 0 and neg.p_value == 1.0
    with pytest.raises(ValueError, match=">= 0"):
        D2_from_statistics([-1.0, 2.0], 1)


def test_test_index_errors_and_summary():
    q, u, names = inputs("lm_nhanes2")
    with pytest.raises(ValueError, match="unknown term 'age'"):
        D1(q, u, ["age"], names=names)
    with pytest.raises(ValueError, match="out of range"):
        D1(q, u, [7])
    with pytest.raises(ValueError, match="repeats"):
        D1(q, u, [1, 1])
    with pytest.raises(ValueError, match="selects no terms"):
        D2(q, u, [])
    with pytest.raises(ValueError, match="5 entries"):
        D1(q, u, [True, False])
    r = D1(q, u, [1, 2], dfcom=20, names=names)
    s = r.summary()
    assert list(s.columns) == ["method", "statistic", "df1", "df2", "p_value", "riv"]
    assert s.loc[0, "df1"] == 2
    assert "age40-59" in repr(r) and "dfcom = 20" in repr(r)


def test_li_df2_is_the_one_denominator_df():
    import inspect

    import jaxmice._src.analysis.pooled_tests as compare_module
    from jaxmice._src.analysis.pool import li_df2

    assert li_df2(2, 5, 0.5) == pytest.approx(29.0, rel=1e-15)  # t = 8 > 4
    assert li_df2(1, 3, 1.0) == pytest.approx(8.0, rel=1e-15)  # t = 2 <= 4
    assert li_df2(2, 5, 0.0) == float("inf")
    source = inspect.getsource(compare_module)
    assert "vmap" not in source and "rules._" not in source
