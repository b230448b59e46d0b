"""Model frames: the response, the fixed-effect design and the random-effect designs of a
parsed :class:`~jaxmice._src.analysis.formula.Formula`, for a batch of same-shaped data sets.

Follows R's ``model.frame`` + ``model.matrix`` and lme4's ``lFormula``:

- rows with a missing value in any variable the model uses, in any batch member, are dropped
  (``na.omit``); a grouping factor may not be missing;
- factors get treatment contrasts (first level the reference, ordered factors too), or all
  their levels where R's rule says so (a factor F in term T is coded by contrasts when
  T without F is the intercept of a model that has one, or is contained in an earlier term;
  otherwise by one indicator per level); column names as R's (``fB``, ``x:fB``, ``fB:gB``,
  the first factor of an interaction varying fastest);
- ``scale(x)`` centres and scales each batch member by its own mean and sd (n - 1) over the
  rows where ``x`` is observed, before rows are dropped (as R evaluates it);
- fixed-effect columns that are linear combinations of earlier ones (in any batch member) are
  dropped with lme4's warning.

Factor columns come in as codes ``0 .. L-1`` with their levels shared across the batch
(:class:`ColumnData`); :func:`jaxmice._src.adapters.frames_in.formula_columns` builds them from a
frame. Only numpy is used.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from jaxmice._src.analysis.formula import Formula, RandomTerm, Term, TermList
from jaxmice._src.core import evaluate as expressions
from jaxmice._src.core.expressions import TRANSFORMS, Expr, format_number
from jaxmice._src.core.schema import ColumnData

__all__ = [
    "ColumnData",
    "RandomDesign",
    "ModelFrame",
    "ModelFrameError",
    "RANK_TOLERANCE",
    "model_frame",
]

RANK_TOLERANCE = 1e-7
"""Relative tolerance below which a fixed-effect column counts as a combination of earlier
ones (lme4's ``check.rankX`` uses ``qr(X, tol = 1e-7)``)."""


class ModelFrameError(ValueError):
    """The data do not fit the formula (unknown column, missing grouping factor, ...)."""


@dataclass(frozen=True, eq=False)
class RandomDesign:
    """The design of one random-effect term.

    Attributes:
        group: lme4's label for the grouping factor, e.g. ``school``, ``g2:g1``.
        codes: i[n_kept] group of each kept row, 0..L-1, over the levels present.
        levels: labels of those L levels, in R's ``factor()`` order (``a:1`` for g1:g2).
        z: f[B, n_kept, q] the term's design columns (one row per observation).
        names: their q names as lme4 shows them: ``(Intercept)``, ``x``, ``fB``.
    """

    group: str
    codes: np.ndarray
    levels: tuple[str, ...]
    z: np.ndarray
    names: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class ModelFrame:
    """Everything a mixed-model fit needs from the data, for a batch of B data sets.

    Attributes:
        y: f[B, n_kept] response (factor codes when the response is a factor).
        x: f[B, n_kept, p] fixed-effect design, rank-deficient columns removed.
        fixed_names: the p column names.
        random: one design per random term, in the formula's (expanded) order.
        rows: bool[n] rows kept (complete in every variable used, in every batch member).
        response: label of the response, e.g. ``y``, ``log(y)``.
        response_levels: levels of a factor response, else None.
        dropped: fixed-effect columns dropped for rank deficiency.
    """

    y: np.ndarray
    x: np.ndarray
    fixed_names: tuple[str, ...]
    random: tuple[RandomDesign, ...]
    rows: np.ndarray
    response: str
    response_levels: tuple[str, ...] | None
    dropped: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class _Value:
    """An evaluated model variable: f[B, n] numbers or factor codes (levels not None)."""

    values: np.ndarray
    levels: tuple[str, ...] | None = None


# --------------------------------------------------------------------------------------------
# Columns


def _batch_values(name: str, col: ColumnData) -> np.ndarray:
    """A column's values as f[B, n]."""
    values = np.asarray(col.values, dtype=np.float64)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2:
        raise ModelFrameError(f"column {name!r} has values of shape {values.shape}; "
                              "expected (B, n)")
    if np.isinf(values).any():
        raise ModelFrameError(f"column {name!r} has infinite values; use NaN for missing")
    if col.levels is not None:
        codes = values[~np.isnan(values)]
        if ((codes < 0) | (codes >= len(col.levels)) | (codes != np.round(codes))).any():
            raise ModelFrameError(f"factor column {name!r} has codes outside "
                                  f"0..{len(col.levels) - 1}")
    return values


def _check_columns(names: tuple[str, ...], columns: Mapping[str, ColumnData]
                   ) -> tuple[dict[str, np.ndarray], int, int]:
    """Values f[B_i, n] of the named columns, the batch size B and the number of rows n."""
    for name in names:
        if name not in columns:
            close = difflib.get_close_matches(name, [str(c) for c in columns], n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ModelFrameError(f"unknown column {name!r} in the formula{hint} "
                                  f"(the data have {sorted(map(str, columns))})")
    values = {name: _batch_values(name, columns[name]) for name in names}
    batch = max((v.shape[0] for v in values.values()), default=1)
    sizes = {v.shape[1] for v in values.values()}
    if len(sizes) > 1:
        raise ModelFrameError(f"columns have different numbers of rows: "
                              f"{ {k: v.shape[1] for k, v in values.items()} }")
    for name, v in values.items():
        if v.shape[0] not in (1, batch):
            raise ModelFrameError(f"column {name!r} has a batch of {v.shape[0]} data sets, "
                                  f"others {batch}")
    return values, batch, sizes.pop() if sizes else 0


# --------------------------------------------------------------------------------------------
# Evaluating model variables


def _numeric(value: _Value | np.ndarray, label: str, expr: Expr) -> np.ndarray:
    """The numbers of an operand of arithmetic or a transform (a factor is an error)."""
    if not isinstance(value, _Value):
        return value
    if value.levels is not None:
        raise ModelFrameError(f"term {label!r} applies arithmetic or a transform to factor "
                              f"{expr.label!r}; transforms need a numeric column")
    return value.values


def _scale(v: np.ndarray, label: str) -> np.ndarray:
    """Centre and scale each batch member over its observed values (R's scale(), sd n-1)."""
    observed = ~np.isnan(v)
    count = observed.sum(axis=-1, keepdims=True)
    mean = np.nansum(v, axis=-1, keepdims=True) / np.maximum(count, 1)
    ss = np.nansum((v - mean) ** 2, axis=-1, keepdims=True)
    sd = np.sqrt(ss / np.maximum(count - 1, 1))
    if (sd == 0).any():
        raise ModelFrameError(f"term {label!r}: the column is constant, it cannot be scaled")
    return (v - mean) / sd


def _apply(fn: str, v: np.ndarray, label: str) -> np.ndarray:
    observed = v[~np.isnan(v)]
    if fn in ("log", "log10") and (observed <= 0).any():
        raise ModelFrameError(f"term {label!r}: {int((observed <= 0).sum())} value(s) are "
                              f"not positive, so {fn}() is undefined")
    if fn == "sqrt" and (observed < 0).any():
        raise ModelFrameError(f"term {label!r}: {int((observed < 0).sum())} value(s) are "
                              "negative, so sqrt() is undefined")
    if fn == "scale":
        return _scale(v, label)
    return expressions.NUMPY.functions[fn](v)


def _finite(out: np.ndarray, inputs_missing: np.ndarray, label: str) -> np.ndarray:
    """``out``, checked to be finite wherever its inputs are observed."""
    bad = ~np.isfinite(out) & ~inputs_missing
    if bad.any():
        raise ModelFrameError(f"term {label!r} is not finite (division by zero, overflow or "
                              f"a power of a negative number) in {int(bad.any(axis=0).sum())} "
                              "row(s)")
    return out


def _checked_backend(label: str) -> expressions.Backend:
    """numpy operations that check their domain and that their results are finite; errors
    name the model variable ``label``."""
    def transform(fn: str) -> Callable[[np.ndarray], np.ndarray]:
        return lambda v: _finite(_apply(fn, v, label), np.isnan(v), label)

    def operator(op: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        operation = expressions.NUMPY.binary[op]
        return lambda a, b: _finite(operation(a, b), np.isnan(a) | np.isnan(b), label)

    functions = {"I": expressions.NUMPY.functions["I"]}
    functions.update({fn: transform(fn) for fn in TRANSFORMS})
    return expressions.Backend(
        binary={op: operator(op) for op in expressions.NUMPY.binary}, functions=functions,
        negate=expressions.NUMPY.negate)


def _evaluate(expr: Expr, data: dict[str, _Value], label: str) -> _Value:
    """Evaluate one model variable over the batch; ``label`` names it in errors."""
    n = next(iter(data.values())).values.shape[-1]
    with np.errstate(all="ignore"):
        out = expressions.evaluate(
            expr, data.__getitem__, _checked_backend(label),
            number=lambda value: np.full((1, n), value),
            operand=lambda node, value: _numeric(value, label, node))
    return out if isinstance(out, _Value) else _Value(out)


def _model_variables(formula: Formula) -> tuple[Expr, ...]:
    """Every variable (column, transform, I()) of the response, fixed and random parts."""
    exprs: dict[Expr, None] = {formula.response: None}
    for tl in (formula.fixed, *(r.terms for r in formula.random)):
        for term in tl.terms:
            exprs.update(dict.fromkeys(term.factors))
    return tuple(exprs)


# --------------------------------------------------------------------------------------------
# Design matrices (R's model.matrix)


def _codings(terms: TermList, values: Mapping[Expr, _Value]) -> list[tuple[bool, ...]]:
    """Per term, per factor: True = treatment contrasts, False = one column per level.

    R's TermCode: a factor is coded by contrasts when the term without it is empty or is
    contained in an earlier term; without an intercept the first factor of the first term
    holding one gets all its levels.
    """
    sets = [frozenset(t.factors) for t in terms.terms]
    codings = [[(not (sets[j] - {f})) or any((sets[j] - {f}) <= earlier for earlier in sets[:j])
                for f in t.factors] for j, t in enumerate(terms.terms)]
    if not terms.intercept:
        for j, term in enumerate(terms.terms):
            first = next((k for k, f in enumerate(term.factors)
                          if values[f].levels is not None and len(values[f].levels) > 1), None)
            if first is not None:
                codings[j][first] = False
                break
    return [tuple(c) for c in codings]


def _factor_columns(expr: Expr, value: _Value, contrasts: bool) -> list[tuple[str, np.ndarray]]:
    """Named columns f[B, n] of one variable in one term."""
    if value.levels is None:
        return [(expr.label, value.values)]
    levels = value.levels
    if contrasts and len(levels) < 2:
        raise ModelFrameError(f"factor {expr.label!r} has a single level {levels[0]!r} in the "
                              "rows used; contrasts need at least 2 levels")
    first = 1 if contrasts else 0
    return [(expr.label + level, (value.values == k).astype(np.float64))
            for k, level in enumerate(levels) if k >= first]


def _term_columns(term: Term, coding: tuple[bool, ...], values: Mapping[Expr, _Value]
                  ) -> list[tuple[str, np.ndarray]]:
    """Columns of one term: the product of its factors' columns, the first varying fastest."""
    cols: list[tuple[str, np.ndarray]] = [("", np.ones((1, 1)))]
    for factor, contrasts in zip(term.factors, coding, strict=True):
        cols = [(f"{name}:{new}" if name else new, prev * col)
                for new, col in _factor_columns(factor, values[factor], contrasts)
                for name, prev in cols]
    return cols


def _design(terms: TermList, values: Mapping[Expr, _Value], batch: int, n: int
            ) -> tuple[np.ndarray, tuple[str, ...]]:
    """The model matrix f[B, n, p] of a term list and its column names."""
    cols: list[tuple[str, np.ndarray]] = []
    if terms.intercept:
        cols.append(("(Intercept)", np.ones((1, 1))))
    for term, coding in zip(terms.terms, _codings(terms, values), strict=True):
        cols.extend(_term_columns(term, coding, values))
    matrix = np.empty((batch, n, len(cols)))
    for j, (_, col) in enumerate(cols):
        matrix[:, :, j] = col
    return matrix, tuple(name for name, _ in cols)


def _deficient(x: np.ndarray, tol: float = RANK_TOLERANCE) -> np.ndarray:
    """bool[p]: columns that are linear combinations of earlier kept ones in any batch member.

    Sequential Gram-Schmidt (twice, for stability) with the test of LINPACK's dqrdc2, which
    lme4's rank check uses: a column is deficient when what is left of it after removing
    the kept columns has norm below ``tol`` times its own norm.
    """
    batch, n, p = x.shape
    norm = np.linalg.norm(x, axis=1)
    if n >= p and (norm > 0).all():
        # the usual full-rank design at once: |R_jj| of a QR is what is left of column j
        # after the earlier ones; well clear of the tolerance, nothing is dropped
        diag = np.abs(np.diagonal(np.linalg.qr(x, mode="r"), axis1=1, axis2=2))
        if (diag > 100 * tol * norm).all():
            return np.zeros(p, dtype=bool)
    basis = np.zeros((batch, n, 0))
    drop = np.zeros(p, dtype=bool)
    for j in range(p):
        v = x[:, :, j]
        norm = np.linalg.norm(v, axis=1)
        r = v
        for _ in range(2):
            r = r - np.einsum("bnk,bk->bn", basis, np.einsum("bnk,bn->bk", basis, r))
        rest = np.linalg.norm(r, axis=1)
        if ((norm == 0) | (rest < tol * norm)).any():
            drop[j] = True
        else:
            basis = np.concatenate([basis, (r / rest[:, None])[:, :, None]], axis=2)
    return drop


# --------------------------------------------------------------------------------------------
# Grouping factors


def _group_levels(name: str, col: ColumnData, v: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes i[n] and labels of one grouping column (numbers become sorted levels)."""
    if np.any(v != v[:1]):
        raise ModelFrameError(f"grouping factor {name!r} differs between the data sets of the "
                              "batch; it must be the same in all of them")
    v = v[0]
    if col.levels is not None:
        return v.astype(np.int64), col.levels
    uniq, codes = np.unique(v, return_inverse=True)
    return codes.astype(np.int64), tuple(format_number(u) for u in uniq)


def _random_design(term: RandomTerm, columns: Mapping[str, ColumnData],
                   raw: Mapping[str, np.ndarray], values: Mapping[Expr, _Value], batch: int,
                   n: int) -> RandomDesign:
    """Grouping codes (interaction of the group columns, present combinations) and z."""
    key = np.zeros(n, dtype=np.int64)
    parts = []
    for name in term.group:
        codes, labels = _group_levels(name, columns[name], raw[name])
        key = key * len(labels) + codes  # first column varies slowest, as R's ':'
        parts.append((codes, labels))
    present, codes = np.unique(key, return_inverse=True)
    labels = []
    for k in present:
        pieces = []
        for _, lev in reversed(parts):
            pieces.append(lev[k % len(lev)])
            k //= len(lev)
        labels.append(":".join(reversed(pieces)))
    z, names = _design(term.terms, values, batch, n)
    return RandomDesign(group=term.group_label, codes=codes.astype(np.int64),
                        levels=tuple(labels), z=z, names=names)


# --------------------------------------------------------------------------------------------


def _check_missing(formula: Formula, raw: Mapping[str, np.ndarray]) -> None:
    """Grouping factors may not be missing; no column may be entirely missing."""
    for term in formula.random:
        for name in term.group:
            count = int(np.isnan(raw[name]).any(axis=0).sum())
            if count:
                raise ModelFrameError(
                    f"grouping factor {name!r} has {count} missing value(s); every row needs "
                    "a group: impute it or drop those rows first")
    for name in formula.variables():
        empty = np.isnan(raw[name]).all(axis=-1)
        if raw[name].shape[-1] and empty.any():
            which = "" if empty.all() else f" in data set(s) {np.flatnonzero(empty).tolist()}"
            raise ModelFrameError(f"column {name!r} is entirely missing{which}")


def _drop_unused(value: _Value) -> _Value:
    """A factor with only the levels present (in any batch member)."""
    if value.levels is None:
        return value
    used = np.unique(value.values).astype(np.int64)
    remap = np.full(len(value.levels), np.nan)
    remap[used] = np.arange(len(used))
    return _Value(remap[value.values.astype(np.int64)], tuple(value.levels[k] for k in used))


def model_frame(formula: Formula, columns: Mapping[str, ColumnData], *,
                drop_unused_levels: bool = False) -> ModelFrame:
    """Build the response and the fixed and random designs of a formula.

    Args:
        formula: from :func:`~jaxmice.models.parse_formula`.
        columns: every column the formula uses (``formula.variables()``), values f[B, n]
            or f[1, n].
        drop_unused_levels: drop factor levels that no kept row has, as lme4's ``lFormula``
            does; by default they stay, as in ``stats::model.matrix``, giving all-zero columns
            (dropped as rank deficient in the fixed part).

    Returns:
        The model frame.

    Raises:
        ModelFrameError: an unknown column, a missing grouping factor, an entirely missing
            column, no complete rows, a transform of a factor or out of its domain.
    """
    raw, batch, n = _check_columns(formula.variables(), columns)
    _check_missing(formula, raw)
    data = {name: _Value(v, columns[name].levels) for name, v in raw.items()}
    values = {e: _evaluate(e, data, e.label) for e in _model_variables(formula)}
    rows = np.ones(n, dtype=bool)
    for v in values.values():
        rows &= ~np.isnan(v.values).any(axis=0)
    if not rows.any():
        raise ModelFrameError(
            "no rows left: every row has a missing value in one of "
            f"{list(formula.variables())}")
    n_kept = int(rows.sum())
    kept = {e: _Value(v.values[:, rows], v.levels) for e, v in values.items()}
    if drop_unused_levels:
        kept = {e: _drop_unused(v) for e, v in kept.items()}
    x, names = _design(formula.fixed, kept, batch, n_kept)
    drop = _deficient(x)
    if drop.any():
        dropped = tuple(np.asarray(names, dtype=object)[drop])
        k = int(drop.sum())
        what = "column / coefficient" if k == 1 else "columns / coefficients"
        warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {k} {what}: "
                      f"{', '.join(dropped)}", stacklevel=2)
        x = x[:, :, ~drop]
        names = tuple(np.asarray(names, dtype=object)[~drop])
    else:
        dropped = ()
    raw_kept = {name: v[:, rows] for name, v in raw.items()}
    random = tuple(_random_design(t, columns, raw_kept, kept, batch, n_kept)
                   for t in formula.random)
    response = kept[formula.response]
    y = np.broadcast_to(response.values, (batch, n_kept)).copy()
    return ModelFrame(y=y, x=x, fixed_names=tuple(names), random=random, rows=rows,
                      response=formula.response.label, response_levels=response.levels,
                      dropped=dropped)
