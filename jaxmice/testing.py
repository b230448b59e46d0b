"""The contract every imputation method keeps, as a public check: ``check_method(info)`` runs
on an outside author's method what every built-in method passes
(``tests/methods/test_method_contract.py`` runs the same functions over the registry, as numpyro
tests every distribution).

On tiny data (30 rows in 6 clusters, a cluster variable whenever the method needs one), a
method:

- runs under the sampler's jit and vmap (``jm.mice``, m = 2, maxit = 2) with every draw
  accepted (:func:`check_draws`);
- draws values of the column's type: finite, binary 0/1, categories within their levels,
  counts non-negative whole numbers, one value per cluster for a cluster-level method,
  observed cells untouched (:func:`check_draws`);
- keeps its state's structure (tree, shapes, dtypes) from ``init`` across visits, and gives
  the same draws for the same key (:func:`check_state_and_key`);
- reports failure, writing no NaN, when the target has no observed value
  (:func:`check_failure_reported`).

```python
import jaxmice as jm
from jaxmice.testing import check_method

jm.register_method(MY_METHOD)
check_method(MY_METHOD)          # raises AssertionError naming the broken promise
```
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxmice._src.runtime.programs import program
from jaxmice.methods import MethodInfo, get_method, registered
from jaxmice.methods.base import initial_state

N_CLUSTERS, PER_CLUSTER = 6, 5
N = N_CLUSTERS * PER_CLUSTER
#: the levels of the categorical targets
LEVELS = ("a", "b", "c")

__all__ = ["check_method", "check_draws", "check_state_and_key", "check_failure_reported",
           "contract_data", "contract_run"]


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


def contract_data(name: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Tiny data for the registered method ``name``: predictor ``x``, cluster ``g`` and a
    target ``t_<kind>`` per kind it takes; its predictor matrix and methods."""
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


def contract_run(name: str) -> Any:
    """``jm.mice`` on :func:`contract_data` (m = 2, maxit = 2): every kind's target at once."""
    from jaxmice._src.engine.mice import mice

    df, pred, methods = contract_data(name)
    counts = {target: "count" for target in df.columns if target == "t_count"}
    return mice(df, m=2, maxit=2, method=methods, predictor_matrix=pred, seed=5,
                progress=False, kinds=counts or None)


def _visit(imp: Any, column: int) -> int:
    return int(np.flatnonzero(np.asarray(imp.consts.visits.column) == column)[0])


def _structure(tree: Any) -> tuple:
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, [(jnp.shape(leaf), jnp.result_type(leaf)) for leaf in leaves]


def check_draws(imp: Any, name: str, kind: str) -> None:
    """The ``t_<kind>`` column of :func:`contract_run`'s imputations: every draw accepted,
    values of the column's type, observed cells untouched, one value per cluster for a
    cluster-level method, and a complete frame with the column's categories."""
    j = imp.schema.position(f"t_{kind}")
    v = _visit(imp, j)
    assert all(np.asarray(stats.ok)[:, v].all() for stats in imp.history), (
        f"{name} ({kind}): a draw was refused under the sampler: {imp.logged_events}")
    data = imp.completed_arrays[:, :, j]  # f[m, n]
    observed = imp.observed[:, j]
    assert np.isfinite(data).all(), f"{name} ({kind}): a non-finite imputation"
    np.testing.assert_array_equal(
        data[:, observed], np.broadcast_to(imp.values[observed, j], (imp.m, observed.sum())),
        err_msg=f"{name} ({kind}): an observed cell changed")
    n_levels = imp.schema.columns[j].n_levels
    if kind == "count":
        assert (data >= 0).all() and (data == np.round(data)).all(), (
            f"{name} (count): a draw is not a non-negative whole number")
    elif kind != "continuous":
        assert set(np.unique(data)) <= set(range(n_levels)), (
            f"{name} ({kind}): a draw is not one of the column's levels")
    if get_method(name).level == "cluster":
        cluster = np.asarray(imp.values[:, imp.schema.position("g")], dtype=int)
        for c in range(N_CLUSTERS):
            assert np.ptp(data[:, cluster == c], axis=1).max() == 0.0, (
                f"{name} ({kind}): a cluster-level draw varies within cluster {c}")
    done = imp.complete(0)[f"t_{kind}"]
    assert done.notna().all(), f"{name} ({kind}): the completed column has a gap"
    if kind in ("nominal", "ordinal"):
        assert list(done.cat.categories) == list(LEVELS), (
            f"{name} ({kind}): the completed column lost its categories")


#: the last few :func:`_direct` results, by the run's identity and the kind (the run is kept
#: with them, so its id is not reused while they are)
_DIRECT: dict[tuple[int, str], tuple[Any, Any, Any]] = {}


def _direct(imp: Any, kind: str) -> tuple[Any, Any]:
    """The method of the ``t_<kind>`` column bound as the sampler binds it, the visit's
    inputs (chain 0 after the run) and a jitted ``(key, inputs) -> (init state, two
    visits)``, compiled once for the run and kind."""
    key = (id(imp), kind)
    if key not in _DIRECT:
        if len(_DIRECT) >= 16:
            _DIRECT.clear()
        _DIRECT[key] = (imp, *_bind(imp, kind))
    return _DIRECT[key][1:]


def _bind(imp: Any, kind: str) -> tuple[Any, Any]:
    from jaxmice._src.engine import sampler

    j = imp.schema.position(f"t_{kind}")
    v = _visit(imp, j)
    branch = imp.plan.branches[imp.plan.visit_branch[v]]
    imputer = branch.method.bind(branch.target)
    inputs, _ = sampler.visit_inputs(imp.plan, imp.data[0], imp.consts, v)
    return inputs, functools.partial(_two_visits, imputer)


@program(static_argnums=(0,))
def _two_visits(imputer: Any, key: jax.Array, inputs: Any) -> tuple:
    """``init`` and two visits of a bound method, compiled once per method and shape."""
    state = initial_state(imputer, inputs)
    first = imputer.draw(key, state, inputs)
    second = imputer.draw(jax.random.fold_in(key, 1), first.state, inputs)
    return state, first, second


def check_state_and_key(imp: Any, name: str, kind: str) -> None:
    """Two visits called directly: the state keeps ``init``'s structure, the draws have the
    target's shape and are accepted, and the same key gives the same draws."""
    inputs, two_visits = _direct(imp, kind)
    key = jax.random.PRNGKey(3)
    state, first, second = two_visits(key, inputs)
    assert _structure(first.state) == _structure(state), (
        f"{name} ({kind}): the state's structure changed at the first visit")
    assert _structure(second.state) == _structure(state), (
        f"{name} ({kind}): the state's structure changed at the second visit")
    assert first.values.shape == inputs.y.shape, f"{name} ({kind}): draws of the wrong shape"
    assert jnp.result_type(first.ok) == jnp.bool_, f"{name} ({kind}): ok is not a bool"
    assert bool(first.ok) and bool(second.ok), f"{name} ({kind}): a direct draw was refused"
    again = two_visits(key, inputs)
    for was, now in ((first, again[1]), (second, again[2])):
        np.testing.assert_array_equal(np.asarray(now.values), np.asarray(was.values),
                                      err_msg=f"{name} ({kind}): one key, other draws")


def check_failure_reported(imp: Any, name: str, kind: str) -> None:
    """With no observed value the method reports failure (``ok`` False), so the sampler
    writes the previous values, never a NaN."""
    inputs, two_visits = _direct(imp, kind)
    empty = inputs._replace(ry=jnp.zeros_like(inputs.ry), wy=jnp.ones_like(inputs.wy),
                            gram=jnp.zeros_like(inputs.gram))
    _, first, second = two_visits(jax.random.PRNGKey(4), empty)
    assert not bool(first.ok) and not bool(second.ok), (
        f"{name} ({kind}): a target with no observed value was not reported")
    written = jnp.where(first.ok & empty.wy, first.values, empty.y)
    np.testing.assert_array_equal(np.asarray(written), np.asarray(empty.y))


def check_method(method: MethodInfo | str, kinds: Any = None) -> None:
    """Run the whole contract on a method, for each kind it takes (or ``kinds``).

    Args:
        method: a registered method's name, or a :class:`~jaxmice.methods.MethodInfo`
            (registered for the check alone where it is not the one registered).
        kinds: the kinds to check (default: all the method declares).

    Raises:
        AssertionError: naming the method, the kind and the promise it broke.
    """
    if isinstance(method, MethodInfo):
        if get_registered(method.name) is not method:
            with registered(method):
                check_method(method.name, kinds)
            return
        method = method.name
    info = get_method(method)
    imp = contract_run(method)
    for kind in sorted(info.kinds if kinds is None else kinds):
        check_draws(imp, method, kind)
        check_state_and_key(imp, method, kind)
        check_failure_reported(imp, method, kind)


def get_registered(name: str) -> MethodInfo | None:
    """The method registered under ``name``, or None."""
    from jaxmice.methods import available_methods

    return available_methods().get(name)
