"""What the sampler knows about a data set's columns, without knowing about DataFrames.

The pandas adapter builds a :class:`Schema` from a frame; everything downstream (specification,
sampler, methods) works on plain arrays plus this schema.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

KINDS = ("continuous", "binary", "nominal", "ordinal", "count")
CATEGORICAL_KINDS = ("binary", "nominal", "ordinal")


@dataclass(frozen=True)
class Column:
    """One column of the data set.

    Attributes:
        name: the column label in the user's frame.
        kind: one of ``KINDS`` (``count``: non-negative whole numbers, declared by the user).
        levels: category labels for binary/nominal/ordinal columns (code ``k`` means
            ``levels[k]``); ``None`` for continuous columns.
        dtype: the user's dtype, restored when arrays go back to a frame.
        na_value: what a missing cell looked like (``None`` or ``nan``) in object columns.
        numeric: whether the user's values are numbers (a numeric dtype other than bool);
            a model formula uses them as numbers even where they are imputed as categories
            (an int 0/1 column), as R does.
    """

    name: Hashable
    kind: str
    levels: tuple | None
    dtype: Any
    na_value: Any = None
    numeric: bool = False

    @property
    def n_levels(self) -> int:
        """Number of categories (0 for continuous columns)."""
        return 0 if self.levels is None else len(self.levels)

    @property
    def is_categorical(self) -> bool:
        """Whether the column holds category codes."""
        return self.kind in CATEGORICAL_KINDS


@dataclass(frozen=True)
class Schema:
    """Names, kinds and levels of all columns, plus the frame's index.

    Attributes:
        columns: one :class:`Column` per frame column, in frame order.
        index: the frame's index (restored on the way back).
        clusters: the cluster index of each cluster column, by name, built once from the
            encoded data on first use (:func:`jaxmice._src.adapters.frames_in.cluster_index`: the
            specification, the plan and the plots read it from here).
    """

    columns: tuple[Column, ...]
    index: Any
    clusters: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def names(self) -> tuple[Hashable, ...]:
        """Column labels in order."""
        return tuple(c.name for c in self.columns)

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self.index)

    def position(self, name: Hashable) -> int:
        """Position of a column, with a clear error for unknown labels."""
        for j, c in enumerate(self.columns):
            if c.name == name:
                return j
        raise ValueError(f"unknown column {name!r}; the data has columns {list(self.names)}")

    def __getitem__(self, name: Hashable) -> Column:
        return self.columns[self.position(name)]


@dataclass(frozen=True, eq=False)
class ColumnData:
    """One data column for a batch of B data sets of n rows.

    Attributes:
        values: f[B, n] numbers, or factor codes 0..L-1; NaN = missing. B may be 1 for a
            column that is the same in every batch member.
        levels: factor level labels, or None for a numeric column.
        ordered: whether the factor is ordered (it still gets treatment contrasts).
    """

    values: np.ndarray
    levels: tuple[str, ...] | None = None
    ordered: bool = False

    @property
    def is_factor(self) -> bool:
        return self.levels is not None
