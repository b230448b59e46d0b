"""The defaults a specification starts from: the predictor-matrix codes, default methods
(``make_method``), predictor matrices (``make_predictor_matrix``, ``quickpred``) and the
reading of a user's matrix (:mod:`jaxmice._src.core.specification` validates the whole model).

Predictor-matrix codes (rows = column imputed, columns = predictors), as in mice/miceadds:
``0`` not used; ``1`` fixed effect; ``2`` fixed + random effect; ``3`` fixed effect plus its
cluster mean; ``4`` random effect plus cluster mean; ``-2`` the cluster variable; ``-3``
selection equation only; ``-4`` outcome equation only.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np

from jaxmice._src.adapters import frames_in, frames_out
from jaxmice._src.core.correlation import pairwise_correlations
from jaxmice._src.core.schema import Schema
from jaxmice.methods import NO_METHOD, get_method

CODES = (-4, -3, -2, 0, 1, 2, 3, 4)
CODE_MEANING = {
    0: "not used", 1: "fixed effect", 2: "fixed and random effect",
    3: "fixed effect plus cluster mean", 4: "random effect plus cluster mean",
    -2: "cluster variable", -3: "selection equation only", -4: "outcome equation only",
}
DEFAULT_METHOD = {"continuous": "pmm", "binary": "logreg", "nominal": "polyreg",
                  "ordinal": "polr", "count": "pmm"}
# a kind whose multilevel default is not its single-level default's multilevel alternative
MULTILEVEL_DEFAULT = {"count": "2l.pois"}
# defaults for a cluster-level column, by kind
CLUSTER_LEVEL_METHOD = {"continuous": "2lonly.pmm", "count": "2lonly.pmm",
                        "binary": "2lonly.pmm", "ordinal": "2lonly.pmm",
                        "nominal": "2lonly.polyreg"}


def make_predictor_matrix(df: Any, cluster: Hashable | None = None) -> Any:
    """The default predictor matrix: every other column predicts every column.

    Args:
        df: the incomplete data.
        cluster: optional cluster column, coded -2 in every row (and not imputed itself).

    Returns:
        DataFrame[int] with rows = columns imputed and columns = predictors.
    """
    _, _, schema = frames_in.encode(df)
    p = len(schema.names)
    pred = np.ones((p, p), dtype=np.int64) - np.eye(p, dtype=np.int64)
    if cluster is not None:
        g = schema.position(cluster)
        pred[:, g] = -2
        pred[g, :] = 0
    return frames_out.labelled_matrix(pred, schema.names, schema.names)


def _pairwise_corr(values: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """Pairwise-complete correlations f[p, r] (NaN = missing in the inputs), 0 where a pair
    cannot be correlated (as mice's ``quickpred``)."""
    return np.nan_to_num(pairwise_correlations(values, other), nan=0.0)


def quickpred(
    df: Any, mincor: float = 0.1, minpuc: float = 0.0, include: Iterable[Hashable] = (),
    exclude: Iterable[Hashable] = (),
) -> Any:
    """Select predictors by correlation, as mice's ``quickpred``.

    Predictor ``x`` enters the row of an incomplete column ``y`` when the larger of
    ``|cor(y, x)|`` and ``|cor(is.na(y), x)|`` (pairwise complete) exceeds ``mincor`` and the
    proportion of usable cases (rows missing ``y`` with ``x`` observed) is at least ``minpuc``.
    Columns in ``include`` always enter, those in ``exclude`` never. Rows of complete columns
    are 0. Categorical columns enter by their codes.

    Returns:
        DataFrame[int] predictor matrix.
    """
    values, observed, schema = frames_in.encode(df)
    names = schema.names
    include, exclude = list(include), list(exclude)
    for label in include + exclude:
        schema.position(label)
    p = len(names)
    pred = np.zeros((p, p), dtype=np.int64)
    values = np.where(observed, values, np.nan)
    missing = ~observed
    r_value = _pairwise_corr(values)
    r_resp = _pairwise_corr(missing.astype(np.float64), values)
    puc = (missing.T.astype(np.float64) @ observed) / np.maximum(missing.sum(axis=0), 1)[:, None]
    chosen = (np.maximum(np.abs(r_value), np.abs(r_resp)) > mincor) & (puc >= minpuc)
    np.fill_diagonal(chosen, False)
    for i in range(p):
        if not missing[:, i].any():
            continue
        pred[i] = chosen[i]
        for label in include:
            pred[i, schema.position(label)] = 1 if schema.position(label) != i else 0
        for label in exclude:
            pred[i, schema.position(label)] = 0
    return frames_out.labelled_matrix(pred, names, names)


def default_method(kind: str, row_codes: np.ndarray) -> str:
    """The default method for a kind; its multilevel alternative when the row has a cluster."""
    name = DEFAULT_METHOD[kind]
    if (row_codes == -2).any():
        alternative = MULTILEVEL_DEFAULT.get(kind, get_method(name).multilevel_alternative)
        try:
            if alternative and kind in get_method(alternative).kinds:
                return alternative
        except ValueError:  # not registered (yet): the sampler will say what to do
            pass
    return name


def cluster_spread(values: np.ndarray, observed: np.ndarray, row_cluster: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Observed values of one column grouped by cluster (vectorised, host side).

    Args:
        values: f[n] the column; observed: bool[n] its observed cells; row_cluster: i[n]
            each row's cluster code.

    Returns:
        For each cluster with an observed value, in code order: its code, its number of
        observed rows, and the smallest and largest observed value.
    """
    codes, v = row_cluster[observed], values[observed]
    if codes.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0), np.zeros(0)
    order = np.argsort(codes, kind="stable")
    codes, v = codes[order], v[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    counts = np.diff(np.r_[starts, codes.size])
    return codes[starts], counts, np.minimum.reduceat(v, starts), np.maximum.reduceat(v, starts)


def _is_cluster_level(j: int, values: np.ndarray, observed: np.ndarray, schema: Schema,
                      row_codes: np.ndarray) -> bool:
    """Column ``j``'s row has a cluster variable (complete), its observed values are constant
    within every cluster, and some cluster has 2+ observed rows."""
    if (row_codes == -2).sum() != 1:
        return False
    g = int(np.flatnonzero(row_codes == -2)[0])
    if not observed[:, g].all():
        return False
    index = frames_in.cluster_index(values, observed, schema, schema.names[g])
    _, counts, low, high = cluster_spread(values[:, j], observed[:, j], index.row_cluster)
    return bool(counts.size and counts.max() >= 2 and np.all(low == high))


def default_methods(values: np.ndarray, observed: np.ndarray, schema: Schema,
                     pred: np.ndarray, imputed: np.ndarray) -> list[str]:
    """Default method of every column (:data:`NO_METHOD` where ``imputed`` is False); see
    make_method."""
    methods = []
    for j, col in enumerate(schema.columns):
        if not imputed[j]:
            methods.append(NO_METHOD)
        elif _is_cluster_level(j, values, observed, schema, pred[j]):
            methods.append(CLUSTER_LEVEL_METHOD[schema.columns[j].kind])
        else:
            methods.append(default_method(col.kind, pred[j]))
    return methods


def make_method(df: Any, predictor_matrix: Any = None,
                kinds: Mapping[Hashable, str] | None = None) -> Any:
    """Default methods by kind: pmm (continuous and count), logreg (binary), polyreg
    (nominal), polr (ordinal); "" for complete columns.

    Rows of the predictor matrix with a cluster code (-2) get the kind's multilevel method:
    ``2l.pmm`` (continuous), ``2l.bin`` (binary), ``2l.polr`` (ordinal), ``2l.polyreg``
    (nominal) and ``2l.pois`` (count), except a *cluster-level* column, which gets
    ``2lonly.pmm`` (``2lonly.polyreg`` if nominal): one whose observed values are constant
    within every cluster of the row's cluster variable, with at least one cluster holding 2
    or more observed rows (so that constancy is seen, not just one value per cluster).
    ``jm.mice`` uses the same defaults for columns whose method is not given.

    Args:
        df: the incomplete data.
        predictor_matrix: its predictor matrix (default: every column predicts every other).
        kinds: per-column kind overrides, as ``jm.mice`` takes them (``{"n": "count"}``).

    Returns:
        Series[str] labelled by column.
    """
    values, observed, schema = frames_in.encode(df, kinds)
    pred = (np.ones((len(schema.names),) * 2, dtype=np.int64) if predictor_matrix is None
            else resolve_predictor_matrix(predictor_matrix, schema))
    methods = default_methods(values, observed, schema, pred, ~observed.all(axis=0))
    return frames_out.labelled_series(methods, schema.names)


def resolve_predictor_matrix(predictor_matrix: Any, schema: Schema) -> np.ndarray:
    """The user's predictor matrix (frame, array, or ``{row: {column: code}}``) as int[p, p].

    A partial dict overrides the default matrix's rows.

    Raises:
        ValueError: labels do not match the data, unknown codes, or a non-zero diagonal.
    """
    names = schema.names
    p = len(names)
    if predictor_matrix is None or isinstance(predictor_matrix, Mapping):
        pred = np.ones((p, p), dtype=np.int64) - np.eye(p, dtype=np.int64)
        for row, entries in dict(predictor_matrix or {}).items():
            if row not in names:
                raise ValueError(f"predictor_matrix names unknown row {row!r}; data columns "
                                 f"are {list(names)}")
            i = schema.position(row)
            if isinstance(entries, Mapping):
                for col, code in entries.items():
                    if col not in names:
                        raise ValueError(f"predictor_matrix row {row!r} names unknown column "
                                         f"{col!r}")
                    pred[i, schema.position(col)] = code
            else:
                pred[i] = np.asarray(entries, dtype=np.int64)
    else:
        frame = frames_in.as_frame(predictor_matrix, names, names, "predictor_matrix")
        pred = frame.to_numpy()
    if not np.issubdtype(np.asarray(pred).dtype, np.number):
        raise ValueError("predictor_matrix must hold integer codes")
    pred = np.asarray(pred)
    if np.any(pred != np.round(pred)):
        raise ValueError("predictor_matrix must hold integer codes")
    pred = pred.astype(np.int64)
    bad = ~np.isin(pred, CODES)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"predictor_matrix[{names[i]!r}, {names[j]!r}] = {pred[i, j]} is not a code; "
            f"allowed codes: {CODES}"
        )
    diag = np.flatnonzero(np.diag(pred) != 0)
    if len(diag):
        raise ValueError(f"predictor_matrix: column {names[diag[0]]!r} cannot predict itself "
                         "(diagonal must be 0)")
    return pred
