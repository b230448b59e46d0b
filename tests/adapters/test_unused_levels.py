"""Unused category levels (issue 25): a pandas categorical keeps a level no row has (common
after subsetting). As in R, the level stays in the dtype and is never imputed: the methods
mask levels without an observed row out of their draws (``methods.base.observed_levels``),
whether inner or outer, nominal or ordinal; as a predictor, its all-zero dummy is dropped."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice.methods import Draw, Imputer, MethodInfo, registered
from jaxmice.methods.base import draw_binary, draw_category

LEVELS = ["a", "b", "c", "d"]


def _frame(ordered: bool) -> pd.DataFrame:
    """60 rows in 6 clusters; ``t`` uses levels a and c only ('b' inner and 'd' last are
    unused), a quarter missing; ``z``, a fully observed predictor with an unused level."""
    rng = np.random.default_rng(25)
    n = 60
    g = np.repeat(np.arange(6), 10)
    x = rng.normal(size=n)
    codes = np.where(x + rng.normal(size=n) > 0, 2, 0)  # a or c
    t = pd.Series(pd.Categorical.from_codes(codes, LEVELS, ordered=ordered))
    t[rng.random(n) < 0.25] = np.nan
    z = pd.Categorical.from_codes(rng.integers(0, 2, n), ["p", "q", "r"])
    return pd.DataFrame({"g": g, "x": x, "z": z, "t": t})


@pytest.mark.parametrize("method,ordered", [
    ("polyreg", False), ("2l.polyreg", False), ("polr", True), ("2l.polr", True),
    ("pmm", True), ("sample", False)])
def test_an_unused_level_is_kept_and_never_imputed(method, ordered):
    df = _frame(ordered)
    pred = jm.make_predictor_matrix(df)
    pred.loc[:, "g"] = 0
    if method.startswith("2l."):
        pred.loc["t", "g"] = -2
    imp = jm.mice(df, m=2, maxit=2, seed=3, progress=False, predictor_matrix=pred,
                  method={"g": "", "x": "", "z": "", "t": method})
    assert all(np.asarray(s.ok).all() for s in imp.history)
    for done in imp.complete("all"):
        assert list(done["t"].cat.categories) == LEVELS
        assert done["t"].notna().all()
        assert set(done["t"].unique()) <= {"a", "c"}
        pd.testing.assert_series_equal(done["t"][df.t.notna()], df.t[df.t.notna()])


def test_a_binary_target_with_one_observed_level_is_imputed_with_it():
    """logreg and 2l.bin: with only False observed, every imputation is False (before,
    the fitted log odds, bounded by the prior, drew True now and then)."""
    df = _frame(False)
    df["b"] = pd.array(np.where(df.t.isna(), None, False), dtype="boolean")
    pred = jm.make_predictor_matrix(df)
    pred.loc[:, "g"] = 0
    pred.loc["b", "g"] = -2
    for method in ("logreg", "2l.bin"):
        imp = jm.mice(df, m=2, maxit=2, seed=4, progress=False,
                      predictor_matrix=pred if method == "2l.bin" else None,
                      method={"g": "", "x": "", "z": "", "t": "", "b": method})
        assert not imp.completed_arrays[:, :, imp.schema.position("b")].any()


def test_an_outside_method_that_cannot_mask_them_gets_a_clear_error():
    def make(target):
        def draw(key, state, inputs):
            return Draw(values=inputs.y, state=state, ok=inputs.ry.any())

        return Imputer(init=None, draw=draw)

    info = MethodInfo(name="toy.copy", kinds=frozenset({"nominal"}), make=make)
    with registered(info), pytest.raises(
            ValueError, match=r"column 't': level\(s\) \['b', 'd'\] are never observed, and "
                              r"method 'toy.copy' cannot leave them out"):
        jm.mice(_frame(False), m=1, maxit=1, progress=False,
                method={"g": "", "x": "", "z": "", "t": "toy.copy"})


def test_the_draws_mask_levels_without_an_observed_row():
    """Even where the fit favours an unobserved level it is never drawn; with every level
    observed the draws are JAX's own, so nothing else changes."""
    key = jax.random.PRNGKey(0)
    logits = jnp.tile(jnp.array([0.0, 5.0, 0.0, 5.0]), (1000, 1))
    masked = np.asarray(draw_category(key, logits, jnp.array([True, False, True, False])))
    assert set(np.unique(masked)) == {0, 2}
    np.testing.assert_array_equal(draw_category(key, logits, jnp.ones(4, bool)),
                                  jax.random.categorical(key, logits))
    p = jnp.full(1000, 0.99)
    assert not np.asarray(draw_binary(key, p, jnp.array([True, False]))).any()
    assert np.asarray(draw_binary(key, 1 - p, jnp.array([False, True]))).all()
    np.testing.assert_array_equal(draw_binary(key, p, jnp.ones(2, bool)),
                                  jax.random.bernoulli(key, p))
