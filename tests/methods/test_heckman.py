"""2l.heckman: the bivariate normal cdf, the per-cluster selection-model fits against an
independent maximum-likelihood fit (scipy), the exact draws of unselected outcomes, and
``jm.mice`` runs on data missing not at random (clusters wholly missing, wholly observed, no
cluster), with the bad inputs of issue 14.

The known-truth coverage study (500 replications per cell) is
tests/methods/test_heckman_simulation.py (slow) and studies/heckman_reps.py.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats

import jaxmice as jm
from jaxmice.methods import selection

CODES = jnp.array([1, 1, 1, -3])  # intercept, x1, x2 (both equations), z (selection only)


def bvn_owen(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """P(X < h, Y < k; rho) by Owen's T function (an independent formula)."""
    sq = np.sqrt(1.0 - rho**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        a_h = (k - rho * h) / (h * sq)
        a_k = (h - rho * k) / (k * sq)
    beta = np.where((h * k < 0) | ((h * k == 0) & (h + k < 0)), 0.5, 0.0)
    return (0.5 * stats.norm.cdf(h) + 0.5 * stats.norm.cdf(k) - special.owens_t(h, a_h)
            - special.owens_t(k, a_k) - beta)


def simulate_rows(rng: np.random.Generator, n: int, rho: float, gaussian: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One cluster of the selection model: design f[n, 4] (1, x1, x2, z), outcome, selected."""
    x1, x2, z = rng.normal(size=(3, n))
    u = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    selected = 0.2 + 0.5 * x1 + 0.3 * x2 + 1.0 * z + u[:, 0] > 0
    latent = 1.0 + 0.5 * x1 - 0.3 * x2 + (1.5 * u[:, 1] if gaussian else u[:, 1])
    y = latent if gaussian else (latent > 0).astype(float)
    return np.column_stack([np.ones(n), x1, x2, z]), y, selected


def scipy_fit(x: np.ndarray, y: np.ndarray, s: np.ndarray, gaussian: bool, start: np.ndarray
              ) -> np.ndarray:
    """The same likelihood (and prior on atanh rho) written with scipy, maximised by BFGS then
    Nelder-Mead then BFGS:
    (beta_S f[4], beta_O f[3], [log sigma], atanh rho)."""
    xo = x[:, :3]

    def nll(p):
        a, b = x @ p[:4], xo @ p[4:7]
        if gaussian:
            sigma, rho = np.exp(p[7]), np.tanh(p[8])
            r = (y - b) / sigma
            sel = (stats.norm.logcdf((a + rho * r) / np.sqrt(1 - rho**2))
                   + stats.norm.logpdf(r) - np.log(sigma))
        else:
            rho, sign = np.tanh(p[7]), 2 * y - 1
            sel = np.log(np.maximum(bvn_owen(a, sign * b, sign * rho), 1e-300))
        prior = 0.5 * (p[-1] / selection.RHO_PRIOR_SD) ** 2  # the same weak prior
        return -np.sum(np.where(s, sel, stats.norm.logcdf(-a))) + prior

    res = optimize.minimize(nll, start, method="BFGS", options=dict(gtol=1e-9))
    res = optimize.minimize(nll, res.x, method="Nelder-Mead",
                            options=dict(xatol=1e-10, fatol=1e-12, maxiter=20000))
    return optimize.minimize(nll, res.x, method="BFGS", options=dict(gtol=1e-10)).x


@jax.jit
def _bvn(h, k, rho):
    return selection.bvn_cdf(h, k, rho)


def test_bivariate_normal_cdf_matches_owens_formula():
    rng = np.random.default_rng(0)
    h, k = rng.normal(0, 2, (2, 400))
    rho = np.concatenate([rng.uniform(-0.99, 0.99, 396), [0.0, 0.5, -0.995, 0.995]])
    ours = np.asarray(_bvn(h, k, rho))
    np.testing.assert_allclose(ours, bvn_owen(h, k, rho), atol=1e-12)
    # the margins: rho = 0 is the product
    np.testing.assert_allclose(np.asarray(_bvn(h, k, np.zeros(400))),
                               stats.norm.cdf(h) * stats.norm.cdf(k), atol=1e-15)


def _fit(x, y, s, cluster, n_clusters, gaussian):
    eq = selection.equations(CODES, jnp.ones(4, bool), gaussian)
    free = jnp.broadcast_to(selection.free_parameters(eq), (n_clusters, 10))

    @jax.jit
    def fit(x, y, s, cluster):
        return selection.fit_clusters(x, y, s, cluster, n_clusters, eq, free)

    return fit(jnp.asarray(x), jnp.asarray(y), jnp.asarray(s), jnp.asarray(cluster))


@pytest.mark.parametrize("gaussian", [True, False], ids=["normal", "probit"])
def test_cluster_fits_match_an_independent_maximum_likelihood_fit(gaussian):
    """Three clusters fitted at once equal scipy's fit of each cluster's likelihood (1e-5), and
    the covariance is the inverse observed information."""
    rng = np.random.default_rng(11)
    sizes = (1500, 900, 1200) if gaussian else (2500, 2000, 3000)
    parts = [simulate_rows(rng, n, 0.6, gaussian) for n in sizes]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    s = np.concatenate([p[2] for p in parts])
    cluster = np.repeat(np.arange(3), sizes).astype(np.int32)
    fits = _fit(x, np.where(s, y, 0.0), s, cluster, 3, gaussian)
    assert np.asarray(fits.ok).all()
    free = np.r_[np.ones(4, bool), np.ones(3, bool), False, gaussian, True]
    for j, (xj, yj, sj) in enumerate(parts):
        ours = np.asarray(fits.theta[j])[free]
        reference = scipy_fit(xj, yj, sj, gaussian, ours + 0.05)
        np.testing.assert_allclose(ours, reference, atol=1e-5)
        se = np.sqrt(np.diag(np.asarray(fits.covariance[j]))[free])
        assert np.all((se > 0.005) & (se < 0.5))
        # the outcome coefficient of the selection-only z is held at 0
        assert abs(float(fits.theta[j, 7])) < 1e-12


def test_a_large_sample_recovers_the_model():
    """40,000 rows: beta_S, beta_O, sigma and rho within 4 standard errors of the truth."""
    rng = np.random.default_rng(5)
    x, y, s = simulate_rows(rng, 40_000, 0.6, True)
    fits = _fit(x, np.where(s, y, 0.0), s, np.zeros(len(y), np.int32), 1, True)
    theta = np.asarray(fits.theta[0])
    se = np.sqrt(np.diag(np.asarray(fits.covariance[0])))
    truth = np.array([0.2, 0.5, 0.3, 1.0, 1.0, 0.5, -0.3, 0.0, np.log(1.5), np.arctanh(0.6)])
    free = np.r_[np.ones(7, bool), False, True, True]
    assert np.all(np.abs(theta - truth)[free] < 4 * se[free])
    assert se[8] < 0.02 and se[9] < 0.05


def test_unselected_outcomes_follow_the_truncated_bivariate_normal():
    """Mean and variance of y given non-selection (continuous), and P(y = 1 | not selected)
    (binary), against their closed forms, within 5 Monte Carlo standard errors."""
    n = 200_000
    a, b, sigma, rho = 0.7, 1.0, 1.5, 0.6
    draw = jax.jit(selection.draw_unselected, static_argnums=(5,))
    key = jax.random.PRNGKey(3)
    y = np.asarray(draw(key, jnp.full(n, a), jnp.full(n, b), sigma, rho, True))
    c = -a  # u_S < c
    mills = stats.norm.pdf(c) / stats.norm.cdf(c)
    mean_u, var_u = -mills, 1.0 - c * mills - mills**2
    mean = b + sigma * rho * mean_u
    var = sigma**2 * (rho**2 * var_u + 1.0 - rho**2)
    assert abs(y.mean() - mean) < 5 * np.sqrt(var / n)
    assert abs(y.var() - var) < 5 * var * np.sqrt(2.0 / n)
    ones = np.asarray(draw(key, jnp.full(n, a), jnp.full(n, 0.3), 1.0, rho, False))
    p = bvn_owen(np.array(0.3), np.array(-a), np.array(-rho)) / stats.norm.cdf(-a)
    assert abs(ones.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    # delta shifts the probit index of a binary outcome
    shifted = np.asarray(draw(key, jnp.full(n, a), jnp.full(n, 0.3), 1.0, rho, False, 0.5))
    p_shift = bvn_owen(np.array(0.8), np.array(-a), np.array(-rho)) / stats.norm.cdf(-a)
    assert abs(shifted.mean() - p_shift) < 5 * np.sqrt(p_shift * (1 - p_shift) / n)


# ----- jm.mice on MNAR data ------------------------------------------------------------------


def mnar_frame(seed: int, n_clusters: int = 10, per: int = 300, rho: float = 0.6,
               wholly_missing: int = 2, gaussian: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """Two-level MNAR data: random intercepts in both equations; the first
    ``wholly_missing`` clusters have y missing entirely. Returns the frame and the full y."""
    rng = np.random.default_rng(seed)
    n = n_clusters * per
    g = np.repeat(np.arange(n_clusters), per)
    x1, x2, z = rng.normal(size=(3, n))
    u = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    latent = 1.0 + rng.normal(0, 0.3, n_clusters)[g] + 0.5 * x1 - 0.3 * x2 + u[:, 1]
    y = latent if gaussian else (latent > 0).astype(float)
    sel = 0.3 + rng.normal(0, 0.2, n_clusters)[g] + 0.4 * x1 + 0.3 * x2 + 1.0 * z + u[:, 0] > 0
    sel[g < wholly_missing] = False
    df = pd.DataFrame({"g": [f"c{k}" for k in g], "x1": x1, "x2": x2, "z": z,
                       "y": np.where(sel, y, np.nan)})
    return df, y


def heckman_predictors(df: pd.DataFrame) -> pd.DataFrame:
    pred = jm.make_predictor_matrix(df, cluster="g")
    pred.loc["y", "z"] = -3
    return pred


@pytest.fixture(scope="module")
def mnar_run():
    df, y = mnar_frame(2)
    imp = jm.mice(df, m=5, maxit=1, method={"y": "2l.heckman"},
                  predictor_matrix=heckman_predictors(df), seed=7, progress=False)
    return df, y, imp


def test_heckman_corrects_the_missing_not_at_random_mean(mnar_run):
    """The mean of the imputed values is near the true mean of the missing ones, where the MAR
    method (2l.pan, z an ordinary predictor) is far above it."""
    df, y, imp = mnar_run
    missing = df.y.isna().to_numpy()
    imputed = np.mean([imp.complete(k).y.to_numpy()[missing].mean() for k in range(5)])
    pred = jm.make_predictor_matrix(df, cluster="g")
    mar = jm.mice(df, m=5, maxit=5, method={"y": "2l.pan"}, predictor_matrix=pred, seed=7,
                  progress=False)
    mar_mean = np.mean([mar.complete(k).y.to_numpy()[missing].mean() for k in range(5)])
    truth = y[missing].mean()
    assert abs(imputed - truth) < 0.1
    assert mar_mean - truth > 0.3
    # observed values untouched, the two wholly missing clusters logged before the run
    for k in range(5):
        np.testing.assert_array_equal(imp.complete(k).y[~missing], df.y[~missing])
    events = imp.logged_events
    notes = events[events.event == "cluster not fitted"].detail.tolist()
    assert len(notes) == 2 and all("systematically missing" in d for d in notes)
    assert {"'c0'", "'c1'"} <= {d.split(":")[0].split()[-1] for d in notes}
    assert not (events.event == "draw failed").any()


def test_heckman_analysis_recovers_the_fixed_effects(mnar_run):
    """The pooled lmer of the completed data is within 3 pooled SEs of the generating fixed
    effects (1, 0.5, -0.3)."""
    _, _, imp = mnar_run
    table = imp.fit("y ~ x1 + x2 + (1 | g)").pool().summary().set_index("term")
    truth = pd.Series({"(Intercept)": 1.0, "x1": 0.5, "x2": -0.3})
    gap = (table.estimate - truth).abs() / table.std_error
    assert (gap < 3).all(), gap


def test_same_seed_same_imputations(mnar_run):
    df, _, imp = mnar_run
    again = jm.mice(df, m=5, maxit=1, method={"y": "2l.heckman"},
                    predictor_matrix=heckman_predictors(df), seed=7, progress=False)
    np.testing.assert_array_equal(np.asarray(again.data), np.asarray(imp.data))


def test_delta_shifts_continuous_imputations_in_the_same_program(mnar_run):
    """delta = 5 adds exactly 5 to every imputed value (y is the only incomplete column), and
    the loop over deltas compiles nothing new."""
    from jaxmice._src.engine import sampler

    df, _, imp = mnar_run
    before = sampler.iterate._cache_size()
    shifted = jm.mice(df, m=5, maxit=1, method={"y": "2l.heckman"},
                      predictor_matrix=heckman_predictors(df), seed=7, progress=False,
                      delta={"y": 5.0})
    missing = df.y.isna().to_numpy()
    for k in range(5):
        gap = shifted.complete(k).y.to_numpy() - imp.complete(k).y.to_numpy()
        np.testing.assert_allclose(gap[missing], 5.0, atol=1e-9)
        np.testing.assert_array_equal(gap[~missing], 0.0)
    assert sampler.iterate._cache_size() == before


@pytest.mark.slow
def test_binary_outcome_with_cluster_wholly_observed():
    """A binary outcome (probit) whose cluster c2 is wholly observed: logged as carrying no
    selection information; the MNAR imputations have the right share of ones, and a positive
    delta on the probit index raises it."""
    df, y = mnar_frame(4, n_clusters=6, per=400, gaussian=False, wholly_missing=1)
    df.loc[df.g == "c2", "y"] = y[(df.g == "c2").to_numpy()]
    pred = heckman_predictors(df)
    # a float 0/1 column is continuous (as numeric is in R): binary is asked for
    imp = jm.mice(df, m=4, maxit=1, method={"y": "2l.heckman"}, predictor_matrix=pred,
                  seed=3, progress=False, kinds={"y": "binary"})
    missing = df.y.isna().to_numpy()
    share = np.mean([imp.complete(k).y.to_numpy()[missing].mean() for k in range(4)])
    truth = y[missing].mean()
    assert abs(share - truth) < 0.06
    events = imp.logged_events
    details = " ".join(events[events.event == "cluster not fitted"].detail)
    assert "'c2': every value observed" in details and "'c0': no observed value" in details
    assert not (events.event == "draw failed").any()
    up = jm.mice(df, m=4, maxit=1, method={"y": "2l.heckman"}, predictor_matrix=pred, seed=3,
                 progress=False, delta={"y": 1.0})
    share_up = np.mean([up.complete(k).y.to_numpy()[missing].mean() for k in range(4)])
    assert share_up > share + 0.1


def test_single_level_heckman_and_pmm():
    """Without a cluster code it is the single-level Heckman model; ``pmm`` imputes observed
    values only."""
    df, y = mnar_frame(6, n_clusters=4, per=500, wholly_missing=0)
    df = df.drop(columns="g")
    pred = jm.make_predictor_matrix(df)
    pred.loc["y", "z"] = -3
    imp = jm.mice(df, m=3, maxit=1, method={"y": "2l.heckman"}, predictor_matrix=pred,
                  seed=2, progress=False, method_options={"y": {"pmm": True}})
    missing = df.y.isna().to_numpy()
    observed = set(df.y[~missing])
    for k in range(3):
        values = imp.complete(k).y.to_numpy()[missing]
        assert set(values) <= observed
    imputed = np.mean([imp.complete(k).y.to_numpy()[missing].mean() for k in range(3)])
    # the between-cluster spread of the intercepts (sd 0.3) is ignored here: a looser bar
    assert abs(imputed - y[missing].mean()) < 0.2


# ----- bad input -----------------------------------------------------------------------------


def test_selection_codes_need_heckman():
    df, _ = mnar_frame(1, n_clusters=4, per=50)
    pred = heckman_predictors(df)
    with pytest.raises(ValueError, match=r"column 'y'.*code -3.*'z'.*2l\.heckman"):
        jm.mice(df, m=1, maxit=1, method={"y": "2l.pmm"}, predictor_matrix=pred)
    pred.loc["y", "z"] = -4
    with pytest.raises(ValueError, match=r"column 'y'.*code -4.*'z'.*2l\.heckman"):
        jm.mice(df, m=1, maxit=1, method={"y": "2l.pan"}, predictor_matrix=pred)


def test_binary_outcome_coded_other_than_zero_one():
    df, _ = mnar_frame(1, n_clusters=4, per=50, gaussian=False)
    df["y"] = df.y + 1.0  # 1/2
    with pytest.raises(ValueError, match=r"column 'y'.*coded 0/1.*\[1\.0, 2\.0\]"):
        jm.mice(df, m=1, maxit=1, method={"y": "2l.heckman"},
                predictor_matrix=heckman_predictors(df), kinds={"y": "binary"})


def test_no_exclusion_restriction_warns():
    df, _ = mnar_frame(1, n_clusters=4, per=50)
    pred = jm.make_predictor_matrix(df, cluster="g")
    with pytest.warns(UserWarning, match=r"column 'y'.*no predictor has code -3"):
        jm.mice(df, m=1, maxit=0, method={"y": "2l.heckman"}, predictor_matrix=pred,
                progress=False)


@pytest.mark.parametrize("options, message", [
    ({"meta_method": "bayes"}, r"column 'y'.*meta_method must be one of"),
    ({"pmm": "yes"}, r"column 'y'.*pmm must be True or False"),
])
def test_bad_options(options, message):
    df, _ = mnar_frame(1, n_clusters=4, per=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=message):
            jm.mice(df, m=1, maxit=1, method={"y": "2l.heckman"},
                    predictor_matrix=heckman_predictors(df), method_options={"y": options})


def test_wild_psi_draws_are_guarded():
    """The boundary case of studies/heckman_psi_boundary_repro.py (replication 137 of the
    cell con-rho0.3-sys): the REML Psi of the outcome slopes sits at 0 with a huge variance,
    and its draws (Psi[x2, x2] ~ 7, up to 150, against a cluster SE of 0.08) gave clusters
    that draw from the population x2 slopes of +-5 to 30, imputed |y| up to ~100 and a pooled
    x2 of 0.73 (truth -0.3). A draw beyond PSI_DRAW_LIMIT times the estimate's scale is
    replaced by the estimate: the imputations stay in the observed range's neighbourhood and
    x2 is within 4 pooled SEs of the truth."""
    import warnings

    import heckman_simulation as hs

    cell, rep = hs.Cell("continuous", 0.3, True), 137
    _, df = hs.generate(np.random.default_rng([cell.seed, rep]), cell)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = hs.impute(df, "2l.heckman", seed=100_000 * cell.seed + rep, binary=False)
        pooled = imp.fit("y ~ x1 + x2 + (1 | g)").pool()
    missing = df.y.isna().to_numpy()
    imputed = np.array([imp.complete(k).y.to_numpy()[missing] for k in range(imp.m)])
    spread = df.y.max() - df.y.min()
    assert imputed.max() < df.y.max() + spread and imputed.min() > df.y.min() - spread
    assert abs(pooled.qbar[2] - (-0.3)) < 4 * pooled.std_error[2]
