"""One engine (issue 24): single runs and batches run the same per-chain kernel over lanes, so
a replication of a batch equals its single run bit for bit, a chain is the same whatever the
number of lanes beside it, and batches take ``data_init``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.engine import sampler
from jaxmice._src.engine.batch import batch_lane_width
from jaxmice._src.runtime import sizes


def _frame(seed: int, clusters: int = 12) -> pd.DataFrame:
    """A random-intercept design with clusters of random size (6-14 rows)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(clusters), rng.integers(6, 15, clusters))
    n = len(g)
    x2 = rng.normal(size=n)
    x1 = 0.4 * x2 + rng.normal(size=n) + rng.normal(0, 0.5, clusters)[g]
    y = 1 + 0.5 * x1 + 0.3 * x2 + rng.normal(0, 0.7, clusters)[g] + rng.normal(size=n)
    df = pd.DataFrame({"g": g, "x1": x1, "x2": x2, "y": y})
    df.loc[rng.random(n) < 1 / (1 + np.exp(1 - x2)), "y"] = np.nan
    df.loc[rng.random(n) < 0.2, "x1"] = np.nan
    return df


FRAMES = [_frame(seed) for seed in range(4)]
OPTIONS = dict(m=3, maxit=3, method={"y": "2l.pan", "x1": "2l.pmm"}, progress=False,
               predictor_matrix=jm.make_predictor_matrix(FRAMES[0], cluster="g"))


def test_frames_differ_but_share_a_size_class():
    assert len({len(f) for f in FRAMES}) > 1
    assert len({sizes.row_class(len(f)) for f in FRAMES}) < len(FRAMES)


@pytest.mark.parametrize("width,chunk_size", [
    pytest.param("1", 1, marks=pytest.mark.slow), pytest.param("1", 3, marks=pytest.mark.slow),
    pytest.param("1", None, marks=pytest.mark.slow), ("8", 3)])
def test_a_batch_replication_is_its_single_run_bit_for_bit(width, chunk_size, monkeypatch):
    """Where a replication ran at its own size class (the batch merges its classes into the
    largest here: :func:`jaxmice.sizes.merged_row_classes`), it is its single run; every
    replication is its :meth:`~jaxmice.batch.Batch.reproduce`."""
    monkeypatch.setenv("JAXMICE_LANE_WIDTH", width)  # one lane strategy on both paths
    batch = jm.mice(FRAMES, seed=7, chunk_size=chunk_size, **OPTIONS)
    assert batch.n_groups == 1
    own = [r for r, f in enumerate(FRAMES) if sizes.row_class(len(f)) == batch.row_class(r)]
    assert 0 < len(own) < len(FRAMES)
    for r in own:
        alone = jm.mice(FRAMES[r], seed=int(batch.seeds[r]), **OPTIONS)
        np.testing.assert_array_equal(batch[r].completed_arrays, alone.completed_arrays)
        np.testing.assert_array_equal(batch[r].chain_mean.to_numpy(),
                                      alone.chain_mean.to_numpy())
    merged = next(r for r in range(len(FRAMES)) if r not in own)
    again = batch.reproduce(merged)
    np.testing.assert_array_equal(batch[merged].completed_arrays, again.completed_arrays)
    if width == "8":  # the fit pads to the batch's class too: padding changes no estimate
        fits = batch.fit("y ~ x1 + x2 + (1 | g)")
        alone = batch[merged].fit("y ~ x1 + x2 + (1 | g)")
        np.testing.assert_allclose(fits.fits[merged].beta, alone.beta, rtol=1e-9, atol=1e-12)


def test_a_chain_does_not_depend_on_the_chains_beside_it():
    """The lane count changes neither the program's arithmetic nor its compile options
    (the work that picks them is per lane): chains 1-3 of m = 24 are those of m = 3."""
    few = jm.mice(FRAMES[0], **dict(OPTIONS, m=3), seed=3)  # one lane at a time
    many = jm.mice(FRAMES[0], **dict(OPTIONS, m=24), seed=3)
    np.testing.assert_array_equal(many.completed_arrays[:3], few.completed_arrays)


def test_a_batch_takes_data_init_as_its_single_runs_do(monkeypatch):
    monkeypatch.setenv("JAXMICE_LANE_WIDTH", "1")
    starts = []
    for r, frame in enumerate(FRAMES[:2]):
        filled = frame.fillna({"y": 10.0 + r, "x1": -5.0})
        starts.append([filled] * 3)
    batch = jm.mice(FRAMES[:2], seed=5, data_init=starts, **dict(OPTIONS, maxit=1))
    for r, frame in enumerate(FRAMES[:2]):
        alone = jm.mice(frame, seed=int(batch.seeds[r]), data_init=starts[r],
                        **dict(OPTIONS, maxit=1))
        np.testing.assert_array_equal(batch[r].completed_arrays, alone.completed_arrays)
    cold = jm.mice(FRAMES[:2], seed=5, **dict(OPTIONS, maxit=1))
    assert not np.array_equal(cold[0].completed_arrays, batch[0].completed_arrays)
    with pytest.raises(ValueError, match="one entry per data set"):
        jm.mice(FRAMES[:2], seed=5, data_init=starts[:1], **OPTIONS)


def test_a_batch_runs_fewer_lanes_at_once_where_their_memory_or_chains_ask(monkeypatch):
    """The batch's lane width is a power of two: at most 32, at most what fits the lanes'
    memory budget, at most a chunk's lanes; ``JAXMICE_LANE_WIDTH`` overrides it."""
    budget = sampler.LANE_MEMORY_BUDGET
    assert sampler.lane_width(batch=True) == 32
    assert sampler.lane_width(batch=True, lane_bytes=budget / 5) == 4
    assert sampler.lane_width(batch=True, lane_bytes=2 * budget) == 1
    assert sampler.lane_width(batch=True, lanes=12) == 8
    monkeypatch.setenv("JAXMICE_LANE_WIDTH", "3")
    assert sampler.lane_width(batch=True, lanes=1) == 3


@pytest.mark.slow
def test_vmapped_lanes_agree_with_looped_lanes(monkeypatch):
    """A batch of small data sets runs :data:`~jaxmice._src.engine.sampler.BATCH_LANE_WIDTH` lanes
    at a time, vmapped, a single run one: the same draws up to rounding (vmap orders sums by
    shape).
    ``JAXMICE_LANE_WIDTH=2`` runs two lanes at a time on both, and they agree exactly."""
    looped = jm.mice(FRAMES[0], seed=9, **OPTIONS)
    assert sampler.lane_width() == 1
    default = jm.mice(FRAMES[:2], seed=[9, 10], **OPTIONS)
    assert batch_lane_width(default.prepared[0], 3) == sampler.BATCH_LANE_WIDTH == 32
    np.testing.assert_allclose(default[0].completed_arrays, looped.completed_arrays, atol=1e-9)
    monkeypatch.setenv("JAXMICE_LANE_WIDTH", "2")
    assert sampler.lane_width() == 2
    vmapped = jm.mice(FRAMES[0], seed=9, **OPTIONS)
    np.testing.assert_allclose(vmapped.completed_arrays, looped.completed_arrays, atol=1e-9)
    batch = jm.mice(FRAMES[:2], seed=[9, 10], **OPTIONS)
    np.testing.assert_array_equal(batch[0].completed_arrays, vmapped.completed_arrays)
