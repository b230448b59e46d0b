"""Frames out: arrays and records back to pandas, with the user's dtypes, categories and
index (completed data, the long layout, tables and labelled matrices)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_integer_dtype

from jaxmice._src.core.schema import Column, Schema


def _decode_column(col: Column, v: np.ndarray, present: np.ndarray) -> pd.Series | pd.Categorical:
    if col.levels is None:
        if is_integer_dtype(col.dtype):
            integral = np.all(v[present] == np.round(v[present]))
            if integral and present.all() and isinstance(col.dtype, np.dtype):
                return np.round(v).astype(col.dtype)
            if integral:
                nullable = col.dtype if not isinstance(col.dtype, np.dtype) else pd.Int64Dtype()
                arr = pd.array(np.where(present, np.round(v), 0).astype(np.int64), dtype=nullable)
                arr[~present] = pd.NA
                return arr
            return np.where(present, v, np.nan)
        out = np.where(present, v, np.nan)
        if isinstance(col.dtype, np.dtype):
            return out.astype(col.dtype)
        return pd.array(out, dtype=col.dtype)
    codes = np.where(present, np.round(v), -1).astype(np.int64)
    if isinstance(col.dtype, pd.CategoricalDtype):
        return pd.Categorical.from_codes(codes, dtype=col.dtype)
    levels = np.empty(max(len(col.levels), 1), dtype=object)  # no levels: all cells missing
    levels[:len(col.levels)] = list(col.levels)
    labels = levels[np.clip(codes, 0, None)]
    if present.all() and not (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
        return pd.array(labels.tolist(), dtype=col.dtype)
    if col.dtype == object:
        labels[~present] = col.na_value
        return pd.Series(labels, dtype=object)  # a bare array would be inferred as str
    labels[~present] = None
    try:
        return pd.array(labels.tolist(), dtype=col.dtype)
    except (TypeError, ValueError):  # e.g. numpy bool/int cannot hold missing: nullable kin
        return pd.array(labels.tolist(), dtype=pd.array(labels[present].tolist()).dtype)


def decode(values: np.ndarray, schema: Schema, present: np.ndarray | None = None) -> pd.DataFrame:
    """Turn arrays back into a frame with the schema's dtypes, levels and index.

    Args:
        values: f[n, p] values (category codes for categorical columns).
        schema: the schema from :func:`encode`.
        present: bool[n, p] cells that hold a value; the others come back missing.
            Defaults to all cells.

    Returns:
        The frame.
    """
    values = np.asarray(values, dtype=np.float64)
    if present is None:
        present = np.ones(values.shape, dtype=bool)
    data = {
        col.name: _decode_column(col, values[:, j], present[:, j])
        for j, col in enumerate(schema.columns)
    }
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(values)))
    frame.index = schema.index
    return frame


def labelled_matrix(values: np.ndarray, rows: Sequence, columns: Sequence) -> pd.DataFrame:
    """An integer matrix labelled by rows and columns (e.g. a predictor matrix)."""
    return pd.DataFrame(np.asarray(values), index=pd.Index(list(rows)),
                        columns=pd.Index(list(columns)))


def labelled_series(values: Sequence, index: Sequence, name: str | None = None) -> pd.Series:
    """A Series labelled by ``index`` (e.g. the method per column)."""
    return pd.Series(list(values), index=pd.Index(list(index)), name=name, dtype=object)


def records_frame(records: list[dict], columns: Sequence[str]) -> pd.DataFrame:
    """A frame from a list of records (e.g. logged events)."""
    return pd.DataFrame.from_records(records, columns=list(columns))


def stack_long(frames: Sequence[pd.DataFrame], first: int = 1) -> pd.DataFrame:
    """Stack completed frames in R's long layout: ``.imp`` and ``.id`` columns first.

    Args:
        frames: one frame per imputation (``first`` numbers the first of them).
        first: the ``.imp`` number of ``frames[0]`` (0 for the original incomplete data).

    Returns:
        The long frame; ``.id`` is the row position 1..n, as R numbers rows; the original
        index is kept as the frame's index.
    """
    parts = []
    for k, frame in enumerate(frames):
        part = frame.copy()
        part.insert(0, ".id", np.arange(1, len(frame) + 1))
        part.insert(0, ".imp", first + k)
        parts.append(part)
    return pd.concat(parts, axis=0)


def columns_frame(columns: dict[str, Any]) -> pd.DataFrame:
    """A frame from equal-length columns, in the dict's order."""
    return pd.DataFrame(columns)


def chain_frame(arr: np.ndarray, names: Sequence) -> pd.DataFrame:
    """Chain statistics ``f[variables, iterations, m]`` as a frame: rows (variable, iteration
    1..T), columns imputation 1..m."""
    v, t, m = arr.shape
    index = pd.MultiIndex.from_product([list(names), range(1, t + 1)],
                                       names=["variable", "iteration"])
    columns = pd.Index(range(1, m + 1), name="imputation")
    return pd.DataFrame(arr.reshape(v * t, m), index=index, columns=columns)


def float_series(values: Sequence[float], index: Sequence, name: str | None = None) -> pd.Series:
    """A float Series labelled by ``index`` (e.g. fixed effects by term)."""
    return pd.Series(np.asarray(values, dtype=np.float64), index=pd.Index(list(index)), name=name)


def with_missing(df: pd.DataFrame, missing: np.ndarray) -> pd.DataFrame:
    """A copy of ``df`` with the cells where ``missing: bool[n, p]`` set missing (integer and
    boolean columns that get a missing value become float; the rest keep their dtype)."""
    out = df.copy()
    for j, c in enumerate(df.columns):
        m = np.asarray(missing[:, j], dtype=bool)
        if not m.any():
            continue
        s = out[c]
        if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype):
            s = s.astype(np.float64)
        out[c] = s.mask(m)
    return out
