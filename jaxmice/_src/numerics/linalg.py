"""Small-matrix linear algebra unrolled in pure JAX, for large batches of tiny matrices.

jaxlib 0.10's CPU LAPACK kernels split a large batch of small matrices (batch x d^3 above
2e5 flops) over XLA's intra-op thread pool and block a pool thread until the pieces finish.
When two such kernels run at once (independent nodes of one program, e.g. the finite-difference
points of a vmapped Newton loop) on a pool of two threads, each waits on work queued behind the
other and the process deadlocks at zero CPU. The meta-analyses of the two-stage and Heckman
methods batch thousands of d x d matrices that way. These routines loop over the static
dimension ``d`` only, so they are plain elementwise XLA code: no custom call, no thread hop, and
for d <= 8 they are also faster than a LAPACK call per matrix.

All take ``a: f[..., d, d]`` with any leading batch shape. A multilevel model factors one small
block (``q_b x q_b``, often 1 x 1 or 2 x 2) per cluster, for every data set of a batch, at every
criterion evaluation and in its derivatives: :func:`cholesky` and the triangular solves are
written out up to :data:`UNROLL_MAX` and call LAPACK one matrix at a time above it.

For matrices too large to unroll, the ``lapack_*`` functions call LAPACK on **one matrix at a
time**: over a leading batch, and under any ``vmap`` (the sampler's lanes, clusters, the
replications of a batched fit), a batch becomes a loop of single-matrix calls
(``jax.custom_batching.sequential_vmap``). A single matrix is never split over the thread pool,
so no batch size can deadlock. They give LAPACK's own results, bit for bit, and are for results
only: reverse-mode differentiation is defined for the Cholesky factor and the triangular
solves (which the fits' criteria use), not for the others. jaxmice calls ``jnp.linalg``
nowhere else (``tests/runtime/test_lapack_audit.py`` checks the source and the compiled programs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

# Largest matrix size written out elementwise (the traced program grows as size^3).
UNROLL_MAX = 6


def cholesky(a: jax.Array, unroll_max: int | None = UNROLL_MAX) -> jax.Array:
    """Lower Cholesky factors of ``a: f[..., q, q]`` (symmetric positive definite; only its
    lower triangle is read), written out elementwise up to ``unroll_max`` (None: any size),
    LAPACK one matrix at a time above. Not positive definite gives NaN, as LAPACK's does."""
    q = a.shape[-1]
    if unroll_max is not None and q > unroll_max:
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
    low = cholesky(a, unroll_max=None)
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


# ----- LAPACK, one matrix per call -------------------------------------------------------------
def _one_matrix_at_a_time(fn: Callable, signature: str) -> Callable:
    """``fn`` on single matrices, applied over any leading batch (``signature`` as for
    ``jnp.vectorize``) and under any ``vmap`` as a loop of single calls."""
    return jnp.vectorize(jax.custom_batching.sequential_vmap(fn), signature=signature)


_cholesky = _one_matrix_at_a_time(lambda a: jnp.linalg.cholesky(a), "(d,d)->(d,d)")
#: eigenvalues ``f[..., d]`` (ascending) and eigenvectors ``f[..., d, d]`` of symmetric ``a``
lapack_eigh = _one_matrix_at_a_time(lambda a: jnp.linalg.eigh(a), "(d,d)->(d),(d,d)")
#: eigenvalues ``f[..., d]`` (ascending) of symmetric ``a``
lapack_eigvalsh = _one_matrix_at_a_time(lambda a: jnp.linalg.eigvalsh(a), "(d,d)->(d)")
#: inverse ``f[..., d, d]``
lapack_inv = _one_matrix_at_a_time(lambda a: jnp.linalg.inv(a), "(d,d)->(d,d)")
#: ``a^-1 b`` for ``a: f[..., d, d]``, ``b: f[..., d, r]``
lapack_solve = _one_matrix_at_a_time(lambda a, b: jnp.linalg.solve(a, b), "(d,d),(d,r)->(d,r)")
_solve_lower = _one_matrix_at_a_time(
    lambda low, b: jsl.solve_triangular(low, b, lower=True), "(d,d),(d,r)->(d,r)")
_solve_lower_transposed = _one_matrix_at_a_time(
    lambda low, b: jsl.solve_triangular(low, b, lower=True, trans="T"), "(d,d),(d,r)->(d,r)")
#: ``(L L')^-1 b`` for the lower Cholesky factor ``L: f[..., d, d]``, ``b: f[..., d, r]``
lapack_cho_solve = _one_matrix_at_a_time(
    lambda low, b: jsl.cho_solve((low, True), b), "(d,d),(d,r)->(d,r)")


# Cholesky and the triangular solves also sit inside criteria that the fits differentiate
# (reverse mode, :func:`jaxmice._src.numerics.optimize.newton_minimize_batch`): their gradients,
# written # with the same one-matrix calls.
def _t(a: jax.Array) -> jax.Array:
    return jnp.swapaxes(a, -1, -2)


@jax.custom_vjp
def lapack_cholesky(a: jax.Array) -> jax.Array:
    """Lower Cholesky factor ``f[..., d, d]`` of symmetric ``a`` (NaN where not positive
    definite); differentiable in reverse mode."""
    return _cholesky(a)


def _cholesky_fwd(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    low = _cholesky(a)
    return low, low


def _cholesky_bwd(low: jax.Array, low_bar: jax.Array) -> tuple[jax.Array]:
    # A_bar = L^-T Phi(L' L_bar) L^-1, Phi: the lower triangle with the diagonal halved;
    # symmetrised, as jnp.linalg.cholesky reads a symmetrised input
    inner = jnp.tril(_t(low) @ low_bar)
    inner = inner - 0.5 * jnp.tril(jnp.triu(inner))
    left = _solve_lower_transposed(low, inner)
    a_bar = _t(_solve_lower_transposed(low, _t(left)))
    return (0.5 * (a_bar + _t(a_bar)),)


lapack_cholesky.defvjp(_cholesky_fwd, _cholesky_bwd)


@jax.custom_vjp
def lapack_solve_lower(low: jax.Array, b: jax.Array) -> jax.Array:
    """``L^-1 b`` for lower-triangular ``L: f[..., d, d]``, ``b: f[..., d, r]``;
    differentiable in reverse mode."""
    return _solve_lower(low, b)


def _solve_lower_fwd(low: jax.Array, b: jax.Array) -> tuple[jax.Array, tuple]:
    x = _solve_lower(low, b)
    return x, (low, x)


def _solve_lower_bwd(res: tuple, x_bar: jax.Array) -> tuple[jax.Array, jax.Array]:
    low, x = res
    b_bar = _solve_lower_transposed(low, x_bar)
    return -jnp.tril(b_bar @ _t(x)), b_bar


lapack_solve_lower.defvjp(_solve_lower_fwd, _solve_lower_bwd)


@jax.custom_vjp
def lapack_solve_lower_transposed(low: jax.Array, b: jax.Array) -> jax.Array:
    """``L'^-1 b`` for lower-triangular ``L: f[..., d, d]``, ``b: f[..., d, r]``;
    differentiable in reverse mode."""
    return _solve_lower_transposed(low, b)


def _solve_lower_transposed_fwd(low: jax.Array, b: jax.Array) -> tuple[jax.Array, tuple]:
    x = _solve_lower_transposed(low, b)
    return x, (low, x)


def _solve_lower_transposed_bwd(res: tuple, x_bar: jax.Array) -> tuple[jax.Array, jax.Array]:
    low, x = res
    b_bar = _solve_lower(low, x_bar)
    return -jnp.tril(x @ _t(b_bar)), b_bar


lapack_solve_lower_transposed.defvjp(_solve_lower_transposed_fwd, _solve_lower_transposed_bwd)


# --------------------------------------------------------------------------------------------
# Weighted least squares on fixed shapes (rows selected by weights ``w: f[n]``: 1 used, 0 not)

# Columns whose residual variance, given the columns kept before them, falls below this share
# of their own variance are linearly dependent on those columns and dropped.
COLLINEAR_TOL = 1e-7


class Selection(NamedTuple):
    """Which design columns a fit keeps.

    Attributes:
        keep: bool[q] columns used (the intercept, column 0, is always kept).
        constant: bool[q] columns dropped because they do not vary in the fitting rows.
        collinear: bool[q] columns dropped because they are linear in earlier kept columns.
    """

    keep: jax.Array
    constant: jax.Array
    collinear: jax.Array


def weighted_moments(x: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Weighted column means and variances of ``x: f[n, q]`` with weights ``w: f[n]``."""
    total = jnp.maximum(w.sum(), 1.0)
    mean = (w @ x) / total
    var = (w @ (x - mean) ** 2) / total
    return mean, var


def select_predictors(gram: jax.Array, candidate: jax.Array, tol: float = COLLINEAR_TOL
                      ) -> Selection:
    """Drop constant and linearly dependent columns of a design (intercept first).

    Works on the cross-product matrix alone (no pass over the rows): its first row gives the
    column means, the rest the covariances. Sweeps the correlation matrix column by column
    (left to right): a candidate column is kept when its residual variance given the kept
    columns before it exceeds ``tol``.

    Args:
        gram: f[q, q] weighted cross products ``X' W X`` of the design (column 0 the
            intercept) over the fitting rows.
        candidate: bool[q] columns offered as predictors (the others are neither kept nor
            reported as dropped).
        tol: relative residual variance below which a column counts as collinear.

    Returns:
        The :class:`Selection`.
    """
    total = jnp.maximum(gram[0, 0], 1.0)
    mean = gram[0] / total
    cov = gram / total - jnp.outer(mean, mean)
    var = jnp.diag(cov)
    scale = jnp.maximum(jnp.abs(mean), 1.0)
    # sd below 1e-6 of the column's scale: constant (the cross-product route has rounding
    # error near 1e-16 of mean^2, far below this)
    constant = (var <= 1e-12 * scale**2).at[0].set(False) & candidate
    sd = jnp.where(constant | (var <= 0), 1.0, jnp.sqrt(jnp.maximum(var, 0.0)))
    corr = cov / jnp.outer(sd, sd)
    q = gram.shape[0]
    candidate = (candidate & ~constant).at[0].set(False)  # the intercept: by centring

    def sweep(carry, k):
        a, keep = carry
        d = a[k, k]
        ok = candidate[k] & (d > tol)
        safe = jnp.where(ok, d, 1.0)
        row = a[k] / safe
        swept = a - jnp.outer(a[:, k], a[k]) / safe
        swept = swept.at[k].set(row).at[:, k].set(row).at[k, k].set(-1.0 / safe)
        return (jnp.where(ok, swept, a), keep.at[k].set(ok)), None

    (_, keep), _ = jax.lax.scan(sweep, (corr, jnp.zeros(q, bool)), jnp.arange(q))
    keep = keep.at[0].set(True)
    return Selection(keep=keep, constant=constant, collinear=~keep & ~constant & candidate)


def cross_products(x: jax.Array, w: jax.Array) -> jax.Array:
    """f[q, q] weighted cross products ``X' diag(w) X``, summed in float64 whatever the data's
    dtype (``jm.mice(..., dtype="float32")`` keeps its sums of squares in float64)."""
    x, w = wide(x), wide(w)
    return (x * w[:, None]).T @ x


def wide(x: jax.Array) -> jax.Array:
    """``x`` in float64 (unchanged if it is already; jaxmice computes with 64-bit types on)."""
    return x.astype(jnp.float64) if x.dtype == jnp.float32 else x


class LinearFit(NamedTuple):
    """A (ridge-stabilised) least-squares fit on the weighted rows.

    Attributes:
        coef: f[q] least-squares coefficients (0 for dropped columns).
        chol: f[q, q] lower Cholesky factor of the penalised cross-product matrix.
        rss: f[] residual sum of squares in the fitting rows.
        df: f[] residual degrees of freedom (fitting rows minus kept columns, at least 1).
        ok: bool[] whether the factorisation succeeded.
    """

    coef: jax.Array
    chol: jax.Array
    rss: jax.Array
    df: jax.Array
    ok: jax.Array


def least_squares(
    x: jax.Array, y: jax.Array, w: jax.Array, keep: jax.Array, ridge: float = 1e-5,
    gram: jax.Array | None = None,
) -> LinearFit:
    """Weighted least squares with a small ridge on the diagonal (as mice's ``ridge``).

    Args:
        x: f[n, q] design; y: f[n] response; w: f[n] fitting weights; keep: bool[q].
        ridge: the share of each diagonal element added for stability.
        gram: f[q, q] ``X' diag(w) X`` if already computed (saves a pass over the rows).

    Returns:
        The :class:`LinearFit`.
    """
    xk = x * keep
    if gram is None:
        gram = cross_products(x, w)
    xtx = gram * jnp.outer(keep, keep)
    dropped = jnp.diag(~keep).astype(x.dtype)
    xtx = xtx + ridge * jnp.diag(jnp.diag(xtx)) + dropped
    chol = lapack_cholesky(xtx)
    coef = lapack_cho_solve(chol, (xk.T @ (w * y))[:, None])[:, 0]
    resid = y - xk @ coef
    rss = jnp.sum(w * resid**2)
    df = jnp.maximum(w.sum() - keep.sum(), 1.0)
    ok = jnp.all(jnp.isfinite(chol)) & jnp.all(jnp.isfinite(coef))
    return LinearFit(coef=coef, chol=chol, rss=rss, df=df, ok=ok)


def standardize(x: jax.Array, w: jax.Array, keep: jax.Array) -> jax.Array:
    """Centre and scale the non-intercept columns of ``x`` on the fitting rows; zero dropped ones.

    Only used where a prior acts on the coefficients, so that its scale means the same for
    every predictor.
    """
    mean, var = weighted_moments(x, w)
    mean = mean.at[0].set(0.0)
    sd = jnp.where(var > 0, jnp.sqrt(var), 1.0).at[0].set(1.0)
    return ((x - mean) / sd) * keep
