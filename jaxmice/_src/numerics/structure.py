"""The random-effects structure of a mixed model, as fixed-shape index arrays.

Random effects are held in *blocks*: the penalised system ``Lambda' Z' W Z Lambda + I`` is
block diagonal, one ``q_b x q_b`` block per block index. Two layouts share all later code:

- **blocked** (every random term has the same grouping factor, the usual multilevel model):
  one block per cluster, ``q_b`` = the number of random-effect columns per cluster. The work is
  ``O(n)`` for cross products plus ``O(J q_b^3)`` per criterion evaluation, so a million rows in
  a thousand clusters cost little more than the cross products.
- **dense** (crossed or nested grouping factors): a single block holding every random effect,
  ``q_b = sum_k levels_k * q_k``; fine for the few thousand levels such models usually have.

Each row has ``K = sum_k q_k`` nonzero entries of ``Z``: values ``zval: f[n, K]`` in columns
``zcol: i[n, K]`` of block ``block: i[n]``. ``Lambda`` (the relative covariance factor, lower
triangular per term) is filled from ``theta`` by the index arrays ``lambda_rows``,
``lambda_cols``, ``lambda_theta``; ``theta`` is ordered as lme4 orders it (per term, the lower
triangle column by column).

**Size classes** (:mod:`jaxmice.sizes`): a structure may be laid out for more levels than its
grouping factors have (:func:`build_structure`'s ``level_counts``), so that data sets with
different numbers of clusters share one compiled fit. A level without rows has ``Z = 0``: its
block of ``Lambda' Z'WZ Lambda + I`` is the identity (log-determinant 0, spherical effects 0),
so it changes no criterion, and :func:`real_effects` picks the real levels' effects out again.
The row arrays (``block``, ``zcol``) are data: a batch of data sets may give each its own
(:data:`ROW_AXES`), while ``Lambda``'s index arrays depend on the layout only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

# Beyond this many random effects in one dense block the dense Cholesky gets slow; refuse
# clearly rather than run for hours.
MAX_DENSE_EFFECTS = 6000


class ReArrays(NamedTuple):
    """Index arrays of a structure (jit arguments).

    Attributes:
        block: i[n] block of each row (in a batched fit i[B, n]: :data:`ROW_AXES`).
        zcol: i[n, K] column within the block of each nonzero of ``Z`` (batched i[B, n, K]).
        lambda_rows, lambda_cols, lambda_theta: i[E] ``Lambda[rows, cols] = theta[theta_idx]``.
        theta_column: i[n_theta] for each theta entry, the entry on the diagonal of its column
            (to flip a column's sign so that the diagonal is positive, as lme4 reports it).
    """

    block: jax.Array
    zcol: jax.Array
    lambda_rows: jax.Array
    lambda_cols: jax.Array
    lambda_theta: jax.Array
    theta_column: jax.Array


#: ``vmap`` axes of a :class:`ReArrays` whose row arrays carry a leading batch axis (each data
#: set its own levels) and whose ``Lambda`` index arrays are shared
ROW_AXES = ReArrays(block=0, zcol=0, lambda_rows=None, lambda_cols=None, lambda_theta=None,
                    theta_column=None)


class ReShape(NamedTuple):
    """Static sizes of a structure (part of the compiled program's signature): the size
    class's, where the structure was laid out for one (:func:`build_structure`)."""

    n_blocks: int
    block_size: int
    n_theta: int


@dataclass(frozen=True)
class ReTerm:
    """One random term, e.g. ``(1 + sex | school)``.

    Attributes:
        group: lme4's label of the grouping factor.
        names: names of the term's random-effect columns, e.g. ``("(Intercept)", "sex")``.
        levels: labels of the grouping factor's levels.
        theta_start: position of the term's first ``theta`` entry.
        offset: first column of the term within a block (blocked) or the dense block.
    """

    group: str
    names: tuple[str, ...]
    levels: tuple[str, ...]
    theta_start: int
    offset: int

    @property
    def q(self) -> int:
        """Random-effect columns of the term."""
        return len(self.names)

    @property
    def n_theta(self) -> int:
        """Entries of the term's lower-triangular factor."""
        return self.q * (self.q + 1) // 2


@dataclass(frozen=True)
class ReStructure:
    """A model's random-effects structure (host side).

    Attributes:
        terms: the random terms, in lme4's order (most levels first).
        blocked: whether all terms share one grouping factor (one block per cluster).
        shape: the static sizes (of the layout: its size class's, see
            :func:`build_structure`).
        arrays: the index arrays, as numpy arrays.
        theta_diagonal: bool[n_theta] entries on a diagonal of ``Lambda`` (lower bound 0 in
            lme4; here any sign, since the criteria depend on ``Lambda Lambda'`` only).
    """

    terms: tuple[ReTerm, ...]
    blocked: bool
    shape: ReShape
    arrays: ReArrays
    theta_diagonal: np.ndarray

    def device_arrays(self) -> ReArrays:
        """The index arrays as JAX arrays."""
        return ReArrays(*(jax.device_put(np.asarray(a)) for a in self.arrays))

    def initial_theta(self) -> np.ndarray:
        """lme4's start: 1 on the diagonals, 0 elsewhere."""
        return self.theta_diagonal.astype(np.float64)


def _lower_triangle(q: int) -> list[tuple[int, int]]:
    """(row, col) of a q x q lower triangle, column by column (lme4's theta order)."""
    return [(r, c) for c in range(q) for r in range(c, q)]


def build_structure(designs: Sequence, level_counts: Sequence[int] | None = None
                    ) -> tuple[ReStructure, np.ndarray]:
    """Lay out the random terms of a model frame as blocks.

    Args:
        designs: the model frame's random designs, each with ``group``, ``codes: i[n]``,
            ``levels``, ``z: f[B, n, q]`` and ``names``.
        level_counts: per design, the levels to lay out (at least its own; e.g. its size
            class, :func:`jaxmice.sizes.cluster_class`): the extra levels have no rows.
            Default: exactly the design's levels. The terms keep their real ``levels``; their
            ``offset`` is in the padded layout.

    Returns:
        ``(structure, zval)`` with ``zval: f[B, n, K]`` the nonzero values of ``Z``.

    Raises:
        ValueError: a model without random terms, or a dense layout too large to factor.
    """
    if not designs:
        raise ValueError("the formula has no random term such as (1 | cluster); "
                         "use a regression for models without random effects")
    n_levels = [len(d.levels) for d in designs]
    counts = n_levels if level_counts is None else [max(int(c), k) for c, k in
                                                    zip(level_counts, n_levels, strict=True)]
    # lme4 orders terms by decreasing number of levels (ties keep formula order)
    order = sorted(range(len(designs)), key=lambda k: -n_levels[k])
    designs, counts = [designs[k] for k in order], [counts[k] for k in order]
    codes0 = np.asarray(designs[0].codes)
    blocked = all(np.array_equal(np.asarray(d.codes), codes0) for d in designs)
    n = codes0.shape[0]

    terms, zcols, zvals = [], [], []
    lam_rows, lam_cols, lam_theta, diagonal, column = [], [], [], [], []
    theta_start = offset = 0
    for d, count in zip(designs, counts, strict=True):
        q = len(d.names)
        tri = _lower_triangle(q)
        terms.append(ReTerm(group=d.group, names=tuple(d.names), levels=tuple(d.levels),
                            theta_start=theta_start, offset=offset))
        repeats = 1 if blocked else count
        for level in range(repeats):
            base = offset + level * q
            for t, (r, c) in enumerate(tri):
                lam_rows.append(base + r)
                lam_cols.append(base + c)
                lam_theta.append(theta_start + t)
        diagonal.extend(r == c for r, c in tri)
        column.extend(theta_start + tri.index((c, c)) for _, c in tri)
        cols = offset + np.arange(q)[None, :]
        if not blocked:
            cols = cols + np.asarray(d.codes)[:, None] * q
        zcols.append(np.broadcast_to(cols, (n, q)))
        zvals.append(np.asarray(d.z, dtype=np.float64))
        theta_start += len(tri)
        offset += q * repeats

    block_size = offset
    # the real effects, so that padding to a size class never refuses a model
    effects = sum(len(d.levels) * len(d.names) for d in designs)
    if not blocked and effects > MAX_DENSE_EFFECTS:
        raise ValueError(
            f"crossed or nested random terms with {effects} random effects in all are more "
            f"than the dense solver takes ({MAX_DENSE_EFFECTS}); use one grouping factor")
    arrays = ReArrays(
        block=codes0.astype(np.int32) if blocked else np.zeros(n, np.int32),
        zcol=np.concatenate(zcols, axis=1).astype(np.int32),
        lambda_rows=np.asarray(lam_rows, np.int32),
        lambda_cols=np.asarray(lam_cols, np.int32),
        lambda_theta=np.asarray(lam_theta, np.int32),
        theta_column=np.asarray(column, np.int32),
    )
    shape = ReShape(n_blocks=counts[0] if blocked else 1, block_size=block_size,
                    n_theta=theta_start)
    structure = ReStructure(terms=tuple(terms), blocked=blocked, shape=shape, arrays=arrays,
                            theta_diagonal=np.asarray(diagonal, bool))
    return structure, np.concatenate(zvals, axis=-1)


def real_effects(structure: ReStructure) -> tuple[np.ndarray, np.ndarray]:
    """Where the real levels' random effects sit in a (padded) layout.

    Returns:
        ``(blocks: i[J], columns: i[q_b])``: ``b[blocks][:, columns]`` are the effects of a
        structure laid out for exactly its levels (blocked: the first ``J`` blocks, all their
        columns; dense: the one block, each term's first ``levels * q`` columns).
    """
    if structure.blocked:
        return (np.arange(len(structure.terms[0].levels)),
                np.arange(structure.shape.block_size))
    columns = [term.offset + np.arange(len(term.levels) * term.q) for term in structure.terms]
    return np.zeros(1, np.int64), np.concatenate(columns)


def batch_rows(arrays: ReArrays, batch: int, rows: int) -> ReArrays:
    """The row arrays padded to ``rows`` rows and repeated along a leading axis of ``batch``
    data sets (:data:`ROW_AXES`: ``block: i[batch, rows]``, ``zcol: i[batch, rows, K]``).

    A padding row points at block 0, column 0: with ``Z = 0`` and weight 0 there it adds
    nothing to any sum.
    """
    extra = rows - arrays.block.shape[0]
    block = np.pad(np.asarray(arrays.block), (0, extra))
    zcol = np.pad(np.asarray(arrays.zcol), ((0, extra), (0, 0)))
    return arrays._replace(block=np.broadcast_to(block, (batch, *block.shape)),
                           zcol=np.broadcast_to(zcol, (batch, *zcol.shape)))


def relative_factor(theta: jax.Array, re: ReArrays, shape: ReShape) -> jax.Array:
    """``Lambda: f[q_b, q_b]`` from ``theta: f[n_theta]`` (shared by all blocks)."""
    lam = jnp.zeros((shape.block_size, shape.block_size), theta.dtype)
    return lam.at[re.lambda_rows, re.lambda_cols].set(theta[re.lambda_theta])


def block_gram(zval: jax.Array, weight: jax.Array, re: ReArrays, shape: ReShape) -> jax.Array:
    """``Z' diag(weight) Z`` per block: f[J, q_b, q_b] from ``zval: f[n, K]``, ``weight: f[n]``."""
    out = jnp.zeros((shape.n_blocks, shape.block_size, shape.block_size), zval.dtype)
    contrib = (zval * weight[:, None])[:, :, None] * zval[:, None, :]
    return out.at[re.block[:, None, None], re.zcol[:, :, None], re.zcol[:, None, :]].add(contrib)


def block_cross(zval: jax.Array, other: jax.Array, re: ReArrays, shape: ReShape) -> jax.Array:
    """``Z' other`` per block: f[J, q_b, ...] from ``zval: f[n, K]`` and ``other: f[n, ...]``."""
    trailing = other.shape[1:]
    out = jnp.zeros((shape.n_blocks, shape.block_size, *trailing), zval.dtype)
    contrib = zval.reshape(zval.shape + (1,) * len(trailing)) * other[:, None]
    return out.at[re.block[:, None], re.zcol].add(contrib)


def z_times(zval: jax.Array, b: jax.Array, re: ReArrays) -> jax.Array:
    """``Z b: f[n]`` for random effects ``b: f[J, q_b]``."""
    return jnp.sum(zval * b[re.block[:, None], re.zcol], axis=1)


def canonical_theta(theta: jax.Array, re: ReArrays) -> jax.Array:
    """Flip columns of ``Lambda`` so its diagonal is non-negative (``Lambda Lambda'`` kept)."""
    return theta * jnp.where(theta[re.theta_column] < 0, -1.0, 1.0)
