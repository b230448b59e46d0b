"""Small-matrix linear algebra unrolled in pure JAX, for large batches of tiny matrices.

jaxlib 0.10's CPU LAPACK kernels split a large batch of small matrices (batch x d^3 above
2e5 flops) over XLA's intra-op thread pool and block a pool thread until the pieces finish.
When two such kernels run at once (independent nodes of one program, e.g. the finite-difference
points of a vmapped Newton loop) on a pool of two threads, each waits on work queued behind the
other and the process deadlocks at zero CPU. The meta-analyses of the two-stage and Heckman
methods batch thousands of d x d matrices that way. These routines loop over the static
dimension ``d`` only, so they are plain elementwise XLA code: no custom call, no thread hop, and
for d <= 8 they are also faster than a LAPACK call per matrix.

All take ``a: f[..., d, d]`` with any leading batch shape.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def cholesky(a: jax.Array) -> jax.Array:
    """Lower Cholesky factor ``L: f[..., d, d]`` of symmetric positive definite ``a`` (only its
    lower triangle is read). Not positive definite gives NaN, as LAPACK's does through JAX."""
    d = a.shape[-1]
    columns: list[jax.Array] = []
    for j in range(d):
        # the j-th column below the diagonal, from the columns already done
        s = a[..., :, j]
        for col in columns:
            s = s - col * col[..., j : j + 1]
        pivot = jnp.sqrt(s[..., j])
        col = jnp.where(jnp.arange(d) >= j, s / pivot[..., None], 0.0)
        columns.append(col)
    return jnp.stack(columns, axis=-1)


def triangular_inverse(low: jax.Array) -> jax.Array:
    """Inverse ``f[..., d, d]`` of lower-triangular ``low`` by forward substitution."""
    d = low.shape[-1]
    rows: list[jax.Array] = []
    eye = jnp.eye(d, dtype=low.dtype)
    for i in range(d):
        # row i of L^-1: (e_i - sum_{k<i} L_ik row_k) / L_ii
        r = jnp.broadcast_to(eye[i], low.shape[:-1])
        for k in range(i):
            r = r - low[..., i, k : k + 1] * rows[k]
        rows.append(r / low[..., i, i : i + 1])
    return jnp.stack(rows, axis=-2)


def spd_inverse(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Inverse ``f[..., d, d]`` and log-determinant ``f[...]`` of positive definite ``a``."""
    low = cholesky(a)
    inv_low = triangular_inverse(low)
    inverse = jnp.swapaxes(inv_low, -1, -2) @ inv_low
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(low, axis1=-2, axis2=-1)), axis=-1)
    return inverse, logdet


def psd_cholesky(a: jax.Array) -> jax.Array:
    """A lower-triangular ``L: f[..., d, d]`` with ``L L' = a`` for positive semi-definite
    ``a`` that tolerates singularity: a column whose pivot is (numerically) zero is set to zero,
    so ``a = 0`` gives ``L = 0`` and a zero row and column of ``a`` give a zero column."""
    d = a.shape[-1]
    diag = jnp.diagonal(a, axis1=-2, axis2=-1)
    tiny = 1e-10 * jnp.sqrt(jnp.maximum(jnp.max(diag, axis=-1), 0.0)) + 1e-300
    below = jnp.arange(d)
    columns: list[jax.Array] = []
    for j in range(d):
        s = a[..., :, j]
        for col in columns:
            s = s - col * col[..., j : j + 1]
        pivot = jnp.sqrt(jnp.maximum(s[..., j], 0.0))
        ok = pivot > tiny
        col = s / jnp.where(ok, pivot, 1.0)[..., None]
        col = jnp.where((below > j) & ok[..., None], col, 0.0)
        col = jnp.where(below == j, jnp.where(ok, pivot, 0.0)[..., None], col)
        columns.append(col)
    return jnp.stack(columns, axis=-1)
