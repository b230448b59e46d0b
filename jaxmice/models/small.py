"""Cholesky factors and triangular solves for stacks of small matrices.

A multilevel model factors one small block (``q_b x q_b``, often 1 x 1 or 2 x 2) per cluster,
for every data set in a batch, at every criterion evaluation and in its derivatives. LAPACK
does these one matrix at a time; written out as elementwise operations over the stack (the
loops below run over the static matrix size while tracing), they vectorise across clusters
and data sets on CPU and GPU alike, and differentiate cheaply. Larger matrices go to
LAPACK one matrix at a time (:mod:`jaxmice.small_linalg`). A failed factorisation gives NaN,
as ``jnp.linalg.cholesky`` does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..small_linalg import lapack_cholesky, lapack_solve_lower, lapack_solve_lower_transposed

# Largest matrix size written out elementwise (the traced program grows as size^3).
UNROLL_MAX = 6


def cholesky(a: jax.Array) -> jax.Array:
    """Lower Cholesky factors of ``a: f[..., q, q]`` (symmetric positive definite)."""
    q = a.shape[-1]
    if q > UNROLL_MAX:
        return lapack_cholesky(a)
    rows: list[list[jax.Array]] = [[] for _ in range(q)]
    zero = jnp.zeros_like(a[..., 0, 0])
    for j in range(q):
        diag = jnp.sqrt(a[..., j, j] - sum((rows[j][k] ** 2 for k in range(j)), zero))
        rows[j].append(diag)
        for i in range(j + 1, q):
            dot = sum((rows[i][k] * rows[j][k] for k in range(j)), zero)
            rows[i].append((a[..., i, j] - dot) / diag)
    full = [row + [zero] * (q - len(row)) for row in rows]
    return jnp.stack([jnp.stack(row, axis=-1) for row in full], axis=-2)


def solve_lower(chol: jax.Array, b: jax.Array) -> jax.Array:
    """``L^-1 b`` for lower-triangular ``chol: f[..., q, q]`` and ``b: f[..., q, r]``."""
    q = chol.shape[-1]
    if q > UNROLL_MAX:
        return lapack_solve_lower(chol, b)
    out: list[jax.Array] = []
    for i in range(q):
        acc = b[..., i, :]
        for k in range(i):
            acc = acc - chol[..., i, k, None] * out[k]
        out.append(acc / chol[..., i, i, None])
    return jnp.stack(out, axis=-2)


def solve_lower_transposed(chol: jax.Array, b: jax.Array) -> jax.Array:
    """``L^-T b`` for lower-triangular ``chol: f[..., q, q]`` and ``b: f[..., q, r]``."""
    q = chol.shape[-1]
    if q > UNROLL_MAX:
        return lapack_solve_lower_transposed(chol, b)
    out: list[jax.Array | None] = [None] * q
    for i in reversed(range(q)):
        acc = b[..., i, :]
        for k in range(i + 1, q):
            acc = acc - chol[..., k, i, None] * out[k]
        out[i] = acc / chol[..., i, i, None]
    return jnp.stack(out, axis=-2)


def log_det(chol: jax.Array) -> jax.Array:
    """``log|A|`` summed over a stack, from its Cholesky factors ``chol: f[..., q, q]``."""
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)))
