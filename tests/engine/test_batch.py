"""Batches of replications: ``jm.mice([df_1, ..., df_R])`` (jaxmice._src.engine.batch)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.engine.batch import replication_seeds
from jaxmice._src.runtime import sizes

METHODS = {"y": "2l.pan", "x1": "2l.pan"}


def make_frame(seed: int, n_clusters: int = 8, per: int = 10) -> pd.DataFrame:
    """A random-intercept design with y and x1 missing at random given x2."""
    rng = np.random.default_rng(seed)
    n = n_clusters * per
    g = np.repeat(np.arange(n_clusters), per)
    x2 = rng.normal(size=n)
    x1 = rng.normal(0, 0.5, n_clusters)[g] + rng.normal(size=n) + 0.3 * x2
    y = 1 + 0.5 * x1 + 0.3 * x2 + rng.normal(0, 0.5, n_clusters)[g] + rng.normal(size=n)
    df = pd.DataFrame({"g": g, "x1": x1, "x2": x2, "y": y})
    for col in ("y", "x1"):
        df.loc[rng.random(n) < 1 / (1 + np.exp(1.0 - x2)), col] = np.nan
    return df


FRAMES = [make_frame(s) for s in range(6)]
PRED = jm.make_predictor_matrix(FRAMES[0], cluster="g")
OPTIONS = dict(m=2, maxit=2, method=METHODS, predictor_matrix=PRED, progress=False,
               chunk_size=4)


@pytest.fixture(scope="module")
def batch():
    return jm.mice(FRAMES, seed=11, **OPTIONS)


def test_batch_is_replications_of_imputations(batch):
    assert len(batch) == 6 and batch.n_groups == 1
    imp = batch[4]
    assert isinstance(imp, jm.Imputations) and imp.m == 2 and imp.iterations == 2
    assert imp.seed == batch.seeds[4]
    # observed cells keep their values, imputed ones are filled
    done = imp.complete(1)
    observed = FRAMES[4].notna().to_numpy()
    np.testing.assert_array_equal(done.to_numpy(float)[observed],
                                  FRAMES[4].to_numpy(float)[observed])
    assert not done.isna().any().any()
    assert [r.seed for r in batch][:2] == list(batch.seeds[:2])


def test_replication_r_is_the_same_in_a_smaller_batch(batch):
    """Replication r of a batch of 6 equals replication r of a batch of its first 3, bit for
    bit: the same seeds, and every chunk padded to the same width."""
    first = jm.mice(FRAMES[:3], seed=11, **OPTIONS)
    np.testing.assert_array_equal(first.seeds, batch.seeds[:3])
    for r in range(3):
        np.testing.assert_array_equal(first.data[r], batch.data[r])
    np.testing.assert_array_equal(replication_seeds(11, 3), replication_seeds(11, 1000)[:3])


def test_reproduce_one_replication_alone(batch):
    """batch.reproduce(r), a batch of the one data set with its seed, is bit-identical; the
    plain single call with seed=batch.seeds[r] agrees to rounding."""
    for r in (1, 5):  # lane 1 of the first chunk, lane 1 of the second
        np.testing.assert_array_equal(np.asarray(batch.reproduce(r).data), batch.data[r])
    single = jm.mice(FRAMES[5], seed=int(batch.seeds[5]), m=2, maxit=2, method=METHODS,
                     predictor_matrix=PRED, progress=False)
    np.testing.assert_allclose(np.asarray(single.data), batch.data[5], rtol=0, atol=1e-12)


def test_uneven_replications_run_as_groups(monkeypatch):
    """Data sets of different row classes run at the batch's largest where a compile costs
    more than the padding (here), else as one program per class; each equals its own run."""
    frames = [make_frame(1), make_frame(2, per=12), make_frame(3)]
    out = jm.mice(frames, seed=2, **OPTIONS)
    assert out.n_groups == 1 and len(out) == 3
    assert [d.shape for d in out.data] == [(2, 96, 4)] * 3
    np.testing.assert_array_equal(np.asarray(out.reproduce(0).data), out.data[0])
    monkeypatch.setattr(sizes, "MERGE_ROW_ITERATIONS", 0)
    apart = jm.mice(frames, seed=2, **OPTIONS)
    assert apart.n_groups == 2
    assert apart.data[1].shape == (2, 96, 4) and apart.data[0].shape[1] < 96
    np.testing.assert_array_equal(np.asarray(apart.reproduce(1).data), apart.data[1])
    np.testing.assert_array_equal(np.asarray(apart.reproduce(2).data), apart.data[2])


def test_batched_fit_pool_and_summary(batch):
    """batch.fit fits all R x m data sets; .pool() per replication equals each replication's
    own fit and pool; summary is one long frame with a rep column."""
    pooled = batch.fit("y ~ x1 + x2 + (1 | g)").pool()
    assert len(pooled) == 6
    for r in (0, 5):
        own = batch[r].fit("y ~ x1 + x2 + (1 | g)").pool()
        np.testing.assert_allclose(pooled[r].qbar, own.qbar, rtol=1e-8)
        np.testing.assert_allclose(pooled[r].t, own.t, rtol=1e-7)
    table = pooled.summary()
    assert list(table.columns[:3]) == ["rep", "term", "estimate"]
    assert len(table) == 18 and table.rep.tolist()[:4] == [0, 0, 0, 1]
    # the vectorised table is each replication's own summary, stacked
    for r in (0, 5):
        own_table = pooled[r].summary().reset_index(drop=True)
        mine = table[table.rep == r].drop(columns="rep").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, own_table, check_exact=False, rtol=1e-12)
    assert table[table.rep == 2].conf_low.iloc[1] < pooled[2].qbar[1]
    ratios = pooled.summary(exponentiate=True, conf_level=0.9)
    own_ratios = pooled[5].summary(exponentiate=True, conf_level=0.9).reset_index(drop=True)
    pd.testing.assert_frame_equal(ratios[ratios.rep == 5].drop(columns="rep")
                                  .reset_index(drop=True), own_ratios)
    np.testing.assert_allclose(ratios.estimate, np.exp(table.estimate), rtol=1e-15)
    scored = jm.score(pooled, {"x1": 0.5, "x2": 0.3})
    assert scored.term.tolist() == ["x1", "x2"] and (scored.n_reps == 6).all()
    np.testing.assert_allclose(scored.bias, [
        np.mean([p.qbar[1] for p in pooled]) - 0.5, np.mean([p.qbar[2] for p in pooled]) - 0.3])


def test_batch_errors():
    other = FRAMES[1].rename(columns={"x2": "z"})
    with pytest.raises(ValueError, match=r"data set 1 has columns .*'z'"):
        jm.mice([FRAMES[0], other], **OPTIONS)
    with pytest.raises(ValueError, match=r"seed has 3 entries for 2 data sets"):
        jm.mice(FRAMES[:2], seed=[1, 2, 3], **OPTIONS)
    with pytest.raises(ValueError, match=r"chunk_size must be an integer >= 1"):
        jm.mice(FRAMES[:2], **{**OPTIONS, "chunk_size": 0})
    with pytest.raises(ValueError, match=r"chunk_size applies to a batch"):
        jm.mice(FRAMES[0], **OPTIONS)
    bad = FRAMES[1].copy()
    bad.loc[0, "g"] = np.nan
    with pytest.raises(ValueError, match=r"data set 1: .*'g'"):
        jm.mice([FRAMES[0], bad], **OPTIONS)
    with pytest.raises(IndexError, match="replication 9"):
        jm.mice(FRAMES[:2], **OPTIONS)[9]
