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
    """Index arrays of a structure (jit arguments, shared by a batch of data sets).

    Attributes:
        block: i[n] block of each row.
        zcol: i[n, K] column within the block of each nonzero of ``Z``.
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


class ReShape(NamedTuple):
    """Static sizes of a structure (part of the compiled program's signature)."""

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
        shape: the static sizes.
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


def build_structure(designs: Sequence) -> tuple[ReStructure, np.ndarray]:
    """Lay out the random terms of a model frame as blocks.

    Args:
        designs: the model frame's random designs, each with ``group``, ``codes: i[n]``,
            ``levels``, ``z: f[B, n, q]`` and ``names``.

    Returns:
        ``(structure, zval)`` with ``zval: f[B, n, K]`` the nonzero values of ``Z``.

    Raises:
        ValueError: a model without random terms, or a dense layout too large to factor.
    """
    if not designs:
        raise ValueError("the formula has no random term such as (1 | cluster); "
                         "use a regression for models without random effects")
    n_levels = [len(d.levels) for d in designs]
    # lme4 orders terms by decreasing number of levels (ties keep formula order)
    order = sorted(range(len(designs)), key=lambda k: -n_levels[k])
    designs = [designs[k] for k in order]
    codes0 = np.asarray(designs[0].codes)
    blocked = all(np.array_equal(np.asarray(d.codes), codes0) for d in designs)
    n = codes0.shape[0]

    terms, zcols, zvals = [], [], []
    lam_rows, lam_cols, lam_theta, diagonal, column = [], [], [], [], []
    theta_start = offset = 0
    for d in designs:
        q = len(d.names)
        tri = _lower_triangle(q)
        terms.append(ReTerm(group=d.group, names=tuple(d.names), levels=tuple(d.levels),
                            theta_start=theta_start, offset=offset))
        repeats = 1 if blocked else len(d.levels)
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
    if not blocked and block_size > MAX_DENSE_EFFECTS:
        raise ValueError(
            f"crossed or nested random terms with {block_size} random effects in all are more "
            f"than the dense solver takes ({MAX_DENSE_EFFECTS}); use one grouping factor")
    arrays = ReArrays(
        block=codes0.astype(np.int32) if blocked else np.zeros(n, np.int32),
        zcol=np.concatenate(zcols, axis=1).astype(np.int32),
        lambda_rows=np.asarray(lam_rows, np.int32),
        lambda_cols=np.asarray(lam_cols, np.int32),
        lambda_theta=np.asarray(lam_theta, np.int32),
        theta_column=np.asarray(column, np.int32),
    )
    shape = ReShape(n_blocks=len(designs[0].levels) if blocked else 1, block_size=block_size,
                    n_theta=theta_start)
    structure = ReStructure(terms=tuple(terms), blocked=blocked, shape=shape, arrays=arrays,
                            theta_diagonal=np.asarray(diagonal, bool))
    return structure, np.concatenate(zvals, axis=-1)


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
