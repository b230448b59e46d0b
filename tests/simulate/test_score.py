"""jm.score: rsimsum's performance measures and Monte Carlo SEs (issue 15, part 3).

rsimsum is not installable here (no CRAN; Debian has no r-cran-rsimsum), so the measures are
checked against hand-computed values of rsimsum's formulas (its ``.performance``; Morris, White
and Crowther 2019, Table 6) and, for the MCSEs, against the spread of each measure across
independent batches of a known-truth simulation.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import jaxmice as jm
from jaxmice._src.analysis.pool import pool
from jaxmice._src.simulate.score import MEASURES


def hand_frame() -> pd.DataFrame:
    # theta = 1; four replications with given intervals (the third misses theta but holds the
    # mean estimate 1.025)
    return pd.DataFrame({
        "rep": [1, 2, 3, 4], "term": "b",
        "estimate": [0.8, 1.1, 1.3, 0.9], "std_error": [0.2, 0.1, 0.2, 0.1],
        "conf_low": [0.5, 0.95, 1.02, 0.7], "conf_high": [1.1, 1.25, 1.58, 1.1],
    })


def test_hand_computed_measures_and_mcse():
    row = jm.score(hand_frame(), {"b": 1.0}).iloc[0]
    expected = {
        "n_reps": 4,
        # mean estimate 4.1 / 4 = 1.025
        "bias": 0.025,
        # deviations from the mean -0.225, 0.075, 0.275, -0.125; squares sum to 0.1475
        "bias_mcse": math.sqrt(0.1475 / (4 * 3)),            # 0.110868
        "rel_bias": 0.025 / 1.0,
        "rel_bias_mcse": math.sqrt(0.1475 / 12) / 1.0,
        "empse": math.sqrt(0.1475 / 3),                      # 0.221736
        "empse_mcse": math.sqrt(0.1475 / 3) / math.sqrt(6),  # empse / sqrt(2 (R - 1))
        # se^2 = 0.04, 0.01, 0.04, 0.01: mean 0.025; var (divisor 3) = 4 * 0.015^2 / 3 = 3e-4
        "modelse": math.sqrt(0.025),                         # 0.158114
        "modelse_mcse": math.sqrt(3e-4 / (4 * 4 * 0.025)),   # sqrt(7.5e-4) = 0.027386
        # errors -0.2, 0.1, 0.3, -0.1; squares 0.04, 0.01, 0.09, 0.01: mse = 0.0375
        "mse": 0.0375,
        # squares - mse = 0.0025, -0.0275, 0.0525, -0.0275; their squares sum to 0.004275
        "mse_mcse": math.sqrt(0.004275 / 12),                # 0.018875
        "rmse": math.sqrt(0.0375),                           # 0.193649
        "rmse_mcse": math.sqrt(0.004275 / 12) / (2 * math.sqrt(0.0375)),  # 0.048734
        # theta = 1 in intervals 1, 2 and 4, not 3 ([1.02, 1.58])
        "coverage": 0.75,
        "coverage_mcse": math.sqrt(0.75 * 0.25 / 4),         # 0.216506
        # the mean estimate 1.025 lies in all four
        "be_coverage": 1.0,
        "be_coverage_mcse": 0.0,
        # widths 0.6, 0.3, 0.56, 0.4: mean 0.465; deviations 0.135, -0.165, 0.095, -0.065,
        # squares sum to 0.0587
        "width": 0.465,
        "width_mcse": math.sqrt(0.0587 / 3) / 2,             # 0.069940
    }
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
    # the literals the formulas give
    literals = {"bias_mcse": 0.1108678, "empse": 0.2217356, "modelse_mcse": 0.0273861,
                "mse_mcse": 0.0188746, "rmse_mcse": 0.0487340, "width_mcse": 0.0699405}
    for name, value in literals.items():
        assert row[name] == pytest.approx(value, abs=5e-8), name


def test_columns_and_scalar_truth():
    out = jm.score(hand_frame(), 1.0)
    assert list(out.columns) == ["term", "n_reps"] + [c for m in MEASURES
                                                     for c in (m, f"{m}_mcse")]
    assert out["term"].tolist() == ["b"]
    # a Series truth is the same as a dict
    pd.testing.assert_frame_equal(out, jm.score(hand_frame(), pd.Series({"b": 1.0})))


def test_z_intervals_without_interval_columns():
    df = hand_frame().drop(columns=["conf_low", "conf_high"])
    row = jm.score(df, {"b": 1.0}).iloc[0]
    z = stats.norm.ppf(0.975)
    # |e - theta| / se = 1.0, 1.0, 1.5, 1.0: all within 1.96
    assert row["coverage"] == 1.0
    assert row["width"] == pytest.approx(2 * z * 0.15)
    assert row["width_mcse"] == pytest.approx(2 * z * np.std([0.2, 0.1, 0.2, 0.1], ddof=1) / 2)
    # at 50%, z = 0.6745 (half-widths 0.1349, 0.0674, 0.1349, 0.0674): neither theta = 1
    # (distances 0.2, 0.1, 0.3, 0.1) nor the mean 1.025 (0.225, 0.075, 0.275, 0.125) is covered
    row50 = jm.score(df, {"b": 1.0}, conf_level=0.5).iloc[0]
    assert row50["coverage"] == 0.0 and row50["be_coverage"] == 0.0
    assert row50["width"] == pytest.approx(2 * stats.norm.ppf(0.75) * 0.15)


def test_rel_bias_is_nan_at_zero_truth():
    df = hand_frame()
    df["estimate"] -= 1.0
    df[["conf_low", "conf_high"]] -= 1.0
    row = jm.score(df, 0.0).iloc[0]
    assert math.isnan(row["rel_bias"]) and math.isnan(row["rel_bias_mcse"])
    assert row["bias"] == pytest.approx(0.025)
    assert row["coverage"] == 0.75


def test_nan_replications_are_dropped():
    df = pd.concat([hand_frame(), pd.DataFrame({
        "rep": [5, 6, 7], "term": "b", "estimate": [np.nan, 5.0, 5.0],
        "std_error": [0.1, np.nan, 0.1], "conf_low": [0.0, 0.0, np.nan],
        "conf_high": [2.0, 2.0, 2.0]})], ignore_index=True)
    out = jm.score(df, {"b": 1.0})
    pd.testing.assert_frame_equal(out, jm.score(hand_frame(), {"b": 1.0}))
    assert out["n_reps"].iloc[0] == 4


def test_too_few_replications_give_nan_without_warnings():
    df = hand_frame().assign(term=["b", "c", "c", "c"])
    df.loc[[1, 2, 3], "estimate"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = jm.score(df, 1.0).set_index("term")
    assert out.loc["b", "n_reps"] == 1 and out.loc["c", "n_reps"] == 0
    assert out.loc["b", "bias"] == pytest.approx(-0.2) and out.loc["b", "coverage"] == 1.0
    assert math.isnan(out.loc["b", "empse"]) and math.isnan(out.loc["b", "bias_mcse"])
    assert out.loc["c"].drop("n_reps").isna().all()


def test_by_two_columns():
    df = pd.concat([hand_frame().assign(n=50, mech=mech) for mech in ("MCAR", "MAR")])
    out = jm.score(df, 1.0, by=["mech", "n"])
    assert out[["mech", "n", "term"]].values.tolist() == [["MCAR", 50, "b"], ["MAR", 50, "b"]]
    assert out["bias"].tolist() == pytest.approx([0.025, 0.025])


def test_known_truth_monte_carlo():
    # estimates ~ N(theta + b, s^2), SE = s, 95% z-intervals
    rng = np.random.default_rng(20240615)
    theta, b, s, r = 2.0, 0.1, 0.5, 4000
    est = rng.normal(theta + b, s, size=r)
    df = pd.DataFrame({"rep": np.arange(r), "term": "x", "estimate": est, "std_error": s})
    row = jm.score(df, {"x": theta}).iloc[0]
    assert row["n_reps"] == r
    assert abs(row["bias"] - b) < 4 * row["bias_mcse"]
    assert row["bias_mcse"] == pytest.approx(s / math.sqrt(r), rel=0.05)
    assert abs(row["rel_bias"] - b / theta) < 4 * row["rel_bias_mcse"]
    assert abs(row["empse"] - s) < 4 * row["empse_mcse"]
    assert row["modelse"] == pytest.approx(s, rel=1e-12)
    assert row["modelse_mcse"] == pytest.approx(0.0, abs=1e-12)
    assert abs(row["mse"] - (b ** 2 + s ** 2)) < 4 * row["mse_mcse"]
    assert abs(row["rmse"] - math.sqrt(b ** 2 + s ** 2)) < 4 * row["rmse_mcse"]
    # coverage of theta: P(|Z + b/s| <= z); bias-eliminated coverage is the nominal 0.95
    z = stats.norm.ppf(0.975)
    cover = stats.norm.cdf(z - b / s) - stats.norm.cdf(-z - b / s)
    assert abs(row["coverage"] - cover) < 4 * row["coverage_mcse"]
    assert abs(row["be_coverage"] - 0.95) < 4 * math.sqrt(0.95 * 0.05 / r)
    assert row["width"] == pytest.approx(2 * z * s)


def test_mcse_matches_the_spread_across_batches():
    # 200 independent batches of 100 replications (grouped with by="batch"); the SE is
    # random (s * sqrt(chi2_20 / 20)) so that modelse and width vary too. Each measure's SD
    # across batches should equal its mean MCSE within 15% (the SD itself is known to ~5%).
    rng = np.random.default_rng(7)
    n_batch, r, theta, b, s = 200, 100, 1.0, 0.2, 0.4
    est = rng.normal(theta + b, s, size=(n_batch, r))
    se = s * np.sqrt(rng.chisquare(20, size=(n_batch, r)) / 20)
    df = pd.DataFrame({"batch": np.repeat(np.arange(n_batch), r), "rep": np.tile(np.arange(r),
                       n_batch), "term": "x", "estimate": est.ravel(),
                       "std_error": se.ravel()})
    out = jm.score(df, theta, by="batch")
    assert list(out.columns[:3]) == ["batch", "term", "n_reps"]
    assert len(out) == n_batch and (out["n_reps"] == r).all()
    for m in ("bias", "rel_bias", "empse", "modelse", "mse", "rmse", "coverage",
              "be_coverage", "width"):
        sd = out[m].std(ddof=1)
        assert sd == pytest.approx(out[f"{m}_mcse"].mean(), rel=0.15), m


def pooled_reps(seed: int, n_rep: int = 6, m: int = 5) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_rep):
        q = rng.normal([1.0, -0.5], 0.3, size=(m, 2))
        u = np.tile(np.diag([0.04, 0.09]), (m, 1, 1))
        out.append(pool(q, u, dfcom=50, names=["a", "b"]))
    return out


def test_list_of_pooled_uses_their_t_intervals():
    reps = pooled_reps(1)
    out = jm.score(reps, {"a": 1.0, "b": -0.5})
    assert out["term"].tolist() == ["a", "b"]
    for j, theta in enumerate([1.0, -0.5]):
        est = np.array([p.qbar[j] for p in reps])
        se = np.array([p.std_error[j] for p in reps])
        low = np.array([p.conf_int(0.95)[0][j] for p in reps])
        high = np.array([p.conf_int(0.95)[1][j] for p in reps])
        row = out.iloc[j]
        assert row["n_reps"] == 6
        assert row["bias"] == pytest.approx(est.mean() - theta, rel=1e-12)
        assert row["empse"] == pytest.approx(est.std(ddof=1), rel=1e-12)
        assert row["modelse"] == pytest.approx(math.sqrt(np.mean(se ** 2)), rel=1e-12)
        assert row["coverage"] == pytest.approx(np.mean((low <= theta) & (theta <= high)))
        assert row["width"] == pytest.approx(np.mean(high - low), rel=1e-12)
        # t-intervals (Rubin's df) are wider than the z-intervals estimate +- 1.96 se
        assert row["width"] > np.mean(2 * stats.norm.ppf(0.975) * se)
    # the same as the stacked summaries with rep = position
    frame = pd.concat([p.summary().assign(rep=i) for i, p in enumerate(reps)])
    pd.testing.assert_frame_equal(out, jm.score(frame, {"a": 1.0, "b": -0.5}))
    # conf_level reaches Pooled.summary
    narrow = jm.score(reps, {"a": 1.0}, conf_level=0.5)
    assert narrow["width"].iloc[0] < out["width"].iloc[0]


def test_truth_dict_scores_only_its_terms():
    out = jm.score(pooled_reps(2), {"b": -0.5})
    assert out["term"].tolist() == ["b"]


class Batch:
    """A stand-in for a batched pooled object: ``.summary`` gives a long frame with ``rep``."""

    def __init__(self, reps):
        self.reps = reps

    def summary(self, conf_int=True, conf_level=0.95):
        return pd.concat([p.summary(conf_int=conf_int, conf_level=conf_level).assign(rep=i)
                          for i, p in enumerate(self.reps)], ignore_index=True)


def test_object_with_summary_and_dict_of_methods():
    reps_a, reps_b = pooled_reps(3), pooled_reps(4, n_rep=8)
    truth = {"a": 1.0, "b": -0.5}
    pd.testing.assert_frame_equal(jm.score(Batch(reps_a), truth), jm.score(reps_a, truth))
    out = jm.score({"pmm": reps_a, "norm": Batch(reps_b)}, truth)
    assert list(out.columns[:3]) == ["method", "term", "n_reps"]
    assert out[["method", "term"]].values.tolist() == [["pmm", "a"], ["pmm", "b"],
                                                       ["norm", "a"], ["norm", "b"]]
    assert out["n_reps"].tolist() == [6, 6, 8, 8]
    solo = jm.score(reps_b, truth)
    np.testing.assert_allclose(out.iloc[2:, 3:].to_numpy(float), solo.iloc[:, 2:].to_numpy(float))
    # a frame with a method column groups by it too
    frame = pd.concat([Batch(reps_a).summary().assign(method="pmm"),
                       Batch(reps_b).summary().assign(method="norm")])
    pd.testing.assert_frame_equal(jm.score(frame, truth), out)


def test_errors():
    reps = pooled_reps(5)
    with pytest.raises(ValueError, match="score needs replications"):
        jm.score(reps[0], {"a": 1.0})
    with pytest.raises(ValueError, match="score needs replications"):
        jm.score(reps[0].summary(), {"a": 1.0})
    with pytest.raises(ValueError, match=r"\['c'\] absent from the results"):
        jm.score(reps, {"a": 1.0, "c": 0.0})
    with pytest.raises(ValueError, match="appears twice"):
        jm.score(pd.concat([hand_frame(), hand_frame()]), 1.0)
    with pytest.raises(ValueError, match="by column"):
        jm.score(hand_frame(), 1.0, by="scenario")
    with pytest.raises(ValueError, match="lacks the column"):
        jm.score(hand_frame().drop(columns="std_error"), 1.0)
    with pytest.raises(TypeError):
        jm.score(42, 1.0)
