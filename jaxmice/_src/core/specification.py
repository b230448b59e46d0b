"""The imputation model, specified once: :class:`Specification`, built and validated by
:func:`specify`.

A specification says, per column, which method imputes it (or none, or a passive definition)
with which options and ``post`` function; which predictors each imputed column uses (the
predictor matrix, codes as in :mod:`jaxmice._src.core.defaults`); which cells are imputed
(``where``); and the order of the visits. Every check of the user's input happens here, before
anything is compiled, and each error names the column and the problem. :mod:`jaxmice._src.core.plan`
turns a specification into the sampler's static plan.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from jaxmice._src.adapters import frames_in
from jaxmice._src.core.defaults import (
    CODE_MEANING,
    cluster_spread,
    default_method,
    default_methods,
    resolve_predictor_matrix,
)
from jaxmice._src.core.passive import Passive, passive
from jaxmice._src.core.schema import Schema
from jaxmice.methods import NO_METHOD, PASSIVE, MethodInfo, available_methods, get_method

VISIT_ORDERS = ("roman", "arabic", "monotone", "revmonotone")


@dataclass(frozen=True, eq=False)
class Specification:
    """A validated imputation model (read-only).

    Attributes:
        schema: column names, kinds (user overrides applied) and levels.
        methods: the method of each column: a registered name, :data:`NO_METHOD` (not
            imputed) or :data:`PASSIVE`.
        models: the :class:`MethodInfo` of each column imputed by a method, by position.
        passives: the passive definitions, by position.
        predictor: int[p, p] predictor codes (columns left incomplete removed as predictors).
        where: bool[n, p] cells to impute.
        visit_sequence: positions of the columns visited, in order.
        options: each imputed column's options as sorted ``(name, value)`` pairs, by position.
        post: each column's ``f[n] -> f[n]`` applied to its draws, by position.
        events: what was changed on the way (predictors removed), as log records.
        delta: each shifted column's sensitivity shift, by position (see :func:`_delta`).
    """

    schema: Schema
    methods: tuple[str, ...]
    models: Mapping[int, MethodInfo]
    passives: Mapping[int, Passive]
    predictor: np.ndarray
    where: np.ndarray
    visit_sequence: tuple[int, ...]
    options: Mapping[int, tuple]
    post: Mapping[int, Callable]
    events: tuple[dict, ...] = ()
    delta: Mapping[int, float] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kind of each column (``continuous binary nominal ordinal``)."""
        return tuple(col.kind for col in self.schema.columns)


def is_modelled(method: str) -> bool:
    """Whether ``method`` names an imputation method (not :data:`NO_METHOD` or
    :data:`PASSIVE`)."""
    return method not in (NO_METHOD, PASSIVE)


def _where(where: Any, observed: np.ndarray, schema: Schema) -> np.ndarray:
    """bool[n, p] the cells to impute (default: the missing ones)."""
    if where is None:
        return ~observed
    index = schema.index if frames_in.is_frame_like(where) else list(range(schema.n_rows))
    arr = np.array(frames_in.as_frame(where, index, schema.names, "where").to_numpy())
    if arr.dtype != bool:
        raise TypeError("where must hold booleans (True = impute this cell)")
    return arr


def _is_passive(entry: Any) -> bool:
    return isinstance(entry, Passive) or callable(entry) or (
        isinstance(entry, str) and entry.strip().startswith(PASSIVE))


def _chosen(method: Any, defaults: list[str], where: np.ndarray, schema: Schema) -> list[Any]:
    """The user's ``method`` (None, one name, dict, Series or list) as one entry per column."""
    names = schema.names
    if method is None:
        return defaults
    one_name = isinstance(method, str) and not method.strip().startswith(PASSIVE)
    if one_name or isinstance(method, Passive):
        return [method if where[:, j].any() else NO_METHOD for j in range(len(names))]
    if isinstance(method, Mapping):
        unknown = [k for k in method if k not in names]
        if unknown:
            raise ValueError(f"method names unknown column(s) {unknown}; data columns are "
                             f"{list(names)}")
        return [method.get(name, defaults[j]) for j, name in enumerate(names)]
    if frames_in.is_frame_like(method) or isinstance(method, (list, tuple)):
        return list(frames_in.as_series(method, names, "method").fillna(NO_METHOD))
    raise TypeError(f"method must be a name, a dict or a Series, got {type(method).__name__}")


def _passive(name: Hashable, entry: Any, names: Sequence[Hashable]) -> Passive:
    spec = passive(entry)
    for used in spec.inputs or ():
        if used not in names:
            raise ValueError(f"passive column {name!r}: {spec.source!r} uses unknown column "
                             f"{used!r}")
        if used == name:
            raise ValueError(f"passive column {name!r} cannot depend on itself")
    return spec


def _check_method(info: MethodInfo, j: int, schema: Schema, row: np.ndarray,
                  observed: np.ndarray, where: np.ndarray, values: np.ndarray) -> None:
    """Column ``j`` can be imputed by ``info`` with predictor row ``row: i[p]``."""
    names, name, col = schema.names, schema.names[j], schema.columns[j]
    if col.kind not in info.kinds:
        suggestion = default_method(col.kind, row)
        raise ValueError(
            f"method {info.name!r} cannot impute column {name!r} of kind {col.kind} "
            f"(it takes: {', '.join(sorted(info.kinds))}); try {suggestion!r} or set the "
            "column's kind"
        )
    if (row == -2).any() and not (info.needs_cluster or info.optional_cluster):
        alt = info.multilevel_alternative
        hint = f"use a multilevel method such as {alt!r}" if alt else "use a 2l method"
        cluster = names[int(np.flatnonzero(row == -2)[0])]
        raise ValueError(
            f"column {name!r}: predictor_matrix gives cluster code -2 to {cluster!r}, but "
            f"{info.name!r} is a single-level method and would use the cluster id as a number; "
            f"{hint}, or set that entry to 0"
        )
    if (info.needs_cluster or info.optional_cluster) and (row == -2).sum() > 1:
        raise ValueError(f"column {name!r}: method {info.name!r} takes one cluster variable "
                         "(code -2) in its predictor_matrix row, not several")
    if info.needs_cluster and (row == -2).sum() != 1:
        raise ValueError(f"column {name!r}: method {info.name!r} needs exactly one cluster "
                         "variable (code -2) in its predictor_matrix row")
    bad = sorted(set(row[row != -2].tolist()) - set(info.allowed_codes))
    if bad:
        j_bad = int(np.flatnonzero(np.isin(row, bad))[0])
        raise ValueError(
            f"column {name!r}: predictor code {bad[0]} ({CODE_MEANING[bad[0]]}) for "
            f"{names[j_bad]!r} is not supported by method {info.name!r}"
            + ("; codes -3 and -4 (the selection and outcome equations of a selection "
               "model) are for 2l.heckman" if bad[0] in (-3, -4) else "")
        )
    if info.check_row is not None:
        info.check_row(col, row, names)
    if where[:, j].any() and not observed[:, j].any():
        raise ValueError(f"column {name!r} is entirely missing: there is nothing to impute "
                         "it from; drop it or define it passively")
    if where[:, j].any() and col.kind in ("nominal", "ordinal") and not info.unused_levels:
        _check_levels_observed(name, col.levels, values[:, j], observed[:, j], info.name)


def _check_levels_observed(name: Hashable, levels: tuple, codes: np.ndarray,
                           observed: np.ndarray, method: str) -> None:
    """Every level of a categorical column imputed by a method that does not keep unused
    levels (``MethodInfo.unused_levels``) is observed in some row.

    Raises:
        ValueError: naming the column and the levels.
    """
    seen = np.unique(codes[observed]).astype(int)
    unseen = [levels[k] for k in range(len(levels)) if k not in seen]
    if unseen:
        raise ValueError(
            f"column {name!r}: level(s) {unseen} are never observed, and method {method!r} "
            "cannot leave them out of its draws; use a built-in method (they keep unused "
            "levels and never impute them), drop the unused categories "
            "(df[col].cat.remove_unused_categories()) or merge them with a neighbouring level")


def _methods(method: Any, values: np.ndarray, observed: np.ndarray, where: np.ndarray,
             schema: Schema, pred: np.ndarray
             ) -> tuple[tuple[str, ...], dict[int, MethodInfo], dict[int, Passive]]:
    """Each column's method name, the registered methods and the passive definitions."""
    names = schema.names
    defaults = default_methods(values, observed, schema, pred, where.any(axis=0))
    methods: list[str] = []
    models: dict[int, MethodInfo] = {}
    passives: dict[int, Passive] = {}
    for j, (name, entry) in enumerate(zip(names, _chosen(method, defaults, where, schema),
                                          strict=True)):
        if _is_passive(entry):
            passives[j] = _passive(name, entry, names)
            methods.append(PASSIVE)
            continue
        if not isinstance(entry, str):
            raise TypeError(f"method for column {name!r} must be a string, got {entry!r}")
        entry = entry.strip()
        methods.append(entry)
        if entry == NO_METHOD:
            continue
        try:
            models[j] = get_method(entry)
        except ValueError as err:
            raise ValueError(f"column {name!r}: {err}") from None
        _check_method(models[j], j, schema, pred[j], observed, where, values)
    return tuple(methods), models, passives


def _check_clusters(schema: Schema, values: np.ndarray, observed: np.ndarray,
                    where: np.ndarray, pred: np.ndarray, models: Mapping[int, MethodInfo]
                    ) -> None:
    """Cluster columns are complete, and cluster-level columns constant within clusters."""
    names = schema.names
    imputing = np.array([j in models and where[:, j].any() for j in range(len(names))])
    unclustered = (pred[imputing] == -2).any(axis=0) & ~observed.all(axis=0)
    if unclustered.any():  # caught here, before it is dropped as an incomplete predictor
        j = int(np.flatnonzero(unclustered)[0])
        raise ValueError(f"cluster column {names[j]!r} has {int((~observed[:, j]).sum())} "
                         "missing value(s); every row needs a cluster")
    for j, info in models.items():
        if info.level == "cluster" and (pred[j] == -2).sum() == 1:
            _check_constant_within(schema, values, observed, j, int(np.flatnonzero(
                pred[j] == -2)[0]), info.name)


def _check_constant_within(schema: Schema, values: np.ndarray, observed: np.ndarray, j: int,
                           g: int, method: str) -> None:
    """Column ``j``, imputed by the cluster-level ``method``, has observed values that do not
    vary inside any cluster of column ``g``."""
    names = schema.names
    index = frames_in.cluster_index(values, observed, schema, names[g])
    codes, _, low, high = cluster_spread(values[:, j], observed[:, j], index.row_cluster)
    varying = np.flatnonzero(high > low)
    if varying.size:
        k = varying[0]
        raise ValueError(
            f"column {names[j]!r} is imputed by {method!r}, a cluster-level method, but its "
            f"observed values vary within cluster {index.labels[codes[k]]!r} of "
            f"{names[g]!r} (from {low[k]:g} to {high[k]:g}; {varying.size} such "
            "cluster(s)); use a 2l method for a variable that varies within clusters"
        )


def _options(method_options: Mapping | None, schema: Schema, methods: tuple[str, ...],
             models: Mapping[int, MethodInfo]) -> dict[int, tuple]:
    """Each imputed column's options as sorted ``(name, value)`` pairs."""
    names = schema.names
    given = dict(method_options or {})
    unknown = [k for k in given if k not in names]
    if unknown:
        raise ValueError(f"method_options names unknown column(s) {unknown}; data columns are "
                         f"{list(names)}")
    for name in given:
        if not is_modelled(methods[schema.position(name)]):
            raise ValueError(f"method_options given for column {name!r}, which is not imputed")
    return {j: info.check_options(dict(given.get(names[j], {})), names[j])
            for j, info in models.items()}


def _post(post: Mapping | None, schema: Schema, methods: tuple[str, ...]
          ) -> dict[int, Callable]:
    """``post`` by column position, checked."""
    out = {}
    for name, fn in dict(post or {}).items():
        if not callable(fn):
            raise TypeError(f"post for column {name!r} must be a function f[n] -> f[n]")
        j = schema.position(name)
        if not is_modelled(methods[j]):
            raise ValueError(f"post given for column {name!r}, which is not imputed")
        out[j] = fn
    return out


def _delta(delta: Mapping | None, schema: Schema, methods: tuple[str, ...],
           models: Mapping[int, MethodInfo]) -> dict[int, float]:
    """The sensitivity shifts by column position, checked: a continuous column's imputations
    are shifted by delta; a binary column's method adds delta to its linear predictor (log
    odds, or the probit index), which only methods that declare it can do.

    Raises:
        ValueError / TypeError: naming the column and the problem.
    """
    out = {}
    for name, shift in dict(delta or {}).items():
        if name not in schema.names:
            raise ValueError(f"delta names unknown column {name!r}; data columns are "
                             f"{list(schema.names)}")
        j = schema.position(name)
        if isinstance(shift, bool) or not isinstance(shift, (int, float, np.integer,
                                                            np.floating)):
            raise TypeError(f"delta for column {name!r} must be a number, got {shift!r}")
        if not np.isfinite(shift):
            raise ValueError(f"delta for column {name!r} must be finite, got {shift!r}")
        if not is_modelled(methods[j]):
            raise ValueError(f"delta given for column {name!r}, which is not imputed")
        kind = schema.columns[j].kind
        if kind == "binary" and not models[j].delta:
            takers = sorted(k for k, info in available_methods().items()
                            if info.delta and "binary" in info.kinds)
            raise ValueError(f"delta for binary column {name!r}: method {methods[j]!r} cannot "
                             f"shift its linear predictor; use one that can ({takers})")
        if kind not in ("continuous", "binary"):
            raise ValueError(f"delta for column {name!r} of kind {kind}: a shift is defined "
                             "for continuous columns (the imputed values) and binary ones (the "
                             "log odds) only")
        out[j] = float(shift)
    return out


def _drop_incomplete_predictors(pred: np.ndarray, methods: tuple[str, ...],
                                observed: np.ndarray, where: np.ndarray, schema: Schema
                                ) -> tuple[np.ndarray, list[dict]]:
    """A column left incomplete (no method) cannot serve as a predictor: remove it from every
    row, logging an event. Returns the new matrix and the events."""
    names, pred, events = schema.names, pred.copy(), []
    imputed = np.array([meth != NO_METHOD for meth in methods])
    incomplete = (~observed & ~(where & imputed)).any(axis=0)
    for j in np.flatnonzero(incomplete):
        users = [names[i] for i in np.flatnonzero(pred[:, j] != 0) if methods[i] != NO_METHOD]
        if users:
            pred[:, j] = 0
            events.append(dict(iteration=0, variable=names[j], method=NO_METHOD,
                               event="not a predictor",
                               detail=f"has missing values and is not imputed; removed as "
                                      f"predictor of {users}"))
    return pred, events


def _visit_order(visit_sequence: Any, methods: tuple[str, ...], where: np.ndarray,
                 schema: Schema) -> tuple[int, ...]:
    """The positions visited, in order (columns with a method and a cell to impute)."""
    imputed = [j for j, meth in enumerate(methods) if is_modelled(meth) and where[:, j].any()]
    if visit_sequence is None or visit_sequence == "roman":
        return tuple(imputed)
    if visit_sequence == "arabic":
        return tuple(imputed[::-1])
    if visit_sequence in ("monotone", "revmonotone"):
        order = sorted(imputed, key=lambda j: int(where[:, j].sum()))  # stable: ties keep order
        return tuple(order if visit_sequence == "monotone" else order[::-1])
    if isinstance(visit_sequence, str):
        raise ValueError(f"visit_sequence {visit_sequence!r} is not one of {VISIT_ORDERS} or a "
                         "list of columns")
    order = []
    for name in visit_sequence:
        j = schema.position(name)
        if not is_modelled(methods[j]):
            raise ValueError(f"visit_sequence lists column {name!r}, which has no imputation "
                             "method")
        order.append(j)
    return tuple(order)


def _read_only(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr)
    arr.flags.writeable = False
    return arr


def specify(
    values: np.ndarray,
    observed: np.ndarray,
    schema: Schema,
    method: Any = None,
    predictor_matrix: Any = None,
    where: Any = None,
    visit_sequence: str | Sequence[Hashable] | None = None,
    post: Mapping[Hashable, Callable] | None = None,
    method_options: Mapping[Hashable, Mapping[str, Any]] | None = None,
    delta: Mapping[Hashable, float] | None = None,
) -> Specification:
    """Build and validate the imputation model of encoded data (see :func:`jaxmice.mice` for
    the arguments).

    Args:
        values: f[n, p] the encoded data; observed: bool[n, p] its observed cells; schema:
            its columns (kinds already resolved).

    Raises:
        ValueError / TypeError: naming the column and the problem.
    """
    where_arr = _where(where, observed, schema)
    pred = resolve_predictor_matrix(predictor_matrix, schema)
    methods, models, passives = _methods(method, values, observed, where_arr, schema, pred)
    _check_clusters(schema, values, observed, where_arr, pred, models)
    options = _options(method_options, schema, methods, models)
    post_by_column = _post(post, schema, methods)
    shifts = _delta(delta, schema, methods, models)
    pred, events = _drop_incomplete_predictors(pred, methods, observed, where_arr, schema)
    order = _visit_order(visit_sequence, methods, where_arr, schema)
    return Specification(
        schema=schema, methods=methods, models=MappingProxyType(models),
        passives=MappingProxyType(passives), predictor=_read_only(pred),
        where=_read_only(where_arr), visit_sequence=order, options=MappingProxyType(options),
        post=MappingProxyType(post_by_column), events=tuple(events),
        delta=MappingProxyType(shifts))
