"""Multilevel imputation (2l.pan, 2l.norm, 2l.lmer, 2l.pmm): draws against their analytic
conditionals, popmis against R's mice, the known failures of single-level strategies,
convergence from over-dispersed starts, and awkward cluster structures."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.numerics.lmm import cross_products
from jaxmice.methods import Target, VisitInputs
from jaxmice.methods.multilevel import (
    PanState,
    draw_effects,
    draw_inverse_wishart,
    pan_init,
    random_structure,
    run_pan,
)

SHARED = json.loads((Path(__file__).parents[1] / "data" / "shared_reference.json").read_text())
ANALYSIS = "popular ~ 1 + sex + texp + (1 | school)"


@pytest.fixture(scope="module")
def popmis():
    return jm.datasets.load_popmis()[["school", "popular", "sex", "texp"]]


def analyse(imp) -> dict:
    """Pooled fixed effects and mean variance components over the completed data sets."""
    fits = jm.lmer(ANALYSIS, imp.complete("all"))
    tau2 = np.array([f.varcomp.vcov.iloc[0] for f in fits])
    sigma2 = fits.sigma**2
    return dict(fixed=fits.fixed.mean(), tau2=tau2.mean(), sigma2=sigma2.mean(),
                icc=np.mean(tau2 / (tau2 + sigma2)))


# ------------------------------------------------------------------ draws vs analytic values


def test_joint_draw_of_fixed_and_random_effects_matches_its_conditional():
    """(beta, b) | Psi, sigma^2 by the blocked factor equals the dense Gaussian conditional."""
    rng = np.random.default_rng(0)
    n, J, q = 40, 5, 2
    cluster = np.repeat(np.arange(J), n // J)
    cluster[-3:] = 4  # unequal sizes
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    z = x[:, :q]
    y = rng.normal(size=n) + x[:, 1]
    w = np.ones(n)
    w[[0, 9, 17]] = 0.0  # rows not used in the fit
    psi = np.array([[0.6, 0.2], [0.2, 0.3]])
    sigma2 = 0.8
    re, shape = random_structure(jnp.asarray(cluster), q, J)
    stats = cross_products(jnp.asarray(y), jnp.asarray(x), jnp.asarray(z), jnp.asarray(w),
                           re, shape)
    scaled = type(stats)(*(s / sigma2 for s in stats[:-1]), stats.n)
    lam = jnp.linalg.cholesky(jnp.asarray(psi))
    keys = jax.random.split(jax.random.PRNGKey(1), 4000)
    beta, b, _ = jax.vmap(lambda k: draw_effects(k, lam, scaled))(keys)
    draws = np.concatenate([np.asarray(beta), np.asarray(b).reshape(4000, -1)], axis=1)

    # dense conditional: flat prior on beta, b_j ~ N(0, psi)
    zfull = np.zeros((n, J * q))
    for j in range(J):
        zfull[cluster == j, j * q:(j + 1) * q] = z[cluster == j]
    design = np.hstack([x, zfull]) * np.sqrt(w)[:, None]
    prior = np.zeros((3 + J * q, 3 + J * q))
    prior[3:, 3:] = np.kron(np.eye(J), np.linalg.inv(psi))
    precision = design.T @ design / sigma2 + prior
    cov = np.linalg.inv(precision)
    mean = cov @ (design.T @ (y * np.sqrt(w))) / sigma2
    se = np.sqrt(np.diag(cov) / 4000)
    assert np.all(np.abs(draws.mean(0) - mean) < 4.5 * se)
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=0.12 * np.sqrt(
        np.outer(np.diag(cov), np.diag(cov))).max())
    np.testing.assert_allclose(np.diag(np.cov(draws.T)) / np.diag(cov), 1.0, atol=0.1)


def test_inverse_wishart_mean():
    scale = jnp.asarray([[2.0, 0.5], [0.5, 1.0]])
    keys = jax.random.split(jax.random.PRNGKey(2), 20000)
    draws = jax.vmap(lambda k: draw_inverse_wishart(k, 12.0, scale))(keys)
    # E[IW(nu, S)] = S / (nu - q - 1)
    np.testing.assert_allclose(np.asarray(draws).mean(0), np.asarray(scale) / 9.0, rtol=0.03,
                               atol=0.003)


# ---------------------------------------------------------------------- popmis against R


@pytest.mark.parametrize("method,ref,m", [("2l.pan", "popmis_2lpan", 100),
                                          ("2l.lmer", "popmis_2llmer", 50)])
def test_popmis_matches_r(popmis, method, ref, m):
    pred = jm.make_predictor_matrix(popmis, cluster="school")
    imp = jm.mice(popmis, m=m, maxit=20, method={"popular": method}, predictor_matrix=pred,
                  seed=11, progress=False)
    got, want = analyse(imp), SHARED[ref]
    for term, tol in (("(Intercept)", 0.03), ("sex", 0.03), ("texp", 0.003)):
        assert got["fixed"][term] == pytest.approx(want["est"][term], abs=tol), term
    assert got["tau2"] == pytest.approx(want["extra"]["Intercept~~Intercept|school"], abs=0.03)
    assert got["icc"] == pytest.approx(want["extra"]["ICC|school"], abs=0.03)
    assert got["sigma2"] == pytest.approx(want["extra"]["Residual~~Residual"], abs=0.03)


def test_single_level_strategies_distort_the_icc(popmis):
    """Case study I: ignoring the cluster shrinks the ICC; fixed cluster dummies inflate it."""
    multilevel = analyse(jm.mice(popmis, m=20, maxit=10, method={"popular": "2l.pan"},
                                 predictor_matrix=jm.make_predictor_matrix(popmis, "school"),
                                 seed=3, progress=False))
    ignore = jm.make_predictor_matrix(popmis)
    ignore.loc[:, "school"] = 0
    ignored = analyse(jm.mice(popmis, m=20, maxit=10, method={"popular": "pmm"},
                              predictor_matrix=ignore, seed=3, progress=False))
    dummies = popmis.assign(school=popmis.school.astype("category"))
    fixed = analyse(jm.mice(dummies, m=20, maxit=10, method={"popular": "norm"},
                            predictor_matrix=jm.make_predictor_matrix(dummies), seed=3,
                            progress=False))
    # R's pmm ignoring school: ICC 0.205 (m = 100)
    assert ignored["icc"] == pytest.approx(SHARED["popmis_pmm_nocluster"]["extra"]["ICC|school"],
                                           abs=0.03)
    assert ignored["icc"] < multilevel["icc"] - 0.2
    assert fixed["icc"] > multilevel["icc"] + 0.01


# ------------------------------------------------------------------------------ convergence


def split_rhat(chains: np.ndarray) -> float:
    """Gelman-Rubin R-hat of ``chains: f[iterations, m]``, each chain split in two halves."""
    half = chains.shape[0] // 2
    parts = np.concatenate([chains[:half], chains[half:2 * half]], axis=1)
    n = parts.shape[0]
    within = parts.var(axis=0, ddof=1).mean()
    between = n * parts.mean(axis=0).var(ddof=1)
    return float(np.sqrt(((n - 1) / n * within + between / n) / within))


def test_overdispersed_chains_agree_by_iteration_20(popmis):
    m = 8
    sd = popmis.popular.std()
    starts = []
    for c in range(m):  # chains start from -3.5 sd to +3.5 sd of the observed values
        start = popmis.copy()
        start["popular"] = start["popular"].fillna(popmis.popular.mean() + (c - 3.5) * sd)
        starts.append(start)
    imp = jm.mice(popmis, m=m, maxit=20, method={"popular": "2l.pan"},
                  predictor_matrix=jm.make_predictor_matrix(popmis, cluster="school"),
                  data_init=starts, seed=5, progress=False)
    trace = imp.chain_mean.loc["popular"].to_numpy()  # [iteration, chain]
    assert split_rhat(trace[10:20]) < 1.05
    # the statistic flags chains that have not mixed
    apart = trace[10:20] + np.linspace(0.0, 0.2, m)[None, :]
    assert split_rhat(apart) > 1.2


def test_gibbs_state_forgets_an_absurd_start(popmis):
    """Evidence for one sweep per visit: from variance parameters 100x too large or too small,
    the warm-started sampler agrees with itself within a few sweeps."""
    y = popmis.popular.to_numpy()
    ry = ~np.isnan(y)
    x = np.column_stack([np.ones(len(y)), popmis.sex, popmis.texp])
    inputs = VisitInputs(
        y=jnp.asarray(np.where(ry, y, np.nanmean(y))), ry=jnp.asarray(ry), wy=jnp.asarray(~ry),
        x=jnp.asarray(x), keep=jnp.ones(3, bool), gram=jnp.asarray(x.T @ (x * ry[:, None])),
        codes=jnp.asarray([1, 1, 1]), cluster=jnp.asarray(popmis.school.to_numpy() - 1))
    target = Target(name="popular", kind="continuous", n_clusters=100, n_random=1)
    fitted = pan_init(inputs, target, "uniform-shrinkage")
    step = jax.jit(lambda k, st: run_pan(k, st, inputs, target, 1, "uniform-shrinkage")[1].state)
    paths = []
    for factor in (100.0, 0.01):
        state = PanState(fitted.psi * factor, fitted.sigma2 * factor)
        path = []
        for sweep in range(8):
            state = step(jax.random.PRNGKey(sweep), state)
            path.append((float(state.psi[0, 0]), float(state.sigma2)))
        paths.append(np.array(path))
    # after 3 sweeps both chains sit in the posterior (tau^2 ~ 0.46 +- 0.07, sigma^2 ~ 0.45 +-
    # 0.02 given the observed rows): each draw within about 4 posterior sds (tau^2's posterior
    # is right-skewed; at this seed one draw is 0.73, a 0.3% tail event), their mean within
    # 0.1; and, fed the same keys, the two chains have forgotten their starts: they coincide
    # (to 1% from sweep 5 on, closer with every sweep)
    for path in paths:
        assert np.all(np.abs(path[3:, 0] - 0.46) < 0.3)
        assert abs(path[3:, 0].mean() - 0.46) < 0.1
        assert np.all(np.abs(path[3:, 1] - 0.45) < 0.07)
    np.testing.assert_allclose(paths[0][4:], paths[1][4:], rtol=1e-2)
    assert abs(paths[0][0, 0] - paths[1][0, 0]) > 0.5 or abs(paths[0][0, 1] - paths[1][0, 1]) > 0.1


# ------------------------------------------------------------------- awkward structures


@pytest.mark.parametrize("method", ["2l.pan", "2l.norm", "2l.lmer", "2l.pmm"])
def test_systematically_missing_schools(popmis, method):
    df = popmis.copy()
    gone = [3, 17, 58, 90]
    df.loc[df.school.isin(gone), "popular"] = np.nan
    imp = jm.mice(df, m=20, maxit=5, method={"popular": method},
                  predictor_matrix=jm.make_predictor_matrix(df, cluster="school"), seed=2,
                  progress=False)
    assert imp.logged_events.empty
    data = imp.complete("long")
    inside = data[data.school.isin(gone)]
    assert inside.popular.notna().all()
    # each missing school's mean differs between imputations by its random effect:
    # sd over imputations near sqrt(tau^2 + sigma^2 / n_j) ~ 0.7, never ~0
    spread = inside.groupby(["school", ".imp"]).popular.mean().groupby("school").std()
    assert spread.between(0.4, 1.1).all(), spread


def test_string_labels_single_row_and_complete_clusters(popmis):
    df = popmis.copy()
    df["school"] = "s" + df.school.astype(str)
    df.loc[0, "school"] = "lonely"  # a single-row cluster (its value is missing)
    df.loc[df.school == "s2", "popular"] = df.loc[df.school == "s2", "sex"] + 4.0  # complete
    assert np.isnan(df.loc[0, "popular"])
    for method in ("2l.pan", "2l.pmm"):
        imp = jm.mice(df, m=3, maxit=3, method={"popular": method},
                      predictor_matrix=jm.make_predictor_matrix(df, cluster="school"), seed=4,
                      progress=False)
        for k in range(3):
            done = imp.complete(k)
            assert done.popular.notna().all()
            pd.testing.assert_series_equal(done.popular[df.popular.notna()],
                                           df.popular[df.popular.notna()])


def test_random_slopes_and_cluster_means(popmis):
    pred = jm.make_predictor_matrix(popmis, cluster="school")
    pred.loc["popular", ["sex", "texp"]] = [4, 3]  # random slope + mean of sex; mean of texp
    imp = jm.mice(popmis, m=5, maxit=5, method={"popular": "2l.pan"}, predictor_matrix=pred,
                  seed=6, progress=False)
    fits = jm.lmer("popular ~ 1 + sex + texp + (1 + sex | school)", imp.complete("all"))
    # the data's random slope variance of sex (complete popmis: 0.11) survives imputation
    slope_var = np.mean([f.varcomp.vcov.iloc[1] for f in fits])
    assert 0.03 < slope_var < 0.3
    np.testing.assert_allclose(fits.fixed["sex"].mean(), 0.86, atol=0.06)


def test_same_seed_same_imputations(popmis):
    pred = jm.make_predictor_matrix(popmis, cluster="school")
    runs = [jm.mice(popmis, m=2, maxit=2, method={"popular": "2l.norm"}, predictor_matrix=pred,
                    seed=9, progress=False).complete("long") for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0], runs[1])
