"""The one dtype-inference policy: what a pandas column is to jaxmice.

Every path from a frame to arrays (``encode`` for imputation, ``formula_columns`` for model
formulas, ``numeric_matrix`` for correlations) reads a column through :func:`infer_column` and
:func:`encode_column`, so a column has the same kind, levels and codes everywhere.

Kinds are inferred as follows (override any of them with ``kinds={"col": "nominal"}``):

- bool / nullable boolean: ``binary``;
- unordered categorical, string or object: ``nominal`` (``binary`` when it has two levels);
- ordered categorical: ``ordinal`` (``binary`` when it has two levels);
- integer columns whose observed values are all 0 or 1: ``binary`` (levels 0, 1);
- any other number: ``continuous``.

Counts are never inferred (an integer column may be a score or an identifier): declare them,
``kinds={"n": "count"}``; their observed values must be non-negative whole numbers.

A column's :attr:`~jaxmice._src.core.schema.Column.numeric` flag says whether its values are the
user's own numbers (a numeric dtype other than bool); a formula uses them as numbers even where the
column is imputed as categories (an int 0/1 column), as R does.

Bad columns are refused here, naming the column: infinite numbers, dtypes that are neither
numbers, bools, categories nor strings (dates, durations, complex numbers), and object columns
holding values that cannot be categories (lists, dicts). An object or string column that is
mostly numbers with a few text values (one ``"ten"`` among numbers) is imputed as categorical,
after a :class:`~jaxmice._src.core.checks.DataWarning` that names the text values.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_complex_dtype,
    is_integer_dtype,
    is_numeric_dtype,
    is_object_dtype,
    is_string_dtype,
)

from jaxmice._src.core.checks import DataWarning
from jaxmice._src.core.schema import KINDS, Column

#: Values an object column may hold (besides missing ones): they make categories.
_READABLE = (str, bool, np.bool_, int, np.integer, float, np.floating)
#: At most this many of the text values are named in the warning about a numeric-looking column.
_SHOWN = 5


def sorted_levels(values: np.ndarray) -> tuple:
    """Distinct values, sorted where they order, else in order of appearance."""
    try:
        return tuple(sorted(pd.unique(values)))
    except TypeError:  # mixed types that do not order: keep order of appearance
        return tuple(pd.unique(values))


def is_textual(dtype: Any) -> bool:
    """Whether a dtype is object or string (its values become categories)."""
    return is_object_dtype(dtype) or is_string_dtype(dtype)


def _is_number(value: Any) -> bool:
    """Whether one observed object value is a finite number, or a string that reads as one."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer, float, np.floating)):
        return bool(np.isfinite(value))
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def check_object_values(name: Hashable, s: pd.Series, observed: np.ndarray) -> None:
    """Refuse object values that cannot be categories; warn about text among numbers.

    Args:
        name: the column label (for messages).
        s: the column (object or string dtype).
        observed: bool[n] its non-missing cells.

    Raises:
        TypeError: a value is neither a string, a bool nor a number (e.g. a list or a dict).

    Warns:
        DataWarning: most observed values are numbers and a few are text.
    """
    obs = s[observed]
    readable = np.fromiter((isinstance(v, _READABLE) for v in obs), bool, len(obs))
    if not readable.all():
        first = obs[~readable]
        raise TypeError(
            f"column {name!r} holds {type(first.iloc[0]).__name__} values (e.g. row "
            f"{first.index[0]!r}), which jaxmice cannot read; an object column may hold "
            "strings, bools and numbers only"
        )
    number = np.fromiter((_is_number(v) for v in obs), bool, len(obs))
    n_text = int((~number).sum())
    if 0 < n_text < int(number.sum()):
        text = obs[~number]
        shown = list(pd.unique(text.to_numpy()))[:_SHOWN]
        warnings.warn(
            f"column {name!r} looks numeric but holds the text value(s) {shown} in {n_text} "
            f"row(s) (e.g. {list(text.index[:_SHOWN])}); it is treated as categorical, one "
            "category per distinct value. Replace the text by numbers (or by NaN where it "
            "means missing) to impute the column as numbers",
            DataWarning, stacklevel=5,
        )


def _numeric_values(name: Hashable, s: pd.Series) -> np.ndarray:
    """A numeric column as f[n] (NaN for missing), refusing infinite values."""
    vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(vals) | np.isnan(vals)
    if not finite.all():
        raise ValueError(
            f"column {name!r} has non-finite values (inf) in row(s) "
            f"{list(s.index[~finite][:5])}; replace them by NaN (missing) or a number"
        )
    return vals


def _natural_levels(name: Hashable, s: pd.Series, kind: str | None, observed: np.ndarray
                    ) -> tuple[tuple | None, str, Any]:
    """(levels, natural kind, missing-cell value) of one column before any override."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return tuple(dtype.categories), "ordinal" if dtype.ordered else "nominal", None
    if is_bool_dtype(dtype):
        return (False, True), "binary", None
    if is_numeric_dtype(dtype) and not is_complex_dtype(dtype):
        obs = _numeric_values(name, s)[observed]
        if kind in ("continuous", "count"):  # e.g. an int 0/1 column asked to be either
            return None, "continuous", None
        if is_integer_dtype(dtype) and np.isin(obs, (0.0, 1.0)).all():
            return (0, 1), "binary", None
        if kind in ("binary", "nominal", "ordinal"):
            levels = tuple(np.unique(obs).tolist())
            if is_integer_dtype(dtype):
                levels = tuple(int(v) for v in levels)
            return levels, "continuous", None
        return None, "continuous", None
    if is_textual(dtype):
        check_object_values(name, s, observed)
        obs = s[observed].to_numpy()
        if len(obs) and all(isinstance(v, (bool, np.bool_)) for v in obs):
            levels = (False, True)
        else:
            levels = sorted_levels(obs)
        missing = s[~observed]
        return levels, "nominal", missing.iloc[0] if len(missing) else None
    raise TypeError(
        f"column {name!r} has dtype {dtype}, which jaxmice cannot impute; convert it to a "
        "number, a category or a string first"
    )


def check_counts(name: Hashable, s: pd.Series, natural: str, observed: np.ndarray) -> None:
    """Refuse a column declared ``count`` unless its observed values are numbers that are
    non-negative whole numbers, naming the column and the first offending rows.

    Raises:
        TypeError: the column is not numeric; ValueError: a negative or fractional value.
    """
    if natural != "continuous":
        raise TypeError(f"column {name!r} is declared a count but holds categories; a count "
                        "column must hold non-negative whole numbers")
    values = _numeric_values(name, s)
    bad = observed & ((values < 0) | (values != np.round(values)))
    if bad.any():
        raise ValueError(
            f"column {name!r} is declared a count but holds {values[bad][:5].tolist()} in row(s) "
            f"{list(s.index[bad][:5])}; a count must be a non-negative whole number")


def infer_column(name: Hashable, s: pd.Series, kind: str | None = None) -> Column:
    """Kind, levels and dtype of one column: the policy.

    Args:
        name: the column label.
        s: the column.
        kind: an override (one of ``KINDS``), or None to infer it.

    Returns:
        The :class:`~jaxmice._src.core.schema.Column`.

    Raises:
        ValueError: infinite values, an unknown kind, or too many levels for binary.
        TypeError: an unsupported dtype, unreadable object values, or categories asked to be
            continuous.
    """
    dtype = s.dtype
    if kind is None and isinstance(dtype, np.dtype) and dtype.kind == "f":
        _numeric_values(name, s)  # a plain float column is continuous; inf is refused
        return Column(name=name, kind="continuous", levels=None, dtype=dtype, na_value=None,
                      numeric=True)
    observed = s.notna().to_numpy()
    levels, natural, na_value = _natural_levels(name, s, kind, observed)
    if kind is None:
        kind = natural
        if kind in ("nominal", "ordinal") and len(levels) == 2:
            kind = "binary"
    if kind not in KINDS:
        raise ValueError(f"column {name!r}: unknown kind {kind!r}; choose one of {KINDS}")
    if kind == "continuous" and natural != "continuous" and not (natural == "binary"
                                                               and levels == (0, 1)):
        raise TypeError(
            f"column {name!r} holds categories {list(levels)[:5]}; it cannot be continuous"
        )
    if kind == "count":
        check_counts(name, s, natural, observed)
    if kind == "binary" and len(levels) > 2:
        raise ValueError(
            f"column {name!r} has {len(levels)} levels {list(levels)[:5]}; binary needs at most 2"
        )
    if kind in ("continuous", "count"):
        levels = None
    numeric = not (isinstance(dtype, pd.CategoricalDtype) or is_bool_dtype(dtype)
                   or not is_numeric_dtype(dtype))
    return Column(name=name, kind=kind, levels=levels, dtype=dtype, na_value=na_value,
                  numeric=numeric)


def encode_column(col: Column, s: pd.Series) -> np.ndarray:
    """Values of one column as f[n] (category codes for categorical kinds, NaN if missing)."""
    if col.levels is None:
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    if isinstance(s.dtype, pd.CategoricalDtype) and tuple(s.dtype.categories) == col.levels:
        codes = s.cat.codes.to_numpy().astype(np.float64)
        codes[codes < 0] = np.nan
        return codes
    codes = pd.Categorical(s.astype(object), categories=list(col.levels)).codes
    out = codes.astype(np.float64)  # vectorised: no Python loop over rows
    out[codes < 0] = np.nan
    return out


def own_numbers(col: Column, v: np.ndarray) -> np.ndarray:
    """A numeric column's own numbers from its encoded values (codes back to their levels).

    Args:
        col: a column whose ``numeric`` flag is set.
        v: f[...] encoded values, NaN for missing.

    Returns:
        f[...] the numbers.
    """
    if col.levels is None:
        return v
    numbers = np.asarray(col.levels, dtype=np.float64)
    return np.where(np.isnan(v), np.nan, numbers[np.nan_to_num(v).astype(int)])


def r_label(value: Any) -> str:
    """A level as R prints it: TRUE, 3 (not 3.0), 2.5, a."""
    from jaxmice._src.core.expressions import format_number

    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return format_number(float(value))
    return str(value)
