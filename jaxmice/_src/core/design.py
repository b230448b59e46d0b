"""Design matrices from the current completed data (pure JAX, static layout).

Continuous and binary predictors enter as they are; nominal and ordinal predictors enter as
treatment-coded dummies (first level the reference), as R's default contrasts for unordered
factors. The layout of a design is fixed when the plan is built, so it compiles once.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jaxmice._src.core.schema import Schema


@dataclass(frozen=True)
class PredictorBlock:
    """One predictor's block of design columns.

    Attributes:
        column: the predictor's position in the data.
        n_levels: number of levels for dummy coding (0 for a single numeric column).
        labels: names of the design columns it produces (``"sex"``, ``"ctIII"``).
    """

    column: int
    n_levels: int
    labels: tuple[str, ...]


def make_terms(schema: Schema, predictors: list[int]) -> tuple[PredictorBlock, ...]:
    """Design terms for the predictor columns at positions ``predictors``."""
    terms = []
    for j in predictors:
        col = schema.columns[j]
        if col.kind in ("nominal", "ordinal"):
            labels = tuple(f"{col.name}{level}" for level in col.levels[1:])
            terms.append(PredictorBlock(column=j, n_levels=col.n_levels, labels=labels))
        else:
            terms.append(PredictorBlock(column=j, n_levels=0, labels=(str(col.name),)))
    return tuple(terms)


def design_labels(terms: tuple[PredictorBlock, ...]) -> tuple[Hashable, ...]:
    """Labels of all design columns, intercept first."""
    return ("(Intercept)",) + tuple(label for t in terms for label in t.labels)


def build_design(data: jax.Array, terms: tuple[PredictorBlock, ...]) -> jax.Array:
    """The design ``f[n, q]``: an intercept column, then each term's columns.

    Args:
        data: f[n, p] current completed data (codes for categorical columns).
        terms: the layout from :func:`make_terms`.
    """
    blocks = [jnp.ones((data.shape[0], 1), dtype=data.dtype)]
    for t in terms:
        v = data[:, t.column]
        if t.n_levels:
            blocks.append(jax.nn.one_hot(v.astype(jnp.int32), t.n_levels, dtype=data.dtype)[:, 1:])
        else:
            blocks.append(v[:, None])
    return jnp.concatenate(blocks, axis=1)
