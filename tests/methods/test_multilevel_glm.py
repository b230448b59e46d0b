"""The multilevel methods for binary, categorical and count targets (2l.bin, 2l.polyreg,
2l.polr, 2l.pois): the Pólya-Gamma draw against its exact moments, each sampler's chain against
the complete-data glmer fit or the generating values, each cluster's effect informed by its own
rows (mice issue 686), wholly missing clusters drawn from N(0, Psi), and awkward data (one value
in a cluster, separation, 11 random effects in 15 clusters)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.engine import sampler
from jaxmice._src.numerics.random import polya_gamma, polya_gamma_mean

J, PER = 30, 40
N = J * PER
MISSING_CLUSTERS = (0, 1, 2)  # the target wholly missing there
SWEEPS = 400
BURN = 50


def polya_gamma_variance(c: np.ndarray) -> np.ndarray:
    """Var PG(1, c) = (sinh c - c) / (4 c^3 cosh^2(c / 2)) (1/24 at 0)."""
    c = np.abs(c)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = (np.sinh(c) - c) / (4 * c**3 * np.cosh(c / 2) ** 2)
    return np.where(c < 1e-3, 1 / 24, v)


@pytest.mark.parametrize("c", [0.0, 0.7, 2.5, 8.0])
def test_polya_gamma_draws_have_the_exact_mean_and_variance(c):
    n = 400_000
    draws = np.asarray(polya_gamma(jax.random.PRNGKey(11), jnp.full(n, c)))
    mean, var = float(polya_gamma_mean(jnp.asarray(c))), polya_gamma_variance(np.array(c))
    assert mean == pytest.approx(np.tanh(c / 2) / (2 * c) if c else 0.25, rel=1e-9)
    # Monte Carlo SEs: sd / sqrt(n) for the mean; for the variance sqrt((m4 - var^2) / n)
    m4 = np.mean((draws - draws.mean()) ** 4)
    assert abs(draws.mean() - mean) < 4 * np.sqrt(var / n)
    assert abs(draws.var() - var) < 4 * np.sqrt((m4 - var**2) / n)
    assert (draws > 0).all()


# ------------------------------------------------------------------ chains against the truth


def _frame(kind: str, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """30 clusters of 40 rows: complete x, target ``t`` of ``kind`` with a random intercept
    (sd 0.8), 20% missing at random given x and wholly missing in clusters 0-2. Returns the
    frame, the complete target and the clusters' true effects."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(J), PER)
    x = rng.normal(size=N)
    b = rng.normal(0, 0.8, J)
    eta = 0.8 * x + b[g]
    if kind == "binary":
        t = (rng.random(N) < 1 / (1 + np.exp(-(-0.4 + eta)))).astype(int)
    elif kind == "count":
        t = rng.poisson(np.exp(0.2 + 0.6 * x + b[g]))
    elif kind == "ordinal":  # probit with cut points 0 and 0.9 on the latent scale
        t = np.searchsorted([0.0, 0.9], 0.3 + eta + rng.normal(size=N))
    else:  # nominal: baseline-category logits, the random intercept in level 1 only
        logits = np.column_stack([np.zeros(N), -0.2 + eta, 0.3 - 0.7 * x])
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        t = (rng.random(N)[:, None] > np.cumsum(p, 1)).sum(1)
    missing = np.isin(g, MISSING_CLUSTERS) | (rng.random(N) < 1 / (1 + np.exp(-(-1.6 + x))))
    if kind in ("binary", "count"):
        column = pd.Series(pd.array(np.where(missing, None, t), dtype="Int64"))
    else:
        column = pd.Series(pd.Categorical.from_codes(
            t, ["a", "b", "c"], ordered=kind == "ordinal")).mask(missing)
    return pd.DataFrame({"g": g, "x": x, "t": column}), t, b


@functools.cache
def _chain(method: str, kind: str):
    """The method's chain of states over ``SWEEPS`` visits on ``_frame(kind)`` (the visit's
    inputs from a one-iteration run): states stacked, inputs, frame, truth."""
    df, t, b = _frame(kind)
    pred = jm.make_predictor_matrix(df, cluster="g")
    imp = jm.mice(df, m=1, maxit=1, method={"t": method}, predictor_matrix=pred, seed=1,
                  progress=False, kinds={"t": "count"} if kind == "count" else None)
    v = int(np.flatnonzero(np.asarray(imp.consts.visits.column) == 2)[0])
    branch = imp.plan.branches[imp.plan.visit_branch[v]]
    imputer = branch.method.bind(branch.target)
    inputs, _ = sampler.visit_inputs(imp.plan, imp.data[0], imp.consts, v)

    @jax.jit
    def run(key):
        def body(state, k):
            out = imputer.draw(k, state, inputs)
            return out.state, (out.state, out.ok)

        return jax.lax.scan(body, imputer.init(inputs), jax.random.split(key, SWEEPS))[1]

    states, ok = run(jax.random.PRNGKey(7))
    assert bool(np.asarray(ok).all())
    return jax.tree.map(lambda a: np.asarray(a)[BURN:], states), inputs, df, t, b


def _effects(states):
    return getattr(states, "effects", states)


@pytest.mark.parametrize(("method", "kind", "family"), [
    ("2l.bin", "binary", "binomial"), ("2l.pois", "count", "poisson")])
def test_posterior_means_agree_with_the_complete_case_glmer(method, kind, family):
    """With weak priors the posterior means of beta sit within a fraction of an SE of glmer's
    estimates on the observed rows, and Psi near glmer's variance."""
    states, _, df, _, _ = _chain(method, kind)
    fit = jm.glmer("t ~ x + (1 | g)", df.dropna(), family=family)
    fixed = fit.tidy().query("effect == 'fixed'")
    beta = _effects(states).beta[:, :2]  # design: intercept, x
    mean, se = beta.mean(0), beta.std(0)
    np.testing.assert_array_less(np.abs(mean - fixed.estimate.to_numpy()),
                                 0.5 * fixed.std_error.to_numpy())
    np.testing.assert_allclose(se, fixed.std_error.to_numpy(), rtol=0.25)
    tau2 = float(fit.varcomp.vcov.iloc[0])
    # the posterior mean of a variance exceeds the ML estimate by about var / J (27 clusters)
    assert tau2 * 0.9 < _effects(states).psi[:, 0, 0].mean() < tau2 * 1.5


def test_ordinal_probit_recovers_the_generating_values():
    states, _, _, _, _ = _chain("2l.polr", "ordinal")
    beta, gaps = states.effects.beta[:, :2], np.exp(states.log_gaps[:, 0])
    for draws, truth in ((beta[:, 0], 0.3), (beta[:, 1], 0.8), (gaps, 0.9)):
        assert abs(draws.mean() - truth) < 3 * draws.std()
    assert 0.25 < states.effects.psi[:, 0, 0].mean() < 1.3  # truth 0.64, 27 clusters


def test_multinomial_logit_recovers_the_generating_values():
    states, _, _, _, _ = _chain("2l.polyreg", "nominal")
    beta = states.beta[:, :, :2]  # f[draws, K-1, (intercept, x)]
    for draws, truth in ((beta[:, 0, 0], -0.2), (beta[:, 0, 1], 0.8), (beta[:, 1, 0], 0.3),
                         (beta[:, 1, 1], -0.7)):
        assert abs(draws.mean() - truth) < 3 * draws.std()
    # level 1 has the random intercept, level 2 none: its Psi is small
    assert states.psi[:, 0, 0, 0].mean() > 3 * states.psi[:, 1, 0, 0].mean()


@pytest.mark.parametrize(("method", "kind"), [
    ("2l.bin", "binary"), ("2l.pois", "count"), ("2l.polr", "ordinal")])
def test_each_cluster_effect_follows_its_own_rows_and_missing_clusters_the_marginal(method,
                                                                                     kind):
    """mice issue 686: a cluster's own rows inform its effect. The posterior means of b_j in
    observed clusters track the generating effects; in wholly missing clusters b_j has mean 0
    and variance Psi (the draws' spread matches the mean Psi within Monte Carlo error)."""
    states, _, _, _, b = _chain(method, kind)
    effects = _effects(states)
    seen = np.setdiff1d(np.arange(J), MISSING_CLUSTERS)
    b_mean = effects.b[:, :, 0].mean(0)
    assert np.corrcoef(b_mean[seen], b[seen])[0, 1] > 0.8
    unseen = effects.b[:, list(MISSING_CLUSTERS), 0]  # f[draws, 3]
    psi = effects.psi[:, 0, 0]
    z = unseen / np.sqrt(psi)[:, None]  # N(0, 1) given Psi
    n_eff = z.shape[0] / 5  # autocorrelated draws: a conservative effective size
    assert abs(z.mean()) < 4 / np.sqrt(3 * n_eff)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / (3 * n_eff))


def test_2l_pois_accepts_most_moves():
    _, inputs, _, _, _ = _chain("2l.pois", "count")
    from jaxmice.methods import l2_pois
    from jaxmice.methods.multilevel_glm import glm_visit

    target = jm.methods.get_method("2l.pois").target("t", "count", 0, J, np.asarray(
        inputs.codes))
    w = np.asarray(inputs.ry, float)
    mean = float(w @ np.asarray(inputs.y) / w.sum())
    facts = glm_visit(inputs, target, jnp.asarray(mean), "uniform-shrinkage", 5.0)
    start = jm.methods.get_method("2l.pois").bind(target).init(inputs)

    @jax.jit
    def rate(key):
        def body(s, k):
            s, accepted = l2_pois.mh_sweep(k, s, facts, inputs.y, inputs.cluster)
            return s, accepted

        return jax.lax.scan(body, start, jax.random.split(key, 300))[1].mean()

    assert float(rate(jax.random.PRNGKey(2))) > 0.5


# ------------------------------------------------------------------ awkward data, bad input

AWKWARD_J, AWKWARD_PER = 12, 25


def _awkward(column: pd.Series, name: str = "t") -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = AWKWARD_J * AWKWARD_PER
    return pd.DataFrame({"g": np.repeat(np.arange(AWKWARD_J), AWKWARD_PER),
                         "x": rng.normal(size=n), name: column.mask(rng.random(n) < 0.3)})


def _impute(df: pd.DataFrame, method: str, **kwargs) -> jm.Imputations:
    pred = jm.make_predictor_matrix(df, cluster="g")
    imp = jm.mice(df, m=2, maxit=3, method={"t": method}, predictor_matrix=pred, seed=1,
                  progress=False, **kwargs)
    assert imp.logged_events.empty, imp.logged_events
    assert np.isfinite(np.asarray(imp.data)).all()
    return imp


def _codes(rng: np.random.Generator, levels: int) -> np.ndarray:
    return rng.integers(0, levels, AWKWARD_J * AWKWARD_PER)


@pytest.mark.parametrize(("method", "ordered"), [("2l.polyreg", False), ("2l.polr", True)])
def test_a_level_missing_from_some_clusters_gives_stable_draws(method, ordered):
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(AWKWARD_J), AWKWARD_PER)
    codes = _codes(rng, 3)
    codes[(g < 5) & (codes == 2)] = 1  # level c never occurs in clusters 0-4
    column = pd.Series(pd.Categorical.from_codes(codes, list("abc"), ordered=ordered))
    done = _impute(_awkward(column), method).complete(1)
    assert list(done.t.cat.categories) == list("abc") and done.t.notna().all()


def _binary(values: np.ndarray) -> pd.Series:
    return pd.Series(pd.array(values, dtype="Int64"))


def test_one_value_in_a_cluster_and_separation_give_stable_draws():
    rng = np.random.default_rng(2)
    df = _awkward(_binary(np.zeros(AWKWARD_J * AWKWARD_PER, int)))
    g, x = df.g.to_numpy(), df.x.to_numpy()
    t = (rng.random(len(df)) < 0.4).astype(int)
    t[g == 3], t[g == 4] = 1, 0  # one value only in clusters 3 and 4
    t[g == 5] = x[g == 5] > 0  # perfect separation on x inside cluster 5
    df["t"] = _binary(t).mask(df.t.isna())
    imp = _impute(df, "2l.bin")
    filled = imp.completed_arrays[:, :, 2]  # f[m, n]
    missing = df.t.isna().to_numpy()
    for cluster, expected in ((3, 1.0), (4, 0.0)):
        rows = missing & (g == cluster)
        assert abs(filled[:, rows].mean() - expected) < 0.35  # pulled to the cluster's value
    # separation inside one cluster, on a predictor with a common slope: finite draws, at the
    # cluster's own share (about a half)
    assert abs(filled[:, missing & (g == 5)].mean() - 0.5) < 0.3


def test_separation_everywhere_and_an_all_zero_count_cluster_give_stable_draws():
    df = _awkward(_binary(np.zeros(AWKWARD_J * AWKWARD_PER, int)))
    df["t"] = _binary((df.x > 0).astype(int).to_numpy()).mask(df.t.isna())
    _impute(df, "2l.bin")
    rng = np.random.default_rng(3)
    counts = rng.poisson(2.0, len(df))
    counts[df.g == 2] = 0
    _impute(df.assign(t=_binary(counts).mask(df.t.isna())), "2l.pois", kinds={"t": "count"})


def test_bad_categorical_input_gets_a_clear_early_error():
    rng = np.random.default_rng(4)
    three = pd.Series(pd.Categorical.from_codes(_codes(rng, 3), list("abc")))
    with pytest.raises(ValueError, match=r"'2l\.bin' cannot impute column 't' of kind nominal "
                                         r".*try '2l\.polyreg'"):
        _impute(_awkward(three), "2l.bin")
    # an unused level ('c') is kept and never imputed (tests/adapters/test_unused_levels.py)
    _codes(rng, 2)
    with pytest.raises(ValueError, match="'2l.pois' cannot impute column 't' of kind binary"):
        _impute(_awkward(_binary(_codes(rng, 2))), "2l.pois")
