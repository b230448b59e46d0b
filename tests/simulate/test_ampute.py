"""jm.ampute against R's mice::ampute (tests/r/make_ampute_reference.R), and the cluster extras.

Reference: 200 repetitions per setting on fixed data (n = 1000, 4 normal columns, correlation
0.5) generated in R and stored in tests/data/ampute_reference.json. We repeat each setting 200
times with jm.ampute on the same data and compare means over repetitions. A mean over 200
repetitions has standard error sd/sqrt(200); the difference of two independent such means has
SE sqrt(sd_R^2/200 + sd_py^2/200), so |mean_py - mean_R| < 4 SE fails by chance with
probability ~6e-5 per comparison (about 10 comparisons per setting).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm

REF = json.loads((Path(__file__).parents[1] / "data" / "ampute_reference.json").read_text())
DATA = pd.DataFrame(REF["data"])
REPS = REF["reps"]
SETTINGS = REF["settings"]


def _run(setting: dict) -> tuple[np.ndarray, np.ndarray | None]:
    kw = dict(mech=setting["mech"], type=setting["type"])
    if setting.get("freq"):  # R writes NULL as {}
        kw.update(patterns=REF["patterns3"], freq=setting["freq"])
    real, dec = [], []
    for r in range(REPS):
        a = jm.ampute(DATA, prop=0.5, seed=1000 + r, **kw)
        real.append(a.realised.to_numpy())
        if setting["mech"] == "MAR":
            # deciles of pattern 1's score within its candidates, as in the R script:
            # ceiling(10 * rank / m)
            s = a.scores[0]
            inc = a.amp[a.cand == 1].isna().any(axis=1).to_numpy()
            d = np.ceil(10 * (np.argsort(np.argsort(s)) + 1) / s.size)
            dec.append([inc[d == k].mean() for k in range(1, 11)])
    return np.array(real), (np.array(dec) if dec else None)


def _close(py: np.ndarray, mean_r, sd_r, what: str) -> None:
    mean_r, sd_r = np.asarray(mean_r), np.asarray(sd_r)
    se = np.sqrt(sd_r**2 / REPS + py.std(axis=0, ddof=1) ** 2 / REPS)
    diff = py.mean(axis=0) - mean_r
    assert (np.abs(diff) < 4 * se).all(), f"{what}: py {py.mean(axis=0)} R {mean_r} 4SE {4 * se}"


@pytest.mark.parametrize("name", list(SETTINGS))
def test_matches_mice_ampute(name):
    setting = SETTINGS[name]
    real, dec = _run(setting)
    _close(real, setting["realised_mean"], setting["realised_sd"], f"{name} realised")
    assert abs(real.sum(axis=1).mean() - 0.5) < 0.01
    if dec is not None:
        _close(dec, setting["decile_mean"], setting["decile_sd"], f"{name} deciles")


def _clustered(n_clusters=200, size=10, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_clusters * size
    x = rng.normal(size=(n, 3))
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    df["g"] = np.repeat(np.arange(n_clusters), size)
    df["k"] = rng.integers(0, 5, n)  # an integer column
    return df


def test_systematic_clusters_exact():
    df = _clustered(n_clusters=50)
    pats = [[0, 1, 1, 1, 1], [1, 0, 1, 1, 1], [1, 1, 1, 1, 0]]
    a = jm.ampute(df, patterns=pats, cluster="g", systematic=[0.2, 0.1, 0.0], seed=3)
    assert [len(c) for c in a.systematic_clusters] == [10, 5, 0]
    assert not set(a.systematic_clusters[0]) & set(a.systematic_clusters[1])
    for i, var in enumerate(["a", "b"]):
        rows = df["g"].isin(a.systematic_clusters[i])
        assert a.amp.loc[rows, var].isna().all()
        assert (a.cand[rows.to_numpy()] == i + 1).all()
        assert not a.amp.loc[rows].drop(columns=var).isna().any().any()
    assert a.amp["g"].notna().all()
    # other clusters: row-level amputation at prop
    other = ~df["g"].isin(a.systematic_clusters[0] + a.systematic_clusters[1])
    assert 0.4 < a.amp[other].isna().any(axis=1).mean() < 0.6
    # default patterns: one per amputable column (a, b, c, k), 0.2 * 50 = 10 clusters each
    assert [len(c) for c in jm.ampute(df, cluster="g", systematic=0.2, seed=1)
            .systematic_clusters] == [10] * 4


def _cluster_rates(cluster_sd, seed, mech="MAR"):
    df = _clustered(n_clusters=400, size=20, seed=seed)
    a = jm.ampute(df.drop(columns="k"), cluster="g", cluster_sd=cluster_sd, seed=seed, mech=mech)
    inc = a.amp.isna().any(axis=1)
    return inc.mean(), inc.groupby(df["g"]).mean().var(ddof=1)


@pytest.mark.parametrize("mech", ["MCAR", "MAR"])
def test_cluster_sd_inflates_between_cluster_variance(mech):
    # binomial variance of a cluster's rate with 20 rows at p = 0.5: 0.25 / 20 = 0.0125 (MAR
    # adds a little: rates vary with the scores). With cluster_sd = 1.5 the cluster rates
    # spread over expit(b + u); ratio well above 3.
    p0, v0 = _cluster_rates(0.0, 1, mech)
    p1, v1 = _cluster_rates(1.5, 2, mech)
    assert v0 / 0.0125 < 1.5
    assert v1 / v0 > 3
    # the overall proportion stays at prop: SE of a rate over 400 clusters with that variance
    assert abs(p0 - 0.5) < 4 * np.sqrt(v0 / 400)
    assert abs(p1 - 0.5) < 4 * np.sqrt(v1 / 400)


def test_reproducible_observed_unchanged_and_imputes():
    df = _clustered(n_clusters=30)
    a = jm.ampute(df, cluster="g", cluster_sd=0.5, systematic=0.1, seed=11)
    b = jm.ampute(df, cluster="g", cluster_sd=0.5, systematic=0.1, seed=11)
    pd.testing.assert_frame_equal(a.amp, b.amp)
    assert not a.amp.equals(jm.ampute(df, cluster="g", seed=12).amp)
    obs = a.amp.notna().to_numpy()
    assert np.array_equal(a.amp.to_numpy(dtype=float)[obs], df.to_numpy(dtype=float)[obs])
    assert list(a.amp.columns) == list(df.columns) and a.amp.index.equals(df.index)
    assert a.amp["k"].dtype == np.float64 and a.amp["k"].isna().any()
    assert "pattern 1" in repr(a) and a.type == ("RIGHT",) * 4
    imp = jm.mice(a.amp, m=1, maxit=1, progress=False)
    assert not imp.complete(0).isna().any().any()


def test_bycases_false_and_patterns_frame():
    pats = pd.DataFrame([[0, 0, 1, 1], [1, 1, 1, 0]], columns=DATA.columns)
    a = jm.ampute(DATA, prop=0.2, patterns=pats, freq=[0.5, 0.5], bycases=False, seed=1,
                  mech="MCAR")
    # recalculate.prop: 0.2 * 4 * (0.5 / 2 + 0.5 / 1) = 0.6 of the cases
    assert a.prop == pytest.approx(0.6)
    assert abs(a.amp.isna().to_numpy().mean() - 0.2) < 0.03
    assert a.patterns.shape == (2, 4) and a.weights.shape == (2, 4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(prop=1.2), "prop"), (dict(prop=0), "prop"),
    (dict(freq=[0.5, 0.5]), "freq"), (dict(freq=[0.3, 0.3, 0.3, 0.3]), "freq"),
    (dict(patterns=[[1, 1, 1, 1]]), "patterns row 1"), (dict(patterns=[[0, 1, 1]]), "patterns"),
    (dict(patterns=[[0, 2, 1, 1]]), "patterns"), (dict(mech="MBAR"), "mech"),
    (dict(type="UP"), "type"), (dict(weights=[[1, 1]]), "weights"),
    (dict(cluster="gg"), "gg"), (dict(systematic=0.2), "cluster"),
    (dict(patterns=[[0, 0, 0, 0]]), "MAR"),
])
def test_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        jm.ampute(DATA, seed=1, **kwargs)


def test_errors_data_and_cluster():
    bad = DATA.copy()
    bad.loc[3, "x2"] = np.nan
    with pytest.raises(ValueError, match="'x2'"):
        jm.ampute(bad)
    txt = DATA.assign(s=["u"] * len(DATA))
    with pytest.raises(TypeError, match="'s'"):
        jm.ampute(txt, patterns=[[0, 1, 1, 1, 1]])
    jm.ampute(txt, patterns=[[1, 1, 1, 1, 0]], weights=[[1, 1, 1, 1, 0]])  # unscored: fine
    df = _clustered(n_clusters=20)
    with pytest.raises(ValueError, match="systematic"):
        jm.ampute(df, cluster="g", systematic=1.0)
    with pytest.raises(ValueError, match="cluster column 'g'"):
        jm.ampute(df, cluster="g", patterns=[[1, 1, 1, 0, 1]])
