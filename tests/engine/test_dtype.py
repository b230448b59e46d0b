"""``jm.mice(..., dtype="float32")``: chains in float32, sums of squares in float64, observed
values returned exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm


def _frame(seed: int = 3, clusters: int = 40, per: int = 15) -> pd.DataFrame:
    """y = 1 + 0.5 x + u_g + e (u sd 0.6, e sd 1), y 30% missing at random given x."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(clusters), per)
    x = rng.normal(size=g.size) * 2.0 + 10.0  # an offset: float32 rounding would show
    y = 1.0 + 0.5 * x + rng.normal(0, 0.6, clusters)[g] + rng.normal(size=g.size)
    miss = rng.random(g.size) < 1 / (1 + np.exp(-(x - 10.0) + 0.85))
    return pd.DataFrame({"g": g, "x": x, "y": np.where(miss, np.nan, y)})


def test_float32_chains_keep_observed_values_and_recover_the_slope():
    df = _frame()
    options = dict(method={"y": "2l.pan"}, predictor_matrix=jm.make_predictor_matrix(df, "g"),
                   m=10, maxit=5, seed=2, progress=False)
    imp = jm.mice(df, dtype="float32", **options)
    assert imp.data.dtype == np.float32
    assert imp.completed_arrays.dtype == np.float64
    completed = imp.complete(0)
    observed = df["y"].notna()
    # observed cells exactly as given (the float32 chains hold rounded copies)
    np.testing.assert_array_equal(completed.loc[observed, "y"], df.loc[observed, "y"])
    np.testing.assert_array_equal(completed["x"], df["x"])
    assert np.isfinite(completed["y"]).all()
    pooled = imp.fit("y ~ x + (1 | g)").pool().summary().set_index("term")
    estimate, se = pooled.loc["x", "estimate"], pooled.loc["x", "std_error"]
    assert abs(estimate - 0.5) < 4 * se  # the truth
    reference = jm.mice(df, **options).fit("y ~ x + (1 | g)").pool().summary().set_index(
        "term")
    # float32 and float64 draw different random numbers: equal within the MC error
    assert abs(estimate - reference.loc["x", "estimate"]) < 2 * se


def test_float32_batch_runs_and_bad_dtypes_are_named():
    frames = [_frame(seed, clusters=8, per=6) for seed in range(3)]
    batch = jm.mice(frames, method={"y": "2l.pan"}, m=2, maxit=2, seed=1, progress=False,
                    predictor_matrix=jm.make_predictor_matrix(frames[0], "g"),
                    dtype="float32")
    assert batch.data[0].dtype == np.float32
    assert np.isfinite(batch[2].completed_arrays).all()
    with pytest.raises(ValueError, match="dtype must be 'float64'.*'float16'"):
        jm.mice(frames[0], dtype="float16", progress=False)
