"""Building blocks shared by the multilevel (``2l.*``) imputation methods.

The linear mixed model imputed from is

    y_i = x_i' beta + z_i' b_j(i) + e_i,   b_j ~ N(0, Psi),   e_i ~ N(0, sigma_j(i)^2),

with ``x`` the target's predictors (codes 1-4) plus the cluster means of those coded 3 or 4
(computed on the current completed data), and ``z`` the intercept plus the predictors coded 2
or 4. Fixed and random effects are drawn *jointly* given the variance parameters, from the
penalised least-squares factor of the mixed-model engine (:mod:`jaxmice.models.lmm`): beta from
its marginal posterior, then each cluster's b_j given beta. This collapsed step mixes far
faster than alternating beta | b and b | beta when clusters are large. Clusters with no
observed value get b_j from N(0, Psi), so systematically missing clusters need no special case.

All per-cluster work is by segment sums over the rows' cluster codes, so nothing is padded.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..linalg import cross_products as design_gram
from ..linalg import select_predictors
from ..models.lmm import LmmStats, PlsSolution, cross_products, solve_pls_factor
from ..models.small import cholesky, solve_lower, solve_lower_transposed
from ..models.structure import ReArrays, ReShape
from .base import Target, VisitInputs

MULTILEVEL_CODES = frozenset({0, 1, 2, 3, 4})


def distributions():
    """``numpyro.distributions``, imported on first use (at trace time): importing NumPyro
    costs ``import jaxmice`` 0.3 s, which single-level runs need not pay."""
    import numpyro.distributions

    return numpyro.distributions


class TwoLevelDesign(NamedTuple):
    """The mixed model's design at one visit.

    Attributes:
        x: f[n, F] fixed effects: the design columns (zero where not a predictor of the
            target), then the cluster means of the columns coded 3 or 4.
        keep: bool[F] fixed-effect columns in use.
        z: f[n, q] random effects: the intercept, then the columns coded 2 or 4.
        re: the random-effects structure (one block per cluster).
        shape: its static sizes.
    """

    x: jax.Array
    keep: jax.Array
    z: jax.Array
    re: ReArrays
    shape: ReShape


def cluster_means(values: jax.Array, cluster: jax.Array, n_clusters: int) -> jax.Array:
    """Each row's cluster mean of ``values: f[n, k]`` (over all rows of the cluster): f[n, k]."""
    total = jax.ops.segment_sum(values, cluster, n_clusters)
    count = jax.ops.segment_sum(jnp.ones_like(values[:, :1]), cluster, n_clusters)
    return (total / jnp.maximum(count, 1.0))[cluster]


def random_structure(cluster: jax.Array, q: int, n_clusters: int) -> tuple[ReArrays, ReShape]:
    """One block of ``q`` correlated random effects per cluster."""
    tri = [(r, c) for c in range(q) for r in range(c, q)]
    column = [tri.index((c, c)) for _, c in tri]
    re = ReArrays(
        block=cluster.astype(jnp.int32),
        zcol=jnp.broadcast_to(jnp.arange(q, dtype=jnp.int32), (cluster.shape[0], q)),
        lambda_rows=jnp.asarray(np.array([r for r, _ in tri], np.int32)),
        lambda_cols=jnp.asarray(np.array([c for _, c in tri], np.int32)),
        lambda_theta=jnp.arange(len(tri), dtype=jnp.int32),
        theta_column=jnp.asarray(np.array(column, np.int32)),
    )
    return re, ReShape(n_blocks=n_clusters, block_size=q, n_theta=len(tri))


def two_level_design(inputs: VisitInputs, target: Target) -> TwoLevelDesign:
    """The fixed and random designs of ``target`` at this visit (see the module docstring)."""
    codes, x = inputs.codes, inputs.x
    n_slopes = target.n_random - 1
    slopes = jnp.nonzero((codes == 2) | (codes == 4), size=n_slopes, fill_value=0)[0]
    z = jnp.concatenate([jnp.ones_like(x[:, :1]), x[:, slopes]], axis=1)
    fixed, keep = x * inputs.keep, inputs.keep
    if target.n_means:
        with_means = jnp.nonzero((codes == 3) | (codes == 4), size=target.n_means,
                                 fill_value=0)[0]
        means = cluster_means(x[:, with_means], inputs.cluster, target.n_clusters)
        fixed = jnp.concatenate([x, means], axis=1)
        # a cluster mean can duplicate a column (a cluster-level predictor is its own mean):
        # select again over the whole design, dropping means that add nothing
        candidate = jnp.concatenate([inputs.keep, jnp.ones(target.n_means, bool)])
        gram = design_gram(fixed, inputs.ry.astype(fixed.dtype))
        keep = select_predictors(gram, candidate).keep
        fixed = fixed * keep
    re, shape = random_structure(inputs.cluster, target.n_random, target.n_clusters)
    return TwoLevelDesign(x=fixed, keep=keep, z=z, re=re, shape=shape)


def fitting_stats(design: TwoLevelDesign, y: jax.Array, w: jax.Array) -> LmmStats:
    """Cross products over rows weighted by ``w: f[n]``, with unused fixed columns inert
    (an identity block, so they get a coefficient that multiplies a zero column)."""
    stats = cross_products(y, design.x, design.z, w, design.re, design.shape)
    both = design.keep[:, None] & design.keep[None, :]
    eye = jnp.eye(design.keep.shape[0], dtype=y.dtype)
    return stats._replace(xtx=jnp.where(both, stats.xtx, eye),
                          xty=jnp.where(design.keep, stats.xty, 0.0),
                          ztx=jnp.where(design.keep, stats.ztx, 0.0))


def scale_stats(stats: LmmStats, factor: jax.Array) -> LmmStats:
    """Cross products with every row weight multiplied by ``factor`` (row count unchanged)."""
    return LmmStats(*(s * factor for s in stats[:-1]), stats.n)


def draw_effects(key: jax.Array, lam: jax.Array, stats: LmmStats
                 ) -> tuple[jax.Array, jax.Array, PlsSolution]:
    """Draw ``(beta, b)`` jointly given the variance parameters.

    ``stats`` are cross products weighted by ``1 / sigma_i^2``, so the residual variance is 1
    and ``lam`` is the Cholesky factor of ``Psi``.

    Returns:
        ``beta: f[F]``, ``b: f[J, q]`` and the penalised least-squares solution (whose
        ``beta`` and ``u`` are the conditional posterior means).
    """
    k_beta, k_u = jax.random.split(key)
    sol = solve_pls_factor(lam, stats)
    z_beta = jax.random.normal(k_beta, sol.beta.shape, sol.beta.dtype)
    beta = sol.beta + solve_lower_transposed(sol.chol_x, z_beta[:, None])[:, 0]
    z_u = jax.random.normal(k_u, sol.u.shape, sol.u.dtype)
    u = solve_lower_transposed(sol.chol_z, (sol.cu - sol.cx @ beta + z_u)[..., None])[..., 0]
    return beta, u @ lam.T, sol


def linear_predictor(design: TwoLevelDesign, beta: jax.Array, b: jax.Array,
                     cluster: jax.Array) -> jax.Array:
    """``x beta + z b_j``: f[n]."""
    return design.x @ beta + jnp.sum(design.z * b[cluster], axis=1)


def draw_inverse_wishart(key: jax.Array, df: jax.Array, scale: jax.Array) -> jax.Array:
    """``Psi ~ IW(df, scale)``, as the inverse of a Wishart(df, scale^-1) draw (NumPyro)."""
    q = scale.shape[0]
    eye = jnp.eye(q, dtype=scale.dtype)
    inv_chol = solve_lower(cholesky(scale), eye)  # scale^-1 = inv_chol' inv_chol
    precision_tril = cholesky(inv_chol.T @ inv_chol)
    wishart_tril = distributions().WishartCholesky(df, scale_tril=precision_tril).sample(key)
    inv = solve_lower(wishart_tril, eye)
    return inv.T @ inv


def prior_scales(y: jax.Array, z: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Scale-free weak priors: ``s_y^2`` (observed variance of y) and the inverse-Wishart scale
    ``diag(s_y^2 / s_k^2)`` for the random effects (``s_k``: sd of z column k; 1 for the
    intercept), so that results do not depend on the units of y or of the slopes' variables."""
    total = jnp.maximum(w.sum(), 1.0)
    mean_y = (w @ y) / total
    var_y = jnp.maximum((w @ (y - mean_y) ** 2) / jnp.maximum(total - 1.0, 1.0), 1e-12)
    mean_z = (w @ z) / total
    var_z = (w @ (z - mean_z) ** 2) / total
    var_z = jnp.where(var_z > 1e-12, var_z, 1.0).at[0].set(1.0)
    return var_y, jnp.diag(var_y / var_z)


class PanState(NamedTuple):
    """Variance parameters carried between visits: ``psi: f[q, q]``, ``sigma2: f[]``."""

    psi: jax.Array
    sigma2: jax.Array


class PanDraw(NamedTuple):
    """One Gibbs sweep's draws and the conditional means they came from."""

    state: PanState
    beta: jax.Array
    b: jax.Array
    sol: PlsSolution


def pan_init(inputs: VisitInputs, target: Target) -> PanState:
    """Start of the homoscedastic Gibbs sampler: half the variance of y to each level."""
    design = two_level_design(inputs, target)
    var_y, psi_scale = prior_scales(inputs.y, design.z, inputs.ry.astype(inputs.y.dtype))
    return PanState(psi=0.5 * psi_scale, sigma2=0.5 * var_y)


def pan_sweep(key: jax.Array, state: PanState, design: TwoLevelDesign, stats: LmmStats,
              y: jax.Array, w: jax.Array, cluster: jax.Array) -> PanDraw:
    """One Gibbs sweep of the homoscedastic model (2l.pan): (beta, b) | Psi, sigma^2 jointly,
    then Psi | b (inverse-Wishart), then sigma^2 | beta, b (inverse-gamma).

    Priors (pan's, made scale-free): Psi ~ IW(q, diag(s_y^2 / s_k^2)); sigma^2 ~ IG(1/2,
    s_y^2 / 2).

    Args:
        stats: cross products over the observed rows (unweighted by sigma).
        y: f[n]; w: f[n] 1 on observed rows; cluster: i[n].
    """
    k_eff, k_psi, k_sigma = jax.random.split(key, 3)
    var_y, psi_scale = prior_scales(y, design.z, w)
    lam = cholesky(state.psi)
    beta, b, sol = draw_effects(k_eff, lam, scale_stats(stats, 1.0 / state.sigma2))
    q = b.shape[1]
    psi = draw_inverse_wishart(k_psi, q + design.shape.n_blocks, psi_scale + b.T @ b)
    resid = (y - linear_predictor(design, beta, b, cluster)) * w
    posterior = distributions().InverseGamma(0.5 * (1.0 + w.sum()), 0.5 * (var_y + resid @ resid))
    sigma2 = posterior.sample(k_sigma)
    return PanDraw(PanState(psi=psi, sigma2=sigma2), beta, b, sol)


def repeat_sweeps(sweep, key: jax.Array, state, sweeps: int):
    """Run ``sweep(key, state) -> (new_state, ...)`` ``sweeps`` times from ``state``.

    The first sweep is traced outside a ``lax.scan`` (it fixes the output's structure); the
    rest run inside it, so the program does not grow with ``sweeps``.
    """
    out = sweep(jax.random.fold_in(key, 0), state)
    if sweeps > 1:
        def body(carry, i):
            return sweep(jax.random.fold_in(key, i), carry[0]), None

        out, _ = jax.lax.scan(body, out, jnp.arange(1, sweeps))
    return out


def run_pan(key: jax.Array, state: PanState, inputs: VisitInputs, target: Target,
            sweeps: int) -> tuple[TwoLevelDesign, PanDraw]:
    """``sweeps`` Gibbs sweeps of 2l.pan's model from ``state`` (warm start)."""
    design = two_level_design(inputs, target)
    w = inputs.ry.astype(inputs.y.dtype)
    stats = fitting_stats(design, inputs.y, w)

    def sweep(k, current):
        return pan_sweep(k, current, design, stats, inputs.y, w, inputs.cluster)

    return design, repeat_sweeps(sweep, key, state, sweeps)


def finite(*arrays: jax.Array) -> jax.Array:
    """bool[]: every entry of every array is finite."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in arrays]))
