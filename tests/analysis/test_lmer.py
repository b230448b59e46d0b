"""jm.lmer / jm.glmer: batching, bad input, tidy output (lme4 equality is in
test_lmer_reference.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.analysis import mixed
from jaxmice._src.core.expressions import FormulaError
from jaxmice._src.runtime.sizes import row_class

FORMULA = "popular ~ 1 + sex + texp + (1 | school)"


@pytest.fixture(scope="module")
def popmis():
    return jm.datasets.load_popmis_completed()


def noisy_copies(df: pd.DataFrame, m: int, seed: int = 0) -> list[pd.DataFrame]:
    """m popmis-sized data sets that differ as completed data sets do (in the response)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(m):
        copy = df.copy()
        copy["popular"] = df["popular"] + rng.normal(0.0, 0.4, len(df))
        out.append(copy)
    return out


def test_batch_of_100_equals_100_single_fits(popmis):
    frames = noisy_copies(popmis, 100)
    batch = jm.lmer(FORMULA, frames)
    assert len(batch) == 100
    singles = [jm.lmer(FORMULA, df) for df in frames]
    # equal to the optimiser's precision (vmapped and single programs round differently)
    np.testing.assert_allclose(batch.fixed.to_numpy(),
                               np.stack([f.fixed.to_numpy() for f in singles]), rtol=1e-7)
    np.testing.assert_allclose(batch.se.to_numpy(),
                               np.stack([f.se.to_numpy() for f in singles]), rtol=1e-7)
    np.testing.assert_allclose(batch.loglik, [f.loglik for f in singles], rtol=1e-10)
    for i in (0, 57, 99):
        pd.testing.assert_frame_equal(batch[i].varcomp, singles[i].varcomp, rtol=1e-7)
    # the data sets really differ, so equality is not trivial
    assert batch.fixed["sex"].std() > 0.005


def test_batch_compiles_once(popmis):
    frames = noisy_copies(popmis, 4, seed=1)
    jm.lmer(FORMULA, frames)
    size = mixed._fit_lmm_batch._cache_size()
    jm.lmer(FORMULA, noisy_copies(popmis, 4, seed=2))
    assert mixed._fit_lmm_batch._cache_size() == size


def test_chunked_batch_equals_one_program(popmis, monkeypatch):
    """Data sets too large for one batched fit are fitted in chunks (the last one padded)."""
    frames = noisy_copies(popmis, 5, seed=4)
    whole = jm.lmer(FORMULA, frames)
    # a budget for two data sets at a time: chunks 2, 2 and 1 (padded to 2); a fit holds
    # its size class's rows
    rows = row_class(len(popmis))
    per_data_set = mixed.FIT_BYTES_PER_CELL * rows * (3 + 2)
    monkeypatch.setattr(mixed, "FIT_MEMORY_BUDGET", 2 * per_data_set)
    assert mixed.fit_chunk_size(5, rows, 3) == 2
    chunked = jm.lmer(FORMULA, frames)
    assert len(chunked) == 5
    np.testing.assert_allclose(chunked.fixed.to_numpy(), whole.fixed.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(chunked.se.to_numpy(), whole.se.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(chunked.loglik, whole.loglik, rtol=1e-10)


def test_glmm_batch_equals_single_fits():
    rng = np.random.default_rng(3)
    n, groups = 400, 20
    g = np.repeat(np.arange(groups), n // groups)
    x = rng.normal(size=n)
    frames = []
    for _ in range(3):
        eta = -0.3 + 0.8 * x + rng.normal(0, 0.7, groups)[g]
        frames.append(pd.DataFrame({"y": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int),
                                    "x": x, "g": g}))
    batch = jm.glmer("y ~ x + (1 | g)", frames, family="binomial")
    for i, df in enumerate(frames):
        single = jm.glmer("y ~ x + (1 | g)", df, family="binomial")
        np.testing.assert_allclose(batch[i].fixed, single.fixed, rtol=1e-8)
        np.testing.assert_allclose(batch[i].se, single.se, rtol=1e-7)


def test_tidy_matches_fit_and_exponentiates(popmis):
    fit = jm.lmer(FORMULA, popmis)
    tidy = fit.tidy(conf_level=0.9)
    fixed = tidy[tidy.effect == "fixed"].set_index("term")
    z = 1.6448536269514722
    np.testing.assert_allclose(fixed.estimate, fit.fixed)
    np.testing.assert_allclose(fixed.conf_low, fit.fixed - z * fit.se)
    np.testing.assert_allclose(fixed.statistic, fit.fixed / fit.se)
    assert fixed.p_value.isna().all()  # as broom.mixed for lmer: no df, no p-value
    pars = tidy[tidy.effect == "ran_pars"]
    assert list(pars.term) == ["sd__(Intercept)", "sd__Observation"]
    assert pars.estimate.iloc[1] == pytest.approx(fit.sigma)

    impact = jm.datasets.load_impact()
    glmm = jm.glmer("mort ~ type + age + (1 | name)", impact, family="binomial")
    odds = glmm.tidy(exponentiate=True).set_index("term")
    assert odds.loc["typeRCT", "estimate"] == pytest.approx(math.exp(glmm.fixed["typeRCT"]))
    assert odds.loc["age", "conf_high"] == pytest.approx(
        math.exp(glmm.fixed["age"] + 1.959963984540054 * glmm.se["age"]))
    p = odds.loc["age", "p_value"]
    assert 0 <= p < 1e-10  # age is a strong predictor of mortality


def test_summary_and_information_criteria(popmis):
    fit = jm.lmer(FORMULA, popmis, reml=False)
    # ML: 3 fixed effects + theta + sigma
    assert fit.aic == pytest.approx(-2 * fit.loglik + 2 * 5)
    assert fit.bic == pytest.approx(-2 * fit.loglik + math.log(2000) * 5)
    text = fit.summary()
    assert "ML" in text and "school" in text and "texp" in text


# ----------------------------------------------------------------------------- bad input


def test_syntax_error_points_at_token(popmis):
    with pytest.raises(FormulaError) as err:
        jm.lmer("popular ~ sex + ) + (1 | school)", popmis)
    assert err.value.position == 16
    assert "^" in str(err.value)


def test_unknown_column_named(popmis):
    with pytest.raises(ValueError, match="sexx"):
        jm.lmer("popular ~ sexx + (1 | school)", popmis)


def test_grouping_factor_with_missing_values(popmis):
    df = popmis.copy()
    df["school"] = df["school"].astype("float")
    df.loc[[3, 10, 500], "school"] = np.nan
    with pytest.raises(ValueError, match="school.*3 missing"):
        jm.lmer(FORMULA, df)


def test_binomial_needs_zero_one(popmis):
    with pytest.raises(ValueError, match="popular.*0/1"):
        jm.glmer("popular ~ sex + (1 | school)", popmis, family="binomial")


def test_poisson_needs_counts(popmis):
    with pytest.raises(ValueError, match="counts"):
        jm.glmer("popular ~ sex + (1 | school)", popmis, family="poisson")


def test_unknown_family_and_factor_response(popmis):
    with pytest.raises(ValueError, match="family"):
        jm.glmer(FORMULA, popmis, family="gamma")
    df = popmis.assign(grade=pd.Categorical(np.where(popmis.popular > 5, "hi", "lo")))
    with pytest.raises(ValueError, match="grade.*factor"):
        jm.lmer("grade ~ sex + (1 | school)", df)


@pytest.mark.filterwarnings("ignore::jaxmice.models.SingularFitWarning")
def test_separation_warns_instead_of_silent_nonsense():
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    df = pd.DataFrame({"y": (x > 0).astype(int), "x": x, "g": np.repeat(np.arange(30), 10)})
    with pytest.warns(jm.models.ConvergenceWarning, match="failed to converge.*separation"):
        fit = jm.glmer("y ~ x + (1 | g)", df)
    assert not fit.converged


def test_formula_without_random_term(popmis):
    with pytest.raises(ValueError, match="no random term"):
        jm.lmer("popular ~ sex", popmis)


def test_too_many_groups(popmis):
    df = popmis.assign(pupil=np.arange(len(popmis)))
    with pytest.raises(ValueError, match="pupil"):
        jm.lmer("popular ~ sex + (1 | pupil)", df)


def test_batch_levels_must_agree(popmis):
    other = popmis.copy()
    other["kind"] = pd.Categorical(np.where(other.sex == 1, "a", "b"))
    first = popmis.assign(kind=pd.Categorical(np.where(popmis.sex == 1, "a", "c")))
    with pytest.raises(ValueError, match="kind"):
        jm.lmer("popular ~ kind + (1 | school)", [first, other])
