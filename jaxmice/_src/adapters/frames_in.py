"""Frames in: a user's data and arguments, from pandas to arrays and a schema.

A frame goes in as fixed-shape arrays (``values: f[n, p]``, ``observed: bool[n, p]``) plus a
:class:`~jaxmice._src.core.schema.Schema`, its cluster indexes built once and kept there.
Category columns are held as integer codes (``0 .. K-1``) in ``values``. Kinds are inferred as
:mod:`~jaxmice._src.adapters.policy` says (override any of them with ``kinds={"col":
"nominal"}``). The same policy gives model formulas their columns (:func:`formula_columns`,
:func:`array_columns`) and correlations their numbers (:func:`numeric_matrix`). Continuous
columns with values of extreme magnitude get a :class:`~jaxmice._src.core.checks.DataWarning`
naming the column and the rows. Method maps, predictor matrices, ``where`` masks and weights
given as frames or series are read here too. :mod:`.frames_out` is the way back.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import IO, Any, Literal

import numpy as np
import pandas as pd
from pandas.api.types import is_integer_dtype

from jaxmice._src.adapters.policy import encode_column, infer_column, own_numbers, r_label
from jaxmice._src.core.checks import DataWarning, extreme_message, extreme_rows
from jaxmice._src.core.clusters import ClusterIndex, build_cluster_index
from jaxmice._src.core.schema import Column, ColumnData, Schema


def _check_frame(df: Any) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if df.columns.is_unique:
        return
    dupes = df.columns[df.columns.duplicated()].unique().tolist()
    if dupes:
        raise ValueError(f"duplicate column names: {dupes}; column names must be unique")


def _check_not_empty(df: pd.DataFrame) -> None:
    """Refuse a frame without columns or without rows, naming its columns."""
    if df.shape[1] == 0:
        raise ValueError(f"the data have no columns ({len(df)} rows); jaxmice needs at least "
                         "one column to impute")
    if len(df) == 0:
        raise ValueError(f"the data have no rows: column(s) {list(df.columns)[:10]} are "
                         "empty; jaxmice needs at least one row")


def _warn_extreme(columns: Sequence[Column], values: np.ndarray, observed: np.ndarray,
                  index: pd.Index) -> None:
    """Warn, per continuous column, about values of extreme magnitude (see
    :func:`jaxmice._src.core.checks.extreme_rows`)."""
    for j, col in enumerate(columns):
        if col.levels is not None:
            continue
        rows = extreme_rows(values[:, j], observed[:, j])
        if rows.size:
            warnings.warn(extreme_message(col.name, list(index[rows]), values[rows, j]),
                          DataWarning, stacklevel=3)


def encode(
    df: pd.DataFrame, kinds: Mapping[Hashable, str] | None = None
) -> tuple[np.ndarray, np.ndarray, Schema]:
    """Turn a frame into arrays and a schema.

    Args:
        df: the incomplete data.
        kinds: optional per-column kind overrides.

    Returns:
        ``values: f[n, p]`` (missing cells hold 0), ``observed: bool[n, p]``, and the schema.

    Raises:
        ValueError: an empty frame, kinds for unknown columns, or a bad column (see
            :func:`~jaxmice._src.adapters.policy.infer_column`).
        TypeError: not a frame, or a column jaxmice cannot read.

    Warns:
        DataWarning: a numeric-looking column with a few text values, or a continuous
            column with values of extreme magnitude.
    """
    _check_frame(df)
    _check_not_empty(df)
    kinds = dict(kinds or {})
    unknown = [k for k in kinds if k not in df.columns]
    if unknown:
        raise ValueError(f"kinds given for unknown column(s) {unknown}")
    columns = tuple(infer_column(name, df[name], kinds.get(name)) for name in df.columns)
    values = np.empty((len(df), len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        values[:, j] = encode_column(col, df[col.name])
    observed = ~np.isnan(values)
    _warn_extreme(columns, values, observed, df.index)
    values[~observed] = 0.0
    return values, observed, Schema(columns=columns, index=df.index)


#: ``read_csv(categories={"name": FIRST_APPEARANCE})``: levels in order of first appearance.
FIRST_APPEARANCE = "first appearance"


def _categorical(s: pd.Series, levels: Sequence[str] | str | None) -> pd.Series:
    """``s`` as an unordered categorical of strings.

    Args:
        s: the column as read.
        levels: the levels in order; None for the sorted observed values;
            :data:`FIRST_APPEARANCE` for the observed values in order of first appearance.

    Raises:
        ValueError: ``s`` holds a (non-missing) value outside ``levels``, which would
            otherwise become a missing value silently.
    """
    observed = s.dropna().astype(str)
    if levels is None:
        levels = sorted(observed.unique())
    elif isinstance(levels, str) and levels == FIRST_APPEARANCE:
        levels = list(pd.unique(observed))
    else:
        unknown = set(observed.unique()) - set(levels)
        if unknown:
            raise ValueError(f"column {s.name!r}: values {sorted(unknown)} not in {list(levels)}")
    values = s.astype(object).where(s.notna(), None)
    values = values.map(lambda v: v if v is None else str(v))
    return pd.Series(pd.Categorical(values, categories=list(levels), ordered=False),
                     index=s.index, name=s.name)


def read_csv(file: IO[bytes], *, categories: Mapping[str, Sequence[str] | str | None] | None = None,
             integers: Sequence[str] = (), floats: Sequence[str] | Literal["rest"] = ()
             ) -> pd.DataFrame:
    """Read a CSV file as jaxmice's data sets are stored, with declared column types.

    Only the token ``NA`` marks a missing value (so a level ``"None"`` stays a string).

    Args:
        file: the open (binary) file.
        categories: columns read as text and made unordered categoricals, with their levels
            (None: the sorted observed values; :data:`FIRST_APPEARANCE`: in order of first
            appearance).
        integers: columns stored as int64, or as nullable Int64 where they have missing
            values.
        floats: columns stored as float64; ``"rest"`` for every column not named in
            ``categories`` or ``integers``.

    Returns:
        The frame; other integer columns are int64 on every platform, other columns as read.

    Raises:
        ValueError: a categorical column holds a value outside its levels.
    """
    categories = dict(categories or {})
    df = pd.read_csv(file, keep_default_na=False, na_values=["NA"],
                     dtype={name: str for name in categories})
    for name, levels in categories.items():
        df[name] = _categorical(df[name], levels)
    for name in integers:
        df[name] = df[name].astype("Int64" if df[name].isna().any() else "int64")
    if isinstance(floats, str) and floats == "rest":
        floats = [c for c in df.columns if c not in categories and c not in integers]
    for name in floats:
        df[name] = df[name].astype("float64")
    for name in df.columns:
        dtype = df[name].dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iu" and dtype != "int64":
            df[name] = df[name].astype("int64")
    return df


def cluster_index(values: np.ndarray, observed: np.ndarray, schema: Schema, name: Hashable
                  ) -> ClusterIndex:
    """Cluster structure from an encoded cluster column.

    Raises:
        ValueError: the cluster column has missing values.
    """
    known = schema.clusters.get(name)
    if known is not None:
        return known
    j = schema.position(name)
    if not observed[:, j].all():
        rows = list(schema.index[~observed[:, j]][:5])
        raise ValueError(
            f"cluster column {name!r} has {int((~observed[:, j]).sum())} missing value(s) "
            f"(rows {rows}); every row needs a cluster"
        )
    col = schema.columns[j]
    if col.levels is None:
        labels, codes = np.unique(values[:, j], return_inverse=True)
        # the labels as the user wrote them: the encoded values are floats, so an integer
        # column's clusters come back to ints (cluster 3, not 3.0, in messages and plots)
        labels = labels.tolist()
        labels = tuple(map(int, labels) if is_integer_dtype(col.dtype) else labels)
    else:
        codes = values[:, j].astype(np.int64)
        used = np.unique(codes)
        remap = np.full(col.n_levels, -1)
        remap[used] = np.arange(len(used))
        codes = remap[codes]
        labels = tuple(col.levels[k] for k in used)
    index = schema.clusters[name] = build_cluster_index(name, codes, labels)
    return index


def as_frame(obj: Any, index: Sequence, columns: Sequence, what: str) -> pd.DataFrame:
    """Coerce a user's matrix (frame, mapping of rows, or array) to a frame with given labels.

    Raises:
        ValueError: labels do not match, or the shape is wrong.
    """
    if isinstance(obj, pd.DataFrame):
        if list(obj.index) == list(index) and list(obj.columns) == list(columns):
            return obj  # already in the data's order (a batch checks it once a data set)
        bad_rows = [r for r in obj.index if r not in list(index)]
        bad_cols = [c for c in obj.columns if c not in list(columns)]
        if bad_rows or bad_cols:
            raise ValueError(
                f"{what} labels do not match the data: unknown row label(s) {bad_rows}, "
                f"unknown column label(s) {bad_cols}"
            )
        missing_rows = [r for r in index if r not in list(obj.index)]
        missing_cols = [c for c in columns if c not in list(obj.columns)]
        if missing_rows or missing_cols:
            raise ValueError(
                f"{what} lacks row(s) {missing_rows} and column(s) {missing_cols} of the data"
            )
        return obj.loc[list(index), list(columns)]
    arr = np.asarray(obj)
    if arr.shape != (len(index), len(columns)):
        raise ValueError(f"{what} has shape {arr.shape}, expected {(len(index), len(columns))}")
    return pd.DataFrame(arr, index=list(index), columns=list(columns))


def as_series(obj: Any, index: Sequence, what: str) -> pd.Series:
    """Coerce a user's vector (Series, list) to a Series labelled by ``index``."""
    if isinstance(obj, pd.Series):
        bad = [k for k in obj.index if k not in list(index)]
        if bad:
            raise ValueError(f"{what} has unknown label(s) {bad}; the data has {list(index)}")
        return obj.reindex(list(index))
    values = list(obj)
    if len(values) != len(index):
        raise ValueError(f"{what} has {len(values)} entries, expected {len(index)}")
    return pd.Series(values, index=list(index))


def is_frame_like(obj: Any) -> bool:
    """Whether ``obj`` is a pandas object (frame or series)."""
    return isinstance(obj, (pd.DataFrame, pd.Series))


def is_frame_sequence(obj: Any) -> bool:
    """Whether ``obj`` is a list or tuple of DataFrames (a batch of replications)."""
    return (isinstance(obj, (list, tuple)) and len(obj) > 0
            and all(isinstance(f, pd.DataFrame) for f in obj))


def is_table(obj: Any) -> bool:
    """Whether ``obj`` is a DataFrame (a table of named columns)."""
    return isinstance(obj, pd.DataFrame)


def table_columns(obj: Any, what: str) -> dict[str, np.ndarray]:
    """A DataFrame's columns as a dict of 1-D arrays (name -> values, in column order).

    Raises:
        TypeError: ``obj`` is not a DataFrame.
    """
    if not isinstance(obj, pd.DataFrame):
        raise TypeError(f"{what} must be a DataFrame, got {type(obj).__name__}")
    return {c: obj[c].to_numpy() for c in obj.columns}


def _check_known(name: Any, columns: list) -> None:
    """A clear error, with close matches, for a column the data lack."""
    import difflib

    if name not in columns:
        close = difflib.get_close_matches(str(name), [str(c) for c in columns], n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown column {name!r}{hint} (the data have "
                         f"{[str(c) for c in columns]})")


def _formula_column(col: Column, v: np.ndarray) -> Any:
    """One column as a formula sees it: its own numbers, or codes plus R level labels.

    Args:
        col: the column's schema entry.
        v: f[B, n] its encoded values (NaN for missing).

    Raises:
        ValueError: levels that print alike in R.
    """
    if col.numeric:  # a numeric column held as codes goes back to its numbers
        return ColumnData(values=own_numbers(col, v))
    labels = tuple(r_label(x) for x in col.levels)
    if len(set(labels)) != len(labels):
        raise ValueError(f"column {col.name!r} has levels {labels} that print alike")
    return ColumnData(values=v, levels=labels, ordered=bool(getattr(col.dtype, "ordered", False)))


def array_columns(values: np.ndarray, schema: Schema, names: Sequence[str]) -> dict[str, Any]:
    """Formula columns (as :func:`formula_columns`) straight from encoded data sets.

    Args:
        values: f[B, n, p] encoded values (category codes for categorical columns), e.g. the
            m completed data sets of an imputation, without building m frames.
        schema: their schema.
        names: the columns wanted.

    Returns:
        ``{name: ColumnData}`` with ``values: f[B, n]``: numbers for numeric dtypes (an int
        0/1 column stays numeric, as in R), codes plus R-style level labels for bool,
        categorical and string columns.
    """
    out: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        _check_known(name, list(schema.names))
        out[name] = _formula_column(schema[name], values[:, :, schema.position(name)])
    return out


def formula_columns(df: pd.DataFrame, names: Sequence[str]) -> dict[str, Any]:
    """The columns a model formula uses, as :class:`~jaxmice._src.analysis.model_frame.ColumnData`.

    Numbers (int, float, nullable Int/Float; an int 0/1 column stays numeric, as in R) give
    ``values: f[1, n]`` with NaN for missing; bool gives a factor with levels
    ``("FALSE", "TRUE")``; a Categorical gives a factor with its categories in order (and its
    ordered flag); strings and objects give a factor with sorted levels. Factor values are
    the codes 0..L-1 (NaN for missing); level labels are strings as R prints them. Columns
    are read by the same policy as :func:`encode`.

    Args:
        df: the data.
        names: column names, e.g. ``parse_formula(text).variables()``.

    Returns:
        ``{name: ColumnData}`` in the order of ``names``.

    Raises:
        ValueError: an unknown column (with close matches), infinite values, or a dtype that
            is neither numeric, bool, categorical nor string.
    """
    _check_frame(df)
    out: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        _check_known(name, list(df.columns))
        s = df[name]
        n_inf = (int(np.isinf(s.to_numpy(dtype=np.float64, na_value=np.nan)).sum())
                 if pd.api.types.is_float_dtype(s.dtype) else 0)
        if n_inf:
            raise ValueError(f"column {name!r} has {n_inf} infinite value(s); replace them "
                             "by NaN (missing) or a number")
        try:
            col = infer_column(name, s)
        except TypeError as error:
            if "has dtype" not in str(error):
                raise
            raise ValueError(f"column {name!r} has dtype {s.dtype}, which a model formula "
                             "cannot use; convert it to a number, a category or a "
                             "string") from error
        out[name] = _formula_column(col, encode_column(col, s)[None, :])
    return out


def encode_like(df: pd.DataFrame, schema: Schema, what: str) -> np.ndarray:
    """A frame's values ``f[n, p]`` encoded with another frame's schema (same columns, rows
    and levels), e.g. starting values for the imputed cells.

    Raises:
        ValueError: different columns or number of rows, or a value outside a column's levels.
    """
    _check_frame(df)
    if list(df.columns) != list(schema.names) or len(df) != schema.n_rows:
        raise ValueError(f"{what} must have the data's columns {list(schema.names)} and "
                         f"{schema.n_rows} rows; it has {list(df.columns)} and {len(df)} rows")
    out = np.empty((len(df), len(schema.columns)))
    for j, col in enumerate(schema.columns):
        s = df[col.name]
        out[:, j] = encode_column(col, s)
        unknown = s.notna().to_numpy() & np.isnan(out[:, j])
        if unknown.any():
            raise ValueError(f"{what}: column {col.name!r} holds {s[unknown].iloc[0]!r}, which "
                             f"is not one of its levels {list(col.levels or ())[:5]}")
    return out


def missingness(df: pd.DataFrame) -> tuple[tuple, np.ndarray]:
    """A frame's column labels and its observed cells ``bool[n, p]``, whatever the dtypes."""
    _check_frame(df)
    return tuple(df.columns), df.notna().to_numpy(dtype=bool)


def group_codes(df: pd.DataFrame, name: Hashable) -> tuple[np.ndarray, tuple]:
    """Each row's group code ``i[n]`` (``0 .. G-1``, groups in sorted order) and the labels.

    Raises:
        ValueError: an unknown column, or missing values in it.
    """
    _check_frame(df)
    _check_known(name, list(df.columns))
    s = df[name]
    if s.isna().any():
        raise ValueError(f"cluster column {name!r} has {int(s.isna().sum())} missing value(s); "
                         "every row needs a cluster")
    try:
        codes, labels = pd.factorize(s, sort=True)
    except TypeError:  # labels that do not order: order of appearance
        codes, labels = pd.factorize(s)
    return np.asarray(codes, dtype=np.int64), tuple(labels.tolist())


def numeric_matrix(df: pd.DataFrame) -> tuple[tuple, np.ndarray, np.ndarray]:
    """Every column as numbers, e.g. for correlations.

    Returns:
        Column labels, ``values: f[n, p]`` (NaN for missing; category codes 0..K-1 for
        categorical, bool and string columns), and ``coded: bool[p]``, True where a column's
        values are such codes rather than its own numbers.
    """
    values, observed, schema = encode(df)
    values = np.where(observed, values, np.nan)
    coded = np.array([not col.numeric for col in schema.columns], dtype=bool)
    for j, col in enumerate(schema.columns):
        if col.numeric:
            values[:, j] = own_numbers(col, values[:, j])
    return schema.names, values, coded


def matrix_parts(obj: Any, what: str) -> tuple[np.ndarray, list, list]:
    """A labelled matrix (frame) or a 2-D array as ``(values, row labels, column labels)``;
    an array's labels are its positions."""
    if isinstance(obj, pd.DataFrame):
        return obj.to_numpy(), list(obj.index), list(obj.columns)
    arr = np.asarray(obj)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a DataFrame or a 2-D array, got shape {arr.shape}")
    return arr, list(range(arr.shape[0])), list(range(arr.shape[1]))


def vector_values(obj: Any, index: Sequence, what: str, fill: Any = "") -> list:
    """A Series, mapping or list as a plain list aligned to ``index`` (``fill`` for gaps)."""
    if isinstance(obj, Mapping):
        unknown = [k for k in obj if k not in list(index)]
        if unknown:
            raise ValueError(f"{what} has unknown label(s) {unknown}; expected {list(index)}")
        return [obj.get(k, fill) for k in index]
    return as_series(obj, index, what).fillna(fill).tolist()


def complete_frame(df: Any, what: str) -> tuple[tuple, tuple]:
    """A frame that must be complete: its column labels and row index.

    Raises:
        TypeError: not a DataFrame.  ValueError: duplicate names, no rows or columns, or a
        column with missing values (named, for ``what``).
    """
    _check_frame(df)
    _check_not_empty(df)
    na = df.isna().sum()
    bad = [(c, int(k)) for c, k in na.items() if k > 0]
    if bad:
        c, k = bad[0]
        raise ValueError(f"{what} needs complete data: column {c!r} has {k} missing value(s)"
                         + (f" (and {len(bad) - 1} more column(s))" if len(bad) > 1 else ""))
    return tuple(df.columns), tuple(df.index)


def number_column(df: pd.DataFrame, name: Hashable) -> np.ndarray | None:
    """A column as ``f[n]`` float64 when it holds numbers or booleans, else None."""
    s = df[name]
    if not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)):
        return None
    return s.to_numpy(dtype=np.float64)


def matrix_by_columns(obj: Any, columns: Sequence, what: str) -> np.ndarray:
    """A user's matrix (frame, array, list of lists) as ``f[k, len(columns)]``; a frame's
    columns are put in ``columns``' order.

    Raises:
        ValueError: unknown or missing column labels, or not 2-D.
    """
    if isinstance(obj, pd.DataFrame):
        unknown = [c for c in obj.columns if c not in list(columns)]
        lacking = [c for c in columns if c not in list(obj.columns)]
        if unknown or lacking:
            raise ValueError(f"{what} columns do not match the data: unknown {unknown}, "
                             f"lacking {lacking}")
        obj = obj[list(columns)].to_numpy()
    try:
        arr = np.asarray(obj, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be a numeric matrix: {e}") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a matrix (rows x columns), got {arr.ndim} dimensions")
    return arr
