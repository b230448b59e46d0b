"""Pooling fits of jaxmice's own models against mitml on the same completed data.

R imputed popmis (schools 1-30) with mice and saved the completed data
(``tests/data/models_test_long.csv``); ``tests/r/make_models_test_reference.R`` pooled R's lmer
and lm fits of it with mitml. Here jaxmice fits the same models to the same data and pools them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm

DATA = Path(__file__).parents[1] / "data"
REF = json.loads((DATA / "models_test_reference.json").read_text())
FULL = "popular ~ 1 + sex + texp + (1 | school)"
NULL = "popular ~ 1 + sex + (1 | school)"


@pytest.fixture(scope="module")
def frames():
    long = pd.read_csv(DATA / "models_test_long.csv")
    return [part.drop(columns=[".imp", ".id"]).reset_index(drop=True)
            for _, part in long.groupby(".imp")]


def assert_estimates(pooled, ref):
    table = pooled.summary().set_index("term")
    for term, row in ref.items():
        got = table.loc[term]
        assert got.estimate == pytest.approx(row["Estimate"], rel=1e-5)
        assert got.std_error == pytest.approx(row["Std.Error"], rel=1e-4)
        assert got.df == pytest.approx(row["df"], rel=1e-3)
        assert got.fmi == pytest.approx(row["FMI"], rel=1e-3, abs=1e-6)
        assert got.riv == pytest.approx(row["RIV"], rel=1e-3, abs=1e-6)


def test_lmer_pooled_estimates_and_extra_parameters(frames):
    pooled = jm.lmer(FULL, frames).pool()
    assert_estimates(pooled, REF["lmer_estimates"])
    for name, value in REF["lmer_extra"].items():
        assert pooled.extra[name] == pytest.approx(value, rel=1e-4), name


def test_random_slope_extra_parameters(frames):
    pooled = jm.lmer("popular ~ 1 + sex + texp + (1 + sex | school)", frames).pool()
    assert_estimates(pooled, REF["slope_estimates"])
    extra = pooled.extra
    assert list(extra.index) == list(REF["slope_extra"])
    for name, value in REF["slope_extra"].items():
        # a covariance is compared on the scale of its standard deviations (lme4's default
        # optimiser leaves it off by ~1e-5 of that scale; ours converges to 1e-9)
        scale = (np.sqrt(extra["Intercept~~Intercept|school"] * extra["sex~~sex|school"])
                 if name == "Intercept~~sex|school" else abs(value))
        assert extra[name] == pytest.approx(value, abs=1e-4 * scale), name


def test_lm_pooled_with_dfcom(frames):
    fits = jm.glm("popular ~ sex + texp", frames)
    assert fits.dfcom == 610 - 3  # n - p, as R's df.residual
    assert_estimates(fits.pool(dfcom=597), REF["lm_estimates_dfcom"])  # R was given 597


@pytest.mark.parametrize("method,key", [("D1", "lmer_D1"), ("D2", "lmer_D2"),
                                        ("D3", "lmer_D3")])
def test_lmer_model_comparisons(frames, method, key):
    full, null = jm.lmer(FULL, frames), jm.lmer(NULL, frames)
    got, want = getattr(jm, method)(full, null), REF[key]
    assert got.statistic == pytest.approx(want["F.value"], rel=1e-4)
    assert got.df1 == want["df1"]
    assert got.df2 == pytest.approx(want["df2"], rel=1e-3)
    assert got.p_value == pytest.approx(want["P(>F)"], rel=1e-3)
    assert got.riv == pytest.approx(want["RIV"], rel=1e-3)


@pytest.mark.filterwarnings("ignore:Reiter's small-sample df2")
@pytest.mark.parametrize("method,key,dfcom", [("D1", "lm_D1", None), ("D1", "lm_D1_dfcom", 597),
                                              ("D3", "lm_D3", None)])
def test_lm_model_comparisons(frames, method, key, dfcom):
    full, null = jm.glm("popular ~ sex + texp", frames), jm.glm("popular ~ sex", frames)
    got = jm.D1(full, null, dfcom=dfcom) if method == "D1" else jm.D3(full, null)
    want = REF[key]
    assert got.statistic == pytest.approx(want["F.value"], rel=1e-5)
    assert got.df2 == pytest.approx(want["df2"], rel=1e-4)
    assert got.p_value == pytest.approx(want["P(>F)"], rel=1e-4)


D4_REF = json.loads((DATA / "d4_reference.json").read_text())


@pytest.mark.parametrize("model,ariv,key", [
    ("lmer", "default", "lmer_D4"), ("lmer", "positive", "lmer_D4_positive"),
    ("lmer", "robust", "lmer_D4_robust"), ("lm", "default", "lm_D4"),
    ("lm", "robust", "lm_D4_robust")])
def test_d4_against_mitml(frames, model, ariv, key):
    """D4 (Chan and Meng 2019) on the same completed data as mitml's ``testModels(method =
    "D4", ariv = ...)`` (``tests/r/make_d4_reference.R``): the stacked fit's clusters are
    each data set's own, REML fits refitted by ML."""
    if model == "lmer":
        full, null = jm.lmer(FULL, frames), jm.lmer(NULL, frames)
    else:
        full, null = jm.glm("popular ~ sex + texp", frames), jm.glm("popular ~ sex", frames)
    got, want = jm.D4(full, null, ariv=ariv), D4_REF[key]
    assert got.method == "D4" and got.df1 == want["df1"] and got.terms == ("texp",)
    assert got.statistic == pytest.approx(want["F.value"], rel=1e-8)
    assert got.df2 == pytest.approx(want["df2"], rel=1e-8)
    assert got.p_value == pytest.approx(want["P(>F)"], rel=1e-6)
    assert got.riv == pytest.approx(want["RIV"], rel=1e-8)


def test_d4_refuses_other_families_and_unknown_ariv(frames):
    full, null = jm.lmer(FULL, frames), jm.lmer(NULL, frames)
    with pytest.raises(ValueError, match="ariv must be one of"):
        jm.D4(full, null, ariv="median")
    binary = [f.assign(high=(f.popular > 5).astype(int)) for f in frames]
    with pytest.raises(ValueError, match="D4 is available for linear"):
        jm.D4(jm.glm("high ~ sex + texp", binary, family="binomial"),
              jm.glm("high ~ sex", binary, family="binomial"))


def test_not_nested_is_an_error(frames):
    full, other = jm.lmer(FULL, frames), jm.lmer("popular ~ 1 + texp + (1 | school)", frames)
    with pytest.raises(ValueError, match="not nested"):
        jm.D1(other, full)


def test_term_missing_from_some_fits_is_named():
    est = np.array([[1.0, 2.0], [1.1, np.nan], [0.9, 2.1]])
    cov = np.tile(np.eye(2) * 0.1, (3, 1, 1))
    with pytest.raises(ValueError, match="x"):
        jm.pool(est, cov, names=["(Intercept)", "x"])
