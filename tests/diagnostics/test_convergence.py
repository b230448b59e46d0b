"""``jm.convergence``: R-hat and autocorrelation of the chains, as R's ``mice::convergence``.

Golden values: ``tests/r/make_convergence_reference.R`` (mice:::convergence, which calls
rstan::Rhat, on fixed traces and on a real ``mice(nhanes)`` run).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.diagnostics.convergence import _diagnose, autocorrelation, rhat

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "convergence_reference.json")
                       .read_text())


@pytest.mark.parametrize("case", sorted(REFERENCE["cases"]))
@pytest.mark.parametrize("parameter", ["mean", "sd"])
def test_matches_mice_convergence(case: str, parameter: str) -> None:
    ref = REFERENCE["cases"][case]
    traces = np.array(ref["chain_mean" if parameter == "mean" else "chain_var"], dtype=float)
    if parameter == "sd":
        traces = np.sqrt(traces)
    got = _diagnose(ref["variables"], traces, "all", 1.1)
    want = ref["results"][parameter]
    assert got["variable"].tolist() == want["variable"]
    assert got["iteration"].tolist() == want["iteration"]
    # ac: every iteration (NaN at t = 1 and for the complete variable, as R)
    np.testing.assert_allclose(got["ac"], np.array(want["ac"], dtype=float), rtol=0, atol=1e-8)
    # R-hat: from t = 4 on (R's values at t < 4 come from a dropped matrix dimension)
    late = np.array(want["iteration"]) >= 4
    np.testing.assert_allclose(got["rhat"].to_numpy()[late],
                               np.array(want["rhat"], dtype=float)[late], rtol=0, atol=1e-8)
    assert np.isnan(got["rhat"].to_numpy()[~late]).all()


def test_reference_covers_the_interesting_cases() -> None:
    synthetic = REFERENCE["cases"]["synthetic"]["results"]["mean"]
    rh = dict(zip(zip(synthetic["variable"], synthetic["iteration"], strict=True),
                  synthetic["rhat"], strict=True))
    assert rh[("sticky", 4)] > 2  # over-dispersed AR(1) chains
    assert rh[("iid", 20)] < 1.1
    assert np.isnan(rh[("constant", 20)])  # constant: undefined
    odd = REFERENCE["cases"]["odd_m2"]
    assert odd["m"] == 2 and odd["iterations"] % 2 == 1


def test_rhat_and_ac_edge_cases() -> None:
    rng = np.random.default_rng(1)
    sims = rng.normal(size=(10, 3))
    assert np.isnan(rhat(sims[:3]))  # a split half needs two iterations
    assert np.isfinite(rhat(sims[:4]))
    assert np.isnan(rhat(np.full((10, 3), 2.0)))
    bad = sims.copy()
    bad[4, 1] = np.nan
    assert np.isnan(rhat(bad))
    apart = np.repeat(np.array([[0.0, 1.0, 2.0]]), 10, axis=0)  # each chain constant, apart
    assert rhat(apart) == np.inf  # as R: B / 0
    ac = autocorrelation(np.full((5, 3), 2.0))  # undefined correlations count as 0
    assert np.isnan(ac[0]) and (ac[1:] == 0).all()
    lagged = np.cumsum(rng.normal(size=(30, 4)), axis=0) + 10 * np.arange(4)
    assert autocorrelation(lagged)[-1] > 0.9  # chains keeping their own level
    with pytest.raises(ValueError, match="iterations, chains"):
        rhat(np.zeros(5))


@pytest.fixture(scope="module")
def popmis() -> pd.DataFrame:
    return jm.datasets.load_popmis()[["popular", "sex", "texp", "teachpop"]]


def test_well_mixed_chains_have_rhat_near_one(popmis: pd.DataFrame) -> None:
    imp = jm.mice(popmis, m=5, maxit=20, method="norm", seed=1, progress=False)
    conv = jm.convergence(imp)
    assert list(conv.columns) == ["variable", "iteration", "rhat", "ac", "flag"]
    assert conv["variable"].unique().tolist() == ["popular"]
    assert conv["iteration"].tolist() == list(range(1, 21))
    assert conv["rhat"].iloc[:3].isna().all()
    final = conv.iloc[-1]
    assert 0.95 < final["rhat"] < 1.05
    assert not final["flag"]
    assert abs(final["ac"]) < 0.5  # the chains forget each other's state
    # same numbers as from the public chain means directly
    means = imp.chain_mean.loc["popular"].to_numpy()
    assert final["rhat"] == pytest.approx(rhat(means), abs=1e-12)
    np.testing.assert_allclose(conv["ac"], autocorrelation(means), atol=1e-12)
    sd = jm.convergence(imp, parameter="sd")
    assert sd["rhat"].iloc[-1] == pytest.approx(rhat(np.sqrt(imp.chain_var.loc["popular"]
                                                             .to_numpy())), abs=1e-12)
    assert "converged" in jm.convergence_summary(imp)
    assert list(jm.convergence(imp, diagnostic="ac").columns) == ["variable", "iteration", "ac"]
    assert list(jm.convergence(imp, diagnostic="psrf").columns) == [
        "variable", "iteration", "rhat", "flag"]


def test_one_incomplete_variable_forgets_its_start(popmis: pd.DataFrame) -> None:
    """popmis: ``popular`` is the only incomplete variable and is refitted from its observed
    rows at every visit, so over-dispersed starts are forgotten at once (R-hat near 1 at
    t = 4). Starting values matter only when imputed values feed other imputations."""
    starts = [popmis.fillna(v) for v in (-50.0, -25.0, 0.0, 25.0, 50.0)]
    imp = jm.mice(popmis, m=5, maxit=4, method="norm", seed=3, data_init=starts,
                  progress=False)
    assert not jm.convergence(imp)["flag"].iloc[-1]  # R-hat 0.86 at t = 4


def _two_linked_variables() -> pd.DataFrame:
    """x and y (correlation 0.8), 40% of rows missing both: x is imputed from y's current
    values there (and y from x's), so each chain carries its starting level for a while."""
    rng = np.random.default_rng(3)
    n = 400
    x = rng.normal(size=n)
    y = 0.8 * x + 0.6 * rng.normal(size=n)
    both = rng.random(n) < 0.4
    only_x = ~both & (rng.random(n) < 0.15)
    only_y = ~both & ~only_x & (rng.random(n) < 0.15)
    return pd.DataFrame(dict(x=np.where(both | only_x, np.nan, x),
                             y=np.where(both | only_y, np.nan, y), z=rng.normal(size=n)))


def test_flags_chains_started_apart() -> None:
    df = _two_linked_variables()
    starts = [df.fillna(v) for v in (-6.0, -3.0, 0.0, 3.0, 6.0)]  # one start per chain
    imp = jm.mice(df, m=5, maxit=4, method="norm", seed=2, data_init=starts, progress=False)
    conv = jm.convergence(imp)
    final = conv[conv["iteration"] == 4].set_index("variable")
    assert (final["rhat"] > 1.5).all()  # far above the 1.1 that flags
    assert final["flag"].all()
    assert (final["ac"] > 0.5).all()  # chains that start high stay high
    summary = jm.convergence_summary(imp)
    assert "NOT CONVERGED" in summary and "imp.iterate" in summary
    # maxit = 3 is too short for a split R-hat: NaN, not flagged, and the summary says so
    short = jm.mice(df, m=5, maxit=3, method="norm", seed=2, data_init=starts, progress=False)
    assert jm.convergence(short)["rhat"].isna().all()
    assert not jm.convergence(short)["flag"].any()
    assert "at least 4 iterations" in jm.convergence_summary(short)
    # with enough iterations the chains meet and the flag drops
    later = jm.convergence(imp.iterate(56))
    last = later[later["iteration"] == 60].set_index("variable")
    assert (last["rhat"] < 1.1).all() and not last["flag"].any()
    assert "No variable flagged" in jm.convergence_summary(imp.iterate(56))


def test_threshold_and_errors(popmis: pd.DataFrame) -> None:
    imp = jm.mice(popmis, m=2, maxit=5, method="norm", seed=4, progress=False)
    r = jm.convergence(imp)["rhat"].iloc[-1]
    assert jm.convergence(imp, threshold=r - 1e-9)["flag"].iloc[-1]
    assert not jm.convergence(imp, threshold=r + 1e-9)["flag"].iloc[-1]
    with pytest.raises(ValueError, match="diagnostic"):
        jm.convergence(imp, diagnostic="bulk")
    with pytest.raises(ValueError, match="parameter"):
        jm.convergence(imp, parameter="median")
    one = jm.mice(popmis, m=1, maxit=5, method="norm", seed=4, progress=False)
    with pytest.raises(ValueError, match="m >= 2"):
        jm.convergence(one)
    with pytest.raises(ValueError, match="no iterations"):
        jm.convergence(jm.mice(popmis, m=2, maxit=0, method="norm", seed=4, progress=False))


def test_average_ranks_share_ties():
    from jaxmice._src.diagnostics.convergence import _average_ranks

    np.testing.assert_array_equal(_average_ranks(np.array([3.0, 1.0, 2.0, 1.0, 3.0])),
                                  [4.5, 1.5, 3.0, 1.5, 4.5])
    np.testing.assert_array_equal(_average_ranks(np.ones(4)), [2.5] * 4)
    np.testing.assert_array_equal(_average_ranks(np.array([0.5, -1.0, 2.0])), [2.0, 1.0, 3.0])
