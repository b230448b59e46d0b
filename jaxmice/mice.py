"""``jm.mice``: validate the specification, build the static plan, run the sampler."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import sampler
from ._precision import in_float64
from .adapters import pandas as adapter
from .design import make_terms
from .imputations import Imputations
from .methods import Target, get_method
from .schema import Schema
from .spec import Resolved, cluster_spread, resolve_methods, resolve_predictor_matrix

VISIT_ORDERS = ("roman", "arabic", "monotone", "revmonotone")


def _check_counts(m: Any, maxit: Any) -> None:
    for name, value, low in (("m", m, 1), ("maxit", maxit, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")


def _where(where: Any, observed: np.ndarray, schema: Schema) -> np.ndarray:
    if where is None:
        return ~observed
    frame = adapter.as_frame(where, list(range(schema.n_rows)) if not adapter.is_frame_like(where)
                             else schema.index, schema.names, "where")
    arr = frame.to_numpy()
    if arr.dtype != bool:
        raise TypeError("where must hold booleans (True = impute this cell)")
    return arr


def _visit_order(visit_sequence: Any, resolved: Resolved, where: np.ndarray, schema: Schema
                 ) -> list[int]:
    imputed = [j for j, meth in enumerate(resolved.methods)
               if meth not in ("", "~") and where[:, j].any()]
    if visit_sequence is None or visit_sequence == "roman":
        return imputed
    if visit_sequence == "arabic":
        return imputed[::-1]
    if visit_sequence in ("monotone", "revmonotone"):
        order = sorted(imputed, key=lambda j: int(where[:, j].sum()))  # stable: ties keep order
        return order if visit_sequence == "monotone" else order[::-1]
    if isinstance(visit_sequence, str):
        raise ValueError(f"visit_sequence {visit_sequence!r} is not one of {VISIT_ORDERS} or a "
                         "list of columns")
    order = []
    for name in visit_sequence:
        j = schema.position(name)
        if resolved.methods[j] in ("", "~"):
            raise ValueError(f"visit_sequence lists column {name!r}, which has no imputation "
                             "method")
        order.append(j)
    return order


def _options(method_options: Mapping | None, name: Hashable, method: str) -> tuple:
    given = dict((method_options or {}).get(name, {}))
    accepted = get_method(method).options
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise ValueError(f"column {name!r}: method {method!r} takes no option(s) {unknown} "
                         f"(it takes {list(accepted)})")
    return tuple(sorted(given.items()))


def _plan(schema: Schema, values: np.ndarray, observed: np.ndarray, where: np.ndarray,
          pred: np.ndarray, resolved: Resolved, order: list[int], post: Mapping,
          method_options: Mapping | None) -> tuple[sampler.Plan, sampler.Consts]:
    """The static plan and the visit table."""
    names = schema.names
    predictors = sorted({k for j in order for k in np.flatnonzero(pred[j] > 0).tolist()})
    terms = make_terms(schema, predictors)
    term_of = np.array([0] + [t.column for t in terms for _ in t.labels])  # design col -> data col
    clusters = np.zeros(values.shape, dtype=np.int32)
    branches: list[sampler.Branch] = []
    rows = dict(column=[], branch=[], slot=[], codes=[], cluster_column=[])
    for j in order:
        col, meth, row = schema.columns[j], resolved.methods[j], pred[j]
        cluster_col = int(np.flatnonzero(row == -2)[0]) if (row == -2).any() else None
        n_clusters = 0
        if cluster_col is not None:
            index = adapter.cluster_index(values, observed, schema, names[cluster_col])
            clusters[:, cluster_col] = index.row_cluster
            n_clusters = index.n_clusters
        options = _options(method_options, col.name, meth)
        codes = np.where(np.arange(len(term_of)) == 0, 1, row[term_of])
        codes[1:][term_of[1:] == j] = 0
        codes = np.where(codes == -2, 0, codes)
        multilevel = get_method(meth).needs_cluster
        target = Target(name=col.name, kind=col.kind, n_levels=col.n_levels,
                        n_clusters=n_clusters, options=options,
                        n_random=1 + int(np.isin(codes[1:], (2, 4)).sum()) if multilevel else 0,
                        n_means=int(np.isin(codes, (3, 4)).sum()) if multilevel else 0)
        get_method(meth).make(target)  # validates the options, naming the column
        branch = sampler.Branch(method=meth, target=dataclasses.replace(target, name=None),
                                post=post.get(col.name))
        if branch not in branches:
            branches.append(branch)
        b = branches.index(branch)
        rows["column"].append(j)
        rows["branch"].append(b)
        rows["slot"].append(rows["branch"].count(b) - 1)
        rows["codes"].append(codes)
        rows["cluster_column"].append(cluster_col or 0)
    passives = tuple(sorted(resolved.passives.items()))
    tracked = tuple(sorted(set(order) | {j for j, _ in passives if where[:, j].any()}))
    plan = sampler.Plan(branches=tuple(branches), visit_branch=tuple(rows["branch"]),
                        terms=terms, passives=passives, names=names, tracked=tracked)
    visits = sampler.Visits(**{
        k: jnp.asarray(np.array(v, dtype=np.int32).reshape(len(order), len(term_of))
                       if k == "codes"
                       else np.array(v, dtype=np.int32))
        for k, v in rows.items()})
    consts = sampler.Consts(observed=jnp.asarray(observed), where=jnp.asarray(where),
                            clusters=jnp.asarray(clusters), visits=visits)
    return plan, consts


def _check_cluster_level(schema: Schema, values: np.ndarray, observed: np.ndarray,
                         pred: np.ndarray, resolved: Resolved) -> None:
    """A column imputed by a cluster-level method (``2lonly.*``) must be constant within
    clusters: its observed values may not vary inside any cluster of its cluster variable."""
    names = schema.names
    for j, meth in enumerate(resolved.methods):
        if not meth.startswith("2lonly.") or (pred[j] == -2).sum() != 1:
            continue
        g = int(np.flatnonzero(pred[j] == -2)[0])
        index = adapter.cluster_index(values, observed, schema, names[g])
        codes, _, low, high = cluster_spread(values[:, j], observed[:, j], index.row_cluster)
        varying = np.flatnonzero(high > low)
        if varying.size:
            k = varying[0]
            raise ValueError(
                f"column {names[j]!r} is imputed by {meth!r}, a cluster-level method, but its "
                f"observed values vary within cluster {index.labels[codes[k]]!r} of "
                f"{names[g]!r} (from {low[k]:g} to {high[k]:g}; {varying.size} such "
                "cluster(s)); use a 2l method for a variable that varies within clusters"
            )


def _check_extras(schema: Schema, observed: np.ndarray, where: np.ndarray, pred: np.ndarray,
                  resolved: Resolved, post: Mapping, method_options: Mapping | None,
                  values: np.ndarray | None = None) -> None:
    """Validate the cluster columns, ``method_options`` and ``post`` against the methods, and
    (given ``values``) that cluster-level columns are constant within clusters."""
    names = schema.names
    imputing = np.array([meth not in ("", "~") and where[:, j].any()
                         for j, meth in enumerate(resolved.methods)])
    unclustered = (pred[imputing] == -2).any(axis=0) & ~observed.all(axis=0)
    if unclustered.any():  # caught here, before it is dropped as an incomplete predictor
        j = int(np.flatnonzero(unclustered)[0])
        raise ValueError(f"cluster column {names[j]!r} has {int((~observed[:, j]).sum())} "
                         "missing value(s); every row needs a cluster")
    if values is not None:
        _check_cluster_level(schema, values, observed, pred, resolved)
    unknown = [k for k in (method_options or {}) if k not in names]
    if unknown:
        raise ValueError(f"method_options names unknown column(s) {unknown}; data columns are "
                         f"{list(names)}")
    for name in method_options or {}:
        if resolved.methods[schema.position(name)] in ("", "~"):
            raise ValueError(f"method_options given for column {name!r}, which is not imputed")
    for name, fn in post.items():
        if not callable(fn):
            raise TypeError(f"post for column {name!r} must be a function f[n] -> f[n]")
        if resolved.methods[schema.position(name)] in ("", "~"):
            raise ValueError(f"post given for column {name!r}, which is not imputed")


def _data_init(data_init: Any, m: int, values: np.ndarray, where: np.ndarray,
               schema: Schema) -> jax.Array | None:
    """``data_init`` as f[m, n, p] starting data (observed cells from the data), or None."""
    if data_init is None:
        return None
    frames = [data_init] * m if adapter.is_frame_like(data_init) else list(data_init)
    if len(frames) != m:
        raise ValueError(f"data_init has {len(frames)} data sets; give one, or m = {m}")
    start = np.stack([adapter.encode_like(frame, schema, "data_init") for frame in frames])
    gaps = where[None] & np.isnan(start)
    if gaps.any():
        k, i, j = (int(a[0]) for a in np.nonzero(gaps))
        raise ValueError(f"data_init {k} has a missing value in column {schema.names[j]!r} "
                         f"(row {i}), a cell to impute; data_init must fill every such cell")
    return jnp.asarray(np.where(where[None], start, values[None]))


@in_float64
def mice(
    df: Any,
    m: int = 5,
    maxit: int = 10,
    method: Any = None,
    predictor_matrix: Any = None,
    where: Any = None,
    visit_sequence: str | Sequence[Hashable] | None = None,
    post: Mapping[Hashable, Callable[[jax.Array], jax.Array]] | None = None,
    seed: int | None = None,
    progress: bool = True,
    kinds: Mapping[Hashable, str] | None = None,
    method_options: Mapping[Hashable, Mapping[str, Any]] | None = None,
    data_init: Any = None,
) -> Imputations:
    """Multiple imputation by chained equations, m chains at once.

    Args:
        df: the incomplete data (pandas DataFrame; NaN/None/NA mark missing cells).
        m: number of imputations (parallel chains).
        maxit: number of iterations.
        method: one method name for every incomplete column, or per column (dict, Series or
            list); ``""`` leaves a column alone; ``"~ expr"`` or ``jm.passive(fn)`` defines it
            passively. Defaults by kind: pmm, logreg, polyreg, polr.
        predictor_matrix: codes (rows = imputed column, columns = predictors) as a DataFrame,
            array, or partial ``{row: {column: code}}``. Defaults to all ones off the diagonal.
        where: bool cells to impute (default: the missing cells); observed cells marked True are
            over-imputed.
        visit_sequence: ``"roman"`` (left to right, default), ``"arabic"``, ``"monotone"``
            (fewest missing first), ``"revmonotone"``, or a list of column names.
        post: per column ``f[n] -> f[n]`` applied to each draw, e.g. ``jm.squeeze(1, 10)``.
        seed: integer seed; the same seed gives the same imputations.
        progress: show a progress bar.
        kinds: per-column kind overrides (``continuous binary nominal ordinal``).
        method_options: per-column method options, e.g. ``{"y": {"donors": 10}}``.
        data_init: starting values for the imputed cells (R's ``data.init``): one complete
            DataFrame like ``df`` for every chain, or a list of m of them (e.g. over-dispersed
            starts for convergence checks). Default: random draws from the observed values.

    Returns:
        The :class:`~jaxmice.imputations.Imputations`.
    """
    _check_counts(m, maxit)
    values, observed, schema = adapter.encode(df, kinds)
    names = schema.names
    where_arr = _where(where, observed, schema)
    pred = resolve_predictor_matrix(predictor_matrix, schema)
    resolved = resolve_methods(method, values, observed, where_arr, schema, pred)
    post = dict(post or {})
    _check_extras(schema, observed, where_arr, pred, resolved, post, method_options, values)
    events: list[dict] = []
    # a column left incomplete (no method) cannot serve as a predictor
    imputed = np.array([meth != "" for meth in resolved.methods])
    incomplete = (~observed & ~(where_arr & imputed)).any(axis=0)
    for j in np.flatnonzero(incomplete):
        users = [names[i] for i in np.flatnonzero(pred[:, j] != 0) if resolved.methods[i]]
        if users:
            pred[:, j] = 0
            events.append(dict(iteration=0, variable=names[j], method="", event="not a predictor",
                               detail=f"has missing values and is not imputed; removed as "
                                      f"predictor of {users}"))
    order = _visit_order(visit_sequence, resolved, where_arr, schema)
    plan, consts = _plan(schema, values, observed, where_arr, pred, resolved, order, post,
                         method_options)
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31 - 1))
    root = jax.random.PRNGKey(seed)
    start = _data_init(data_init, m, values, where_arr, schema)
    data, states = sampler.initialize(plan, m, jnp.asarray(values), consts,
                                      jax.random.fold_in(root, 0), start)
    imp = Imputations(
        schema=schema, values=values, observed=observed, where=where_arr, predictor=pred,
        methods=resolved.methods, passives=resolved.passives, plan=plan, consts=consts,
        root=root, seed=seed, data=data, states=states, history=[], events=events,
    )
    return imp.iterate(maxit, progress=progress)
