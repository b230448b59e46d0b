"""One results protocol (issue 25): MixedModels, Analyses and BatchFits keep
:class:`~jaxmice._src.analysis.pool.Fits`, so one ``pool`` and one entry point per test
serve them all."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.analysis.pool import Fits, PooledBatch

FULL = "popular ~ 1 + sex + texp + (1 | school)"
NULL = "popular ~ 1 + sex + (1 | school)"


@pytest.fixture(scope="module")
def imp():
    popmis = jm.datasets.load_popmis()[["school", "popular", "sex", "texp"]]
    return jm.mice(popmis, m=4, maxit=3, method={"popular": "2l.pan"},
                   predictor_matrix=jm.make_predictor_matrix(popmis, cluster="school"), seed=2,
                   progress=False)


def _ols(df: pd.DataFrame, columns: list[str]) -> tuple[pd.Series, np.ndarray]:
    """Least squares of popular on ``columns`` (with an intercept): estimates and covariance."""
    x = np.column_stack([np.ones(len(df))] + [df[c].to_numpy(float) for c in columns])
    y = df["popular"].to_numpy(float)
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    sigma2 = resid @ resid / (len(y) - x.shape[1])
    return pd.Series(beta, index=["(Intercept)", *columns]), sigma2 * np.linalg.inv(x.T @ x)


def test_the_three_results_keep_the_protocol(imp):
    assert isinstance(imp.fit(FULL), Fits)
    assert isinstance(imp.analyze(lambda d: _ols(d, ["sex"]), progress=False), Fits)
    batch = jm.mice([imp.complete(0).head(400), imp.complete(1).head(600)], m=2, maxit=2,
                    seed=1, progress=False)
    assert isinstance(batch.fit("popular ~ sex + (1 | school)"), Fits)
    assert not isinstance(np.zeros((3, 2)), Fits)


def test_one_pool_for_mixed_models_and_analyses(imp):
    fits = imp.fit(FULL)
    pooled = jm.pool(fits)
    assert pooled.names == fits.names == fits.fixed_names
    np.testing.assert_array_equal(pooled.qbar, fits.pool().qbar)
    np.testing.assert_array_equal(pooled.qbar, jm.pool(fits.beta, fits.vcov).qbar)
    assert list(pooled.extra.index) == list(fits.pool().extra.index)  # variance components
    assert len(pooled.extra) > 0
    analyses = imp.analyze(lambda d: _ols(d, ["sex", "texp"]), progress=False)
    by_hand = jm.pool(analyses.estimates, analyses.covariances, dfcom=analyses.dfcom,
                      names=analyses.names)
    np.testing.assert_array_equal(jm.pool(analyses).qbar, by_hand.qbar)
    np.testing.assert_array_equal(jm.pool(analyses).df, analyses.pool().df)
    np.testing.assert_array_equal(analyses.pool(dfcom=50).df, jm.pool(analyses, dfcom=50).df)
    np.testing.assert_array_equal(fits.pool(dfcom=30).df, jm.pool(fits.beta, fits.vcov, 30).df)
    np.testing.assert_array_equal(jm.pool(analyses, dfcom=50).df,
                                  jm.pool(analyses.estimates, analyses.covariances, dfcom=50).df)


def test_one_pool_for_a_batch_with_each_replications_df():
    rng = np.random.default_rng(4)
    frames = []
    for n in (300, 420):
        g = rng.integers(0, 20, n)
        x = rng.normal(size=n)
        y = 1 + 0.5 * x + rng.normal(size=20)[g] + rng.normal(size=n)
        y[rng.random(n) < 0.2] = np.nan
        frames.append(pd.DataFrame({"g": g, "x": x, "y": y}))
    batch = jm.mice(frames, m=3, maxit=2, method={"y": "2l.pan"},
                    predictor_matrix=jm.make_predictor_matrix(frames[0], cluster="g"), seed=5,
                    progress=False)
    fits = batch.fit("y ~ x")  # a regression: each replication has its own n - p
    assert fits.dfcom == (298.0, 418.0)
    assert fits.estimates.shape == (2, 3, 2) and fits.covariances.shape == (2, 3, 2, 2)
    pooled = jm.pool(fits)
    assert isinstance(pooled, PooledBatch)
    for r in range(2):
        own = jm.pool(fits.fits[r])
        np.testing.assert_array_equal(pooled[r].qbar, own.qbar)
        np.testing.assert_array_equal(pooled[r].df, own.df)
    np.testing.assert_array_equal(fits.pool()[1].df, pooled[1].df)
    np.testing.assert_array_equal(fits.pool(dfcom=40)[0].df, jm.pool(fits.fits[0], dfcom=40).df)
    table = pooled.summary(exponentiate=True)
    np.testing.assert_allclose(table.estimate, np.exp(np.concatenate([p.qbar for p in pooled])))


def test_d1_and_d2_take_any_fits(imp):
    full = imp.analyze(lambda d: _ols(d, ["sex", "texp"]), progress=False)
    null = imp.analyze(lambda d: _ols(d, ["sex"]), progress=False)
    d1 = jm.D1(full, null, dfcom=full.dfcom)
    by_arrays = jm.D1(full.estimates, full.covariances, test_index=["texp"], dfcom=full.dfcom,
                      names=full.names)
    assert d1.terms == ("texp",)
    assert d1.statistic == pytest.approx(by_arrays.statistic, rel=1e-12)
    assert d1.df2 == pytest.approx(by_arrays.df2, rel=1e-12)
    d2 = jm.D2(full, null)
    assert d2.statistic == pytest.approx(jm.D2(full.estimates, full.covariances, test_index=[2],
                                               names=full.names).statistic, rel=1e-12)


def test_refitting_tests_say_which_fits_they_take(imp):
    full = imp.analyze(lambda d: _ols(d, ["sex", "texp"]), progress=False)
    null = imp.analyze(lambda d: _ols(d, ["sex"]), progress=False)
    for test in (jm.D3, jm.D4):
        with pytest.raises(TypeError, match="takes the fits jaxmice made"):
            test(full, null)
    with pytest.raises(TypeError, match="pool takes fits"):
        jm.pool("y ~ x")
    with pytest.raises(TypeError, match="by name"):
        jm.pool(full, 50)
    with pytest.raises(ValueError, match="not nested"):
        jm.D1(null, full)
