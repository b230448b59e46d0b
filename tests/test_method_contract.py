"""The contract every registered method keeps, checked for every method and every kind it
declares (as numpyro tests every distribution). A new method gets these tests for free.

On tiny data (30 rows in 6 clusters, a cluster variable whenever the method needs one), each
method:

- runs under the sampler's jit and vmap (``jm.mice``, m = 2, maxit = 2) with every draw
  accepted;
- draws values of the column's type: finite, binary 0/1, categories within their levels,
  counts non-negative whole numbers,
  one value per cluster for a cluster-level method, observed cells untouched;
- keeps its state's structure (tree, shapes, dtypes) from ``init`` across visits;
- reports failure, writing no NaN, when the target has no observed value;
- gives the same draws for the same key.

One ``jm.mice`` run per method imputes one column of each kind it takes, so each method
compiles once for the sampler and once per kind for the direct calls.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice import sampler
from jaxmice.methods import get_method
from jaxmice.methods.base import initial_state

N_CLUSTERS, PER_CLUSTER = 6, 5
N = N_CLUSTERS * PER_CLUSTER
LEVELS = ("a", "b", "c")


def _column(kind: str, cluster_level: bool, rng: np.random.Generator,
            cluster: np.ndarray) -> pd.Series:
    """A column of ``kind`` (constant within clusters when ``cluster_level``), about a quarter
    missing: in a cluster-level column one whole cluster and single rows of two others."""
    size = N_CLUSTERS if cluster_level else N
    draws = {
        "continuous": rng.normal(size=size),
        "binary": rng.integers(0, 2, size),
        "nominal": rng.integers(0, len(LEVELS), size),
        "ordinal": rng.integers(0, len(LEVELS), size),
        "count": rng.poisson(2.0, size),
    }[kind]
    if cluster_level and kind in ("binary", "nominal", "ordinal"):
        # every level in some observed cluster (cluster 1 is the missing one)
        draws = np.arange(size) % (2 if kind == "binary" else len(LEVELS))
    values = draws[cluster] if cluster_level else draws
    missing = (np.isin(cluster, [1]) | np.isin(np.arange(N), [7, 22]) if cluster_level
               else rng.random(N) < 0.25)
    missing[0] = True
    missing[1] = False
    if kind == "continuous":
        return pd.Series(np.where(missing, np.nan, values))
    if kind in ("binary", "count"):
        return pd.Series(pd.array(values, dtype="Int64")).mask(missing)
    cat = pd.Categorical.from_codes(values, LEVELS, ordered=kind == "ordinal")
    return pd.Series(cat).mask(missing)


def _data(name: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Tiny data for method ``name``: predictor ``x``, cluster ``g`` and one target per kind;
    its predictor matrix and methods."""
    info = get_method(name)
    rng = np.random.default_rng(20261124)
    cluster = np.repeat(np.arange(N_CLUSTERS), PER_CLUSTER)
    df = pd.DataFrame({"x": rng.normal(size=N), "g": cluster})
    targets = [f"t_{kind}" for kind in sorted(info.kinds)]
    for kind, target in zip(sorted(info.kinds), targets, strict=True):
        df[target] = _column(kind, info.level == "cluster", rng, cluster)
    pred = pd.DataFrame(0, index=df.columns, columns=df.columns)
    pred.loc[targets, "x"] = 1
    if info.needs_cluster:
        pred.loc[targets, "g"] = -2
    return df, pred, {"x": "", "g": ""} | {target: name for target in targets}


@functools.cache
def _run(name: str) -> jm.Imputations:
    df, pred, methods = _data(name)
    counts = {target: "count" for target in df.columns if target == "t_count"}
    return jm.mice(df, m=2, maxit=2, method=methods, predictor_matrix=pred, seed=5,
                   progress=False, kinds=counts or None)


def _visit(imp: jm.Imputations, column: int) -> int:
    return int(np.flatnonzero(np.asarray(imp.consts.visits.column) == column)[0])


def _structure(tree) -> tuple:
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, [(jnp.shape(leaf), jnp.result_type(leaf)) for leaf in leaves]


@functools.cache
def _direct(name: str, kind: str):
    """The method bound as the sampler binds it for the ``kind`` column, the visit's inputs
    (chain 0 after the run) and a jitted ``(key, inputs) -> (init state, two visits)``."""
    imp = _run(name)
    j = imp.schema.position(f"t_{kind}")
    v = _visit(imp, j)
    branch = imp.plan.branches[imp.plan.visit_branch[v]]
    imputer = branch.method.bind(branch.target)
    inputs, _ = sampler.visit_inputs(imp.plan, imp.data[0], imp.consts, v)

    @jax.jit
    def two_visits(key, inputs):
        state = initial_state(imputer, inputs)
        first = imputer.draw(key, state, inputs)
        second = imputer.draw(jax.random.fold_in(key, 1), first.state, inputs)
        return state, first, second

    return inputs, two_visits


CASES = [(name, kind) for name, info in jm.available_methods().items()
         for kind in sorted(info.kinds)]


@pytest.mark.parametrize(("name", "kind"), [
    pytest.param(name, kind, id=f"{name}-{kind}") for name, kind in CASES])
def test_draws_values_of_the_columns_type_under_the_sampler(name, kind):
    imp = _run(name)
    j = imp.schema.position(f"t_{kind}")
    v = _visit(imp, j)
    assert all(np.asarray(stats.ok)[:, v].all() for stats in imp.history), imp.logged_events
    data = imp.completed_arrays[:, :, j]  # f[m, n]
    observed = imp.observed[:, j]
    assert np.isfinite(data).all()
    np.testing.assert_array_equal(data[:, observed], np.broadcast_to(
        imp.values[observed, j], (imp.m, observed.sum())))
    n_levels = imp.schema.columns[j].n_levels
    if kind == "count":
        assert (data >= 0).all() and (data == np.round(data)).all()
    elif kind != "continuous":
        assert set(np.unique(data)) <= set(range(n_levels))
    if get_method(name).level == "cluster":
        cluster = np.asarray(imp.values[:, imp.schema.position("g")], dtype=int)
        for c in range(N_CLUSTERS):
            assert np.ptp(data[:, cluster == c], axis=1).max() == 0.0
    done = imp.complete(0)[f"t_{kind}"]
    assert done.notna().all()
    if kind in ("nominal", "ordinal"):
        assert list(done.cat.categories) == list(LEVELS)


#: each method's first kind in the default suite, its other kinds behind ``slow`` (each case
#: compiles its own visit)
FIRST_KINDS = [(name, kind) for name, kind in CASES
               if kind == sorted(jm.available_methods()[name].kinds)[0]]


@pytest.mark.parametrize(("name", "kind"), [
    pytest.param(name, kind, id=f"{name}-{kind}",
                 marks=() if (name, kind) in FIRST_KINDS else (pytest.mark.slow,))
    for name, kind in CASES])
def test_state_structure_and_same_key_same_draws(name, kind):
    inputs, two_visits = _direct(name, kind)
    key = jax.random.PRNGKey(3)
    state, first, second = two_visits(key, inputs)
    assert _structure(first.state) == _structure(state)
    assert _structure(second.state) == _structure(state)
    assert first.values.shape == inputs.y.shape and jnp.result_type(first.ok) == jnp.bool_
    assert bool(first.ok) and bool(second.ok)
    again = two_visits(key, inputs)
    np.testing.assert_array_equal(np.asarray(again[1].values), np.asarray(first.values))
    np.testing.assert_array_equal(np.asarray(again[2].values), np.asarray(second.values))


@pytest.mark.parametrize(("name", "kind"), [
    pytest.param(name, kind, id=f"{name}-{kind}") for name, kind in CASES])
def test_no_observed_value_is_reported_not_written(name, kind):
    inputs, two_visits = _direct(name, kind)
    empty = inputs._replace(ry=jnp.zeros_like(inputs.ry), wy=jnp.ones_like(inputs.wy),
                            gram=jnp.zeros_like(inputs.gram))
    _, first, second = two_visits(jax.random.PRNGKey(4), empty)
    assert not bool(first.ok) and not bool(second.ok)
    # what the sampler writes: the draw where it is accepted, else the previous values
    written = jnp.where(first.ok & empty.wy, first.values, empty.y)
    np.testing.assert_array_equal(np.asarray(written), np.asarray(empty.y))


def test_every_registered_method_is_covered():
    covered = {name for name, _ in CASES}
    assert covered == set(jm.available_methods())
    assert "toy.median" in covered  # registered from outside (tests/toy_method.py)


def test_options_come_from_the_factories_signatures():
    assert get_method("pmm").defaults == {"donors": 5, "ridge": 1e-5}
    assert get_method("2l.pan").defaults == {"sweeps": 1, "psi_prior": "uniform-shrinkage"}
    assert get_method("2l.pmm").options == ("sweeps", "donors", "psi_prior")
    assert get_method("2lonly.pmm").defaults == {"donors": 5, "ridge": 1e-5}
    assert get_method("sample").options == ()


def test_methods_compute_their_own_design_facts():
    codes = np.array([1, 2, 0, 3, 4, 1])  # intercept, slope, unused, mean, slope + mean, fixed
    pan = get_method("2l.pan").target("y", "continuous", 0, 10, codes)
    assert (pan.n_random, pan.n_means) == (3, 2)
    assert (get_method("2lonly.norm").target("y", "continuous", 0, 10, codes).n_random,
            get_method("pmm").target("y", "continuous", 0, 0, codes).n_means) == (0, 0)
    assert [get_method(n).level for n in ("2lonly.mean", "2l.pan", "pmm")] == [
        "cluster", "row", "row"]
