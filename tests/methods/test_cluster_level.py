"""Cluster-level methods (2lonly.mean, 2lonly.norm, 2lonly.pmm), their validation, and the
multilevel defaults of make_method."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import jaxmice as jm
from jaxmice.methods import VisitInputs
from jaxmice.methods.cluster_level import to_clusters, to_rows

N_CLUSTERS = 40
M = 300


def _frame(seed: int = 3) -> pd.DataFrame:
    """Schools s00..s39 of 2-12 pupils; pupil-level x around a school effect u; school-level
    w = 1 + 2 xbar + noise, constant within schools. w is missing for every pupil of 10
    schools and for some pupils of other schools."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 13, size=N_CLUSTERS)
    school = np.repeat(np.arange(N_CLUSTERS), sizes)
    u = rng.normal(size=N_CLUSTERS)
    x = u[school] + rng.normal(scale=0.8, size=school.size)
    xbar = np.bincount(school, weights=x) / sizes
    w_school = 1.0 + 2.0 * xbar + rng.normal(scale=0.5, size=N_CLUSTERS)
    w = w_school[school]
    missing_school = np.zeros(N_CLUSTERS, bool)
    missing_school[rng.choice(N_CLUSTERS, 10, replace=False)] = True
    drop = missing_school[school] | (rng.uniform(size=school.size) < 0.2)
    # every school not wholly missing keeps at least one observed pupil
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    drop[first[~missing_school]] = False
    w = np.where(drop, np.nan, w)
    return pd.DataFrame({"school": [f"s{g:02d}" for g in school], "x": x, "w": w})


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return _frame()


@pytest.fixture(scope="module")
def runs(df) -> dict[str, np.ndarray]:
    """Imputed w, f[M, n], for each method (one iteration suffices: only w is incomplete)."""
    out = {}
    for method in ("2lonly.mean", "2lonly.norm", "2lonly.pmm"):
        imp = jm.mice(df, m=M, maxit=1, method={"w": method},
                      predictor_matrix={"w": {"school": -2, "x": 1}}, seed=11, progress=False)
        out[method] = imp.completed_arrays[:, :, list(df.columns).index("w")]
    return out


def _school_codes(df):
    return np.unique(df["school"], return_inverse=True)[1]


def _observed_by_school(df):
    """w per school (NaN for wholly missing schools), xbar per school."""
    g = _school_codes(df)
    seen = df["w"].notna().to_numpy()
    w = np.full(N_CLUSTERS, np.nan)
    w[g[seen]] = df["w"].to_numpy()[seen]
    xbar = np.bincount(g, weights=df["x"].to_numpy()) / np.bincount(g)
    return w, xbar


@pytest.mark.parametrize("method", ["2lonly.mean", "2lonly.norm", "2lonly.pmm"])
def test_constant_within_clusters_and_observed_clusters_kept(df, runs, method):
    w = runs[method]
    g = _school_codes(df)
    w_school, _ = _observed_by_school(df)
    assert np.isfinite(w).all()
    first_row = np.unique(g, return_index=True)[1]
    # constant within each school, in every imputation (exactly: one value copied)
    np.testing.assert_array_equal(w, w[:, first_row][:, g])
    # observed cells never change; schools with an observed pupil keep that value everywhere
    seen = df["w"].notna().to_numpy()
    np.testing.assert_array_equal(w[:, seen], np.broadcast_to(df["w"].to_numpy()[seen],
                                                               w[:, seen].shape))
    observed_school = np.isfinite(w_school)
    np.testing.assert_array_equal(w[:, observed_school[g]],
                                  np.broadcast_to(w_school[g][observed_school[g]],
                                                  (M, observed_school[g].sum())))
    # wholly missing schools do get different values across imputations
    missing_rows = ~observed_school[g]
    assert missing_rows.any() and (w[:, missing_rows].std(axis=0) > 0).all()


def test_mean_gives_cluster_mean_or_a_random_observed_cluster(df, runs):
    w = runs["2lonly.mean"]
    g = _school_codes(df)
    w_school, _ = _observed_by_school(df)
    observed = np.isfinite(w_school)
    # wholly missing schools: a random observed school's value, uniform over schools (not
    # over pupils); the school sizes vary, so a pupil-weighted draw would fail this
    first_row = np.unique(g, return_index=True)[1]
    drawn = w[:, first_row][:, ~observed]
    assert np.isin(drawn, w_school[observed]).all()
    # how often each observed school is drawn: uniform (chi-square test at the 0.1% level),
    # far from the frequencies of a draw over the observed pupils
    sizes = np.bincount(g[df["w"].notna().to_numpy()], minlength=N_CLUSTERS)[observed]
    counts = (drawn.ravel()[:, None] == w_school[observed][None, :]).sum(axis=0)
    assert counts.sum() == drawn.size
    uniform = np.full(observed.sum(), drawn.size / observed.sum())
    by_pupil = drawn.size * sizes / sizes.sum()
    df_chi2 = observed.sum() - 1
    assert stats.chi2.sf(((counts - uniform) ** 2 / uniform).sum(), df_chi2) > 1e-3
    assert stats.chi2.sf(((counts - by_pupil) ** 2 / by_pupil).sum(), df_chi2) < 1e-6


def test_pmm_imputes_only_observed_cluster_values(df, runs):
    w = runs["2lonly.pmm"]
    w_school, xbar = _observed_by_school(df)
    observed = np.isfinite(w_school)
    g = _school_codes(df)
    first_row = np.unique(g, return_index=True)[1]
    drawn = w[:, first_row][:, ~observed]
    assert np.isin(drawn, w_school[observed]).all()
    # matching on xbar: the imputations follow the schools' xbar (slope 1.54 here, 1.82 in
    # the observed schools; matching with few donors attenuates it; 0 if xbar were ignored)
    xc = xbar[~observed] - xbar[~observed].mean()
    slopes = (drawn - drawn.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    assert slopes.mean() > 1.0
    assert slopes.mean() > 20 * slopes.std(ddof=1) / np.sqrt(M)


def test_norm_reproduces_the_cluster_level_regression(df, runs):
    """Imputations of a wholly missing school j are draws from the posterior predictive of
    the regression of w on xbar over the observed schools: mean xbar_j' beta_hat, variance
    s^2 df / (df - 2) (1 + h_j)."""
    w = runs["2lonly.norm"]
    w_school, xbar = _observed_by_school(df)
    observed = np.isfinite(w_school)
    design = np.column_stack([np.ones(N_CLUSTERS), xbar])
    xo = design[observed]
    beta, rss = np.linalg.lstsq(xo, w_school[observed], rcond=None)[:2]
    dof = observed.sum() - 2
    s2 = rss[0] / dof
    xm = design[~observed]
    lev = np.einsum("ij,jk,ik->i", xm, np.linalg.inv(xo.T @ xo), xm)
    mu, var = xm @ beta, s2 * dof / (dof - 2) * (1 + lev)
    g = _school_codes(df)
    first_row = np.unique(g, return_index=True)[1]
    drawn = w[:, first_row][:, ~observed]  # f[M, 10]
    assert np.all(np.abs(drawn.mean(axis=0) - mu) < 4 * np.sqrt(var / M))
    ratio = drawn.var(axis=0, ddof=1) / var
    assert abs(ratio.mean() - 1) < 0.15, ratio
    # slope of each imputation's missing schools on xbar, averaged over imputations
    xc = xbar[~observed] - xbar[~observed].mean()
    slopes = (drawn - drawn.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    assert abs(slopes.mean() - beta[1]) < 4 * slopes.std(ddof=1) / np.sqrt(M)
    assert abs(beta[1] - 2.0) < 0.5  # and the regression is the generating one


def test_codes_2_to_4_act_as_1(df):
    def run(code):
        imp = jm.mice(df, m=2, maxit=1, method={"w": "2lonly.norm"},
                      predictor_matrix={"w": {"school": -2, "x": code}}, seed=5,
                      progress=False)
        return imp.complete("long")

    reference = run(1)
    for code in (2, 3, 4):
        pd.testing.assert_frame_equal(run(code), reference)


def test_to_clusters_aggregates():
    """Three clusters: rows 0-1, 2-4, 5. Cluster 0 observed (3, 3), cluster 1 partly observed
    (5 and a missing row), cluster 2 missing."""
    cluster = jnp.array([0, 0, 1, 1, 1, 2])
    x = jnp.column_stack([jnp.ones(6), jnp.array([1.0, 3.0, 0.0, 3.0, 6.0, 7.0])])
    ry = jnp.array([True, True, True, False, True, False])
    y = jnp.array([3.0, 3.0, 5.0, 0.0, 5.0, 0.0])
    inputs = VisitInputs(y=y, ry=ry, wy=~ry, x=x, keep=jnp.ones(2, bool),
                         gram=jnp.zeros((2, 2)), codes=jnp.ones(2, jnp.int32), cluster=cluster)
    out = to_clusters(inputs, 3)
    np.testing.assert_array_equal(out.y, [3.0, 5.0, 0.0])
    np.testing.assert_array_equal(out.ry, [True, True, False])
    np.testing.assert_array_equal(out.wy, [False, True, True])
    np.testing.assert_allclose(out.x, [[1, 2], [1, 3], [1, 7]])
    np.testing.assert_allclose(out.gram, [[2, 5], [5, 13]])
    np.testing.assert_array_equal(out.cluster, [0, 1, 2])
    np.testing.assert_array_equal(out.keep, [True, True])
    np.testing.assert_array_equal(to_rows(jnp.array([10.0, 20.0, 30.0]), inputs),
                                  [10, 10, 20, 20, 20, 30])
    # a predictor whose cluster means are all equal is dropped at cluster level
    centred = inputs._replace(x=x.at[:, 1].set(jnp.array([-1.0, 1, -3, 0, 3, 0])))
    np.testing.assert_array_equal(to_clusters(centred, 3).keep, [True, False])


def test_varying_within_cluster_is_an_error(df):
    bad = df.copy()
    g = _school_codes(df)
    rows = np.flatnonzero((g == 7) & df["w"].notna().to_numpy())
    if rows.size < 2:  # make sure school s07 has two observed pupils to disagree
        rows = np.flatnonzero(g == 7)[:2]
        bad.loc[rows, "w"] = 1.0
    bad.loc[rows[-1], "w"] = bad.loc[rows[0], "w"] + 1.0
    with pytest.raises(ValueError, match=r"column 'w' .*'2lonly\.pmm'.* within cluster 's07' "
                                         r"of 'school'"):
        jm.mice(bad, m=1, maxit=1, method={"w": "2lonly.pmm"},
                predictor_matrix={"w": {"school": -2}}, progress=False)


def test_make_method_multilevel_defaults(df):
    data = df.copy()
    rng = np.random.default_rng(0)
    data["y"] = data["x"] + rng.normal(size=len(data))  # pupil level, varies within schools
    data.loc[rng.uniform(size=len(data)) < 0.2, "y"] = np.nan
    # one observed pupil per school: constancy cannot be seen, so not cluster-level
    g = _school_codes(df)
    first_row = np.unique(g, return_index=True)[1]
    data["v"] = np.nan
    data.loc[first_row[:30], "v"] = rng.normal(size=30)
    pred = jm.make_predictor_matrix(data, cluster="school")
    methods = jm.make_method(data, pred)
    assert methods["w"] == "2lonly.pmm"
    assert methods["x"] == "" and methods["school"] == ""
    assert methods["y"] == methods["v"]
    assert methods["y"] == "2l.pmm"
    # without a cluster code, w is an ordinary pmm column
    assert jm.make_method(data)["w"] == "pmm"
    # jm.mice uses the same default for a column whose method is not given
    imp = jm.mice(df, m=1, maxit=1, predictor_matrix={"w": {"school": -2}}, seed=1,
                  progress=False)
    assert imp.method["w"] == "2lonly.pmm"


def test_make_method_gives_2l_pmm_for_row_level_columns(df):
    data = df.copy()
    data.loc[::7, "x"] = np.nan
    assert jm.make_method(data, jm.make_predictor_matrix(data, cluster="school"))["x"] == "2l.pmm"


def test_a_cluster_level_categorical_keeps_its_levels_and_dtype(df):
    """mice issue 555 (2lonly.pmm on a factor gives invalid levels): a school-level nominal
    column gets 2lonly.polyreg by default; the completed column has the user's categories and
    dtype, is constant within schools, and observed schools keep their level."""
    g = _school_codes(df)
    rng = np.random.default_rng(9)
    levels = ["rural", "suburb", "city"]
    per_school = rng.integers(0, 3, g.max() + 1)
    kind = pd.Series(pd.Categorical.from_codes(per_school[g], levels))
    missing_schools = rng.random(g.max() + 1) < 0.3
    data = df[["school", "x"]].assign(area=kind.mask(missing_schools[g]))
    pred = jm.make_predictor_matrix(data, cluster="school")
    assert jm.make_method(data, pred)["area"] == "2lonly.polyreg"
    imp = jm.mice(data, m=2, maxit=1, predictor_matrix=pred, seed=3, progress=False)
    for i in range(2):
        done = imp.complete(i)["area"]
        assert done.dtype == data["area"].dtype and done.notna().all()
        assert (done.groupby(g).nunique() == 1).all()
        seen = ~missing_schools[g]
        assert (done[seen] == data["area"][seen]).all()
