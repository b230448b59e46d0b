"""Building blocks shared by the multilevel (``2l.*``) imputation methods.

The linear mixed model imputed from is

    y_i = x_i' beta + z_i' b_j(i) + e_i,   b_j ~ N(0, Psi),   e_i ~ N(0, sigma_j(i)^2),

with ``x`` the target's predictors (codes 1-4) plus the cluster means of those coded 3 or 4
(computed on the current completed data), and ``z`` the intercept plus the predictors coded 2
or 4. Fixed and random effects are drawn *jointly* given the variance parameters, from the
penalised least-squares factor of the mixed-model engine (:mod:`jaxmice._src.numerics.lmm`): beta
from its marginal posterior, then each cluster's b_j given beta. This collapsed step mixes far
faster than alternating beta | b and b | beta when clusters are large. Clusters with no
observed value get b_j from N(0, Psi), so systematically missing clusters need no special case.

All per-cluster work is by segment sums over the rows' cluster codes, so nothing is padded.

Priors and starts of the Gibbs methods (2l.pan, 2l.norm, 2l.pmm). Psi has a hierarchical
inverse-Wishart prior (:class:`CovariancePrior`), by default the uniform-shrinkage prior: each
variance has density ``s0 / (s0 + Psi_kk)^2`` with ``s0`` the sampling variance of one
cluster's estimate of that effect, each correlation is uniform. Its scale comes from the data
(within-cluster variances, :class:`WithinScales`), so it is proper and unit-free, and it weighs
the same whatever the size of a component against var(y). ``psi_prior="half-t"`` gives Huang
and Wand's (2013) half-t(2) sds instead. The chain starts from EM estimates of Psi
(:func:`start_covariance`).

Evidence (tests/methods/test_random_effects_prior.py, scenario A: 30 or 60 clusters of 25 rows, a
random-slope variance of 0.09 against s_y^2 / s_x^2 of about 2, y 37% missing, m = 10,
maxit = 5): the pooled slope variance against the complete data's, 2l.pan, 150 replications
unless said otherwise (Monte Carlo SE 0.03 with 30 clusters, 0.02 with 60):

- IW(q, diag(s_y^2 / s_k^2)) (mice's pan prior) started at s_y^2 / 2: +25% (the issue, 60
  clusters with systematic missingness, 200 replications);
- half-t (Huang and Wand, A_k = 10 s_y / s_k), started at s_y^2 / 2: +27% (30), +20% (60);
- uniform shrinkage, started at s_y^2 / 2: +18% (30), +15% (60); with maxit = 20: +3% (60);
- started at the clusters' sampling variances: uniform shrinkage +5% (30), +4% (60), with
  maxit = 20 -2% (30); half-t +10% (30);
- started from EM: half-t +2% (30), +1% (60); uniform shrinkage (the default) -1% (30), -1%
  (60), and -2% (30), -2% (60) at 500 replications.

So most of the +25% was a chain that had not come down from its start in five iterations (one
sweep per visit moves a weakly identified variance as slowly as EM does); the prior's weight
did the rest. Started from EM both priors pass here; uniform shrinkage is the default because
its scale is tied to how much the data say about each component (the sampling variance of a
cluster's estimate) rather than to var(y), and its tail, ``s0 / psi^2``, offsets the right skew
of a variance's likelihood where few clusters inform it, while the half-t prior, flat on each
sd, adds to it (by a posterior-mean argument for a balanced random intercept: REML-like
``SSB / (J - 1)`` against ``SSB / (J - 4)``). With 10 or 15 large clusters the pooled tau^2 is
within 0.2% of the complete data's.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmice._src.numerics.linalg import (
    cholesky,
    lapack_cho_solve,
    lapack_cholesky,
    select_predictors,
    solve_lower,
    solve_lower_transposed,
)
from jaxmice._src.numerics.linalg import cross_products as design_gram
from jaxmice._src.numerics.lmm import (
    LmmStats,
    PlsSolution,
    conditional_covariance,
    cross_products,
    solve_pls_factor,
)
from jaxmice._src.numerics.random import gamma, inverse_gamma, wishart_cholesky
from jaxmice._src.numerics.structure import ReArrays, ReShape
from jaxmice.methods.base import Target, VisitInputs, real_clusters

MULTILEVEL_CODES = frozenset({0, 1, 2, 3, 4})


def random_effect_facts(codes: np.ndarray) -> dict[str, int]:
    """The static sizes a multilevel method reads from its visit's design codes ``codes: i[q]``
    (intercept first): ``n_random``, the intercept plus one random slope per column coded 2
    or 4, and ``n_means``, the columns coded 3 or 4 whose cluster means are added."""
    codes = np.asarray(codes)
    return dict(n_random=1 + int(np.isin(codes[1:], (2, 4)).sum()),
                n_means=int(np.isin(codes, (3, 4)).sum()))


class TwoLevelDesign(NamedTuple):
    """The mixed model's design at one visit.

    Attributes:
        x: f[n, F] fixed effects: the design columns (zero where not a predictor of the
            target), then the cluster means of the columns coded 3 or 4.
        keep: bool[F] fixed-effect columns in use.
        z: f[n, q] random effects: the intercept, then the columns coded 2 or 4.
        re: the random-effects structure (one block per cluster).
        shape: its static sizes.
        present: bool[J] the clusters that have rows (the others pad the size class:
            :func:`~jaxmice.methods.base.real_clusters`).
    """

    x: jax.Array
    keep: jax.Array
    z: jax.Array
    re: ReArrays
    shape: ReShape
    present: jax.Array


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
    return TwoLevelDesign(x=fixed, keep=keep, z=z, re=re, shape=shape,
                          present=real_clusters(inputs.cluster, target.n_clusters))


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
    """``Psi ~ IW(df, scale)``, as the inverse of a Wishart(df, scale^-1) draw."""
    q = scale.shape[0]
    eye = jnp.eye(q, dtype=scale.dtype)
    inv_chol = solve_lower(cholesky(scale), eye)  # scale^-1 = inv_chol' inv_chol
    precision_tril = cholesky(inv_chol.T @ inv_chol)
    wishart_tril = wishart_cholesky(key, df, precision_tril)
    inv = solve_lower(wishart_tril, eye)
    return inv.T @ inv


def prior_scales(stats: LmmStats) -> tuple[jax.Array, jax.Array]:
    """Units of the priors: ``s_y^2`` (observed variance of y) and ``s_y^2 / s_k^2: f[q]`` for
    each random effect (``s_k``: sd of z column k; 1 for the intercept), so that results do not
    depend on the units of y or of the slopes' variables.

    Args:
        stats: the cross products over the observed rows (:func:`fitting_stats`): every
            moment needed is a sum of them, so no pass over the rows is made.
    """
    total = jnp.maximum(stats.n, 1.0)
    sum_y = stats.zty[:, 0].sum()  # z's column 0 is the intercept
    var_y = jnp.maximum((stats.yty - sum_y**2 / total) / jnp.maximum(total - 1.0, 1.0), 1e-12)
    sum_z = stats.ztz[:, 0, :].sum(axis=0)
    sum_z2 = jnp.diagonal(stats.ztz, axis1=1, axis2=2).sum(axis=0)
    var_z = (sum_z2 - sum_z**2 / total) / total
    var_z = jnp.where(var_z > 1e-12, var_z, 1.0).at[0].set(1.0)
    return var_y, var_y / var_z


PSI_PRIORS = ("uniform-shrinkage", "half-t")
#: the default prior on Psi of the Gibbs methods (their option ``psi_prior``)
PSI_PRIOR = PSI_PRIORS[0]
#: the default number of Gibbs sweeps per visit (option ``sweeps``)
SWEEPS = 1


class CovariancePrior(NamedTuple):
    """A hierarchical inverse-Wishart prior on the random-effects covariance:

        Psi | s ~ IW(q + 1, diag(s)),   s_k ~ Gamma(shape, rate_k).

    With ``q + 1`` degrees of freedom every correlation is uniform on (-1, 1) and each
    variance ``Psi_kk | s_k ~ IG(1, s_k / 2)``, so ``2 rate_k Psi_kk`` is beta-prime(shape, 1):

    - ``shape = 1``, ``rate_k = 1 / (2 s0_k)``: the uniform-shrinkage prior (Daniels 1999;
      Natarajan and Kass 2000), density ``s0_k / (s0_k + Psi_kk)^2``, i.e. uniform on the
      shrinkage factor ``s0_k / (s0_k + Psi_kk)``, with ``s0_k`` the sampling variance of one
      cluster's estimate of effect k.
    - ``shape = 1/2``, ``rate_k = 1 / (4 A_k^2)``: Huang and Wand's (2013) prior, each sd
      half-t(2, A_k).

    Attributes:
        shape: f[] the Gamma shape of the scales.
        rate: f[q] their rates.
    """

    shape: jax.Array
    rate: jax.Array


# Huang and Wand's half-t scale A_k = HALF_T_SCALE * s_y / s_k: ten times the largest sd a
# random effect could have (all of y's variance in it), so the prior is flat where data lie
HALF_T_SCALE = 10.0


class WithinScales(NamedTuple):
    """Data-based scales of the variance parameters, from the observed rows.

    Attributes:
        sigma2: f[] the pooled within-cluster residual variance of y (y and the fixed design
            centred within clusters, then least squares): close to sigma^2 whatever the
            between-cluster structure.
        sampling: f[q] ``sigma2 mean_j(1 / n_j) / v_k``, the sampling variance of one
            cluster's estimate of random effect k: ``n_j`` the observed rows of cluster j
            (clusters with any), ``v_k`` the pooled within-cluster variance of z column k
            (1 for the intercept).
    """

    sigma2: jax.Array
    sampling: jax.Array


# a column whose within-cluster sum of squares is below this share of its raw sum of squares
# is constant within clusters (the intercept, cluster-level variables): rounding in
# "total less between" stays far below it
WITHIN_TOL = 1e-9


def within_scales(stats: LmmStats, keep: jax.Array) -> WithinScales:
    """The :class:`WithinScales` from the cross products over the observed rows.

    Within-cluster sums of squares are the totals less the between-cluster parts (z's column 0
    is the intercept, so ``ztz[j, 0, 0]`` counts cluster j's rows and ``ztx[j, 0]``, ``zty[j,
    0]`` sum them): no pass over the rows. All scale with the data's units, so priors and
    starts built on them do not depend on the units.

    Args:
        stats: :func:`fitting_stats` over the observed rows; keep: bool[F] fixed columns used.
    """
    count = stats.ztz[:, 0, 0]
    has_obs = count > 0
    inv_count = jnp.where(has_obs, 1.0 / jnp.where(has_obs, count, 1.0), 0.0)
    sum_x, sum_y = stats.ztx[:, 0, :], stats.zty[:, 0]
    wxx = stats.xtx - jnp.einsum("j,ja,jb->ab", inv_count, sum_x, sum_x)
    wxy = stats.xty - jnp.einsum("j,ja,j->a", inv_count, sum_x, sum_y)
    wyy = stats.yty - jnp.sum(inv_count * sum_y**2)
    varies = keep & (jnp.diagonal(wxx) > WITHIN_TOL * jnp.diagonal(stats.xtx))
    both = varies[:, None] & varies[None, :]
    gram = jnp.where(both, wxx, 0.0)
    # least squares of within-centred y on within-centred x, with mice's small ridge
    penalised = gram + jnp.diag(1e-5 * jnp.diagonal(gram) + (~varies).astype(gram.dtype))
    factor = lapack_cholesky(penalised)  # LAPACK: a fixed design of any width compiles fast
    coef = jnp.where(varies, lapack_cho_solve(factor, jnp.where(varies, wxy, 0.0)[:, None])[:, 0],
                     0.0)
    rss = wyy - 2.0 * coef @ wxy + coef @ gram @ coef
    dof = jnp.maximum(stats.n - has_obs.sum() - varies.sum(), 1.0)
    sigma2 = jnp.maximum(rss / dof, 1e-12 * jnp.maximum(wyy / dof, 1e-300))
    zz = jnp.diagonal(stats.ztz, axis1=1, axis2=2)
    wzz = zz.sum(axis=0) - jnp.sum(inv_count[:, None] * stats.ztz[:, 0, :] ** 2, axis=0)
    dof_z = jnp.maximum(stats.n - has_obs.sum(), 1.0)
    var_z = jnp.where(wzz > WITHIN_TOL * zz.sum(axis=0), wzz / dof_z, 1.0).at[0].set(1.0)
    inv_n = inv_count.sum() / jnp.maximum(has_obs.sum(), 1)
    return WithinScales(sigma2=sigma2, sampling=sigma2 * inv_n / var_z)


def covariance_prior(kind: str, scales: WithinScales, unit: jax.Array) -> CovariancePrior:
    """The prior of ``kind`` (:data:`PSI_PRIORS`): uniform shrinkage with ``s0`` the sampling
    variances of :class:`WithinScales`, or half-t with ``A_k = HALF_T_SCALE * s_y / s_k``
    (``unit``: f[q] ``s_y^2 / s_k^2``, :func:`prior_scales`)."""
    dtype = scales.sigma2.dtype
    if kind == "half-t":
        return CovariancePrior(jnp.asarray(0.5, dtype), 1.0 / (4.0 * HALF_T_SCALE**2 * unit))
    if kind != "uniform-shrinkage":
        raise ValueError(f"psi_prior must be one of {PSI_PRIORS}, got {kind!r}")
    return CovariancePrior(jnp.asarray(1.0, dtype), 0.5 / scales.sampling)


class VisitPriors(NamedTuple):
    """What the Gibbs methods' priors need at one visit: Psi's prior, the within-cluster
    scales (for starting values) and ``s_y^2: f[]``."""

    psi: CovariancePrior
    scales: WithinScales
    var_y: jax.Array


def check_psi_prior(kind: str, target: Target) -> str:
    """The ``psi_prior`` option ``kind`` of ``target``'s method, checked when the method is
    bound, before anything is traced.

    Raises:
        ValueError: not one of :data:`PSI_PRIORS`, naming the column.
    """
    if kind not in PSI_PRIORS:
        raise ValueError(f"column {target.name!r}: psi_prior must be one of {PSI_PRIORS}, "
                         f"got {kind!r}")
    return kind


def visit_priors(stats: LmmStats, design: TwoLevelDesign, psi_prior: str) -> VisitPriors:
    """The priors at this visit: Psi's of kind ``psi_prior`` (:data:`PSI_PRIORS`), scales from
    the cross products over the observed rows (``stats``, :func:`fitting_stats`)."""
    var_y, unit = prior_scales(stats)
    scales = within_scales(stats, design.keep)
    return VisitPriors(covariance_prior(psi_prior, scales, unit), scales, var_y)


def draw_covariance(key: jax.Array, psi: jax.Array, b: jax.Array,
                    prior: CovariancePrior, present: jax.Array) -> jax.Array:
    """One Gibbs step for ``Psi`` under a :class:`CovariancePrior`: the scales ``s | Psi``,
    then ``Psi | s, b``, both conjugate.

    Unlike an inverse-Wishart with a fixed scale (mice's ``2l.pan`` takes ``diag(s_y^2)``),
    whose weight pulled a random-slope variance that is small against ``s_y^2 / s_x^2`` up by
    a quarter, the scales follow Psi's own size.

    Args:
        psi: f[q, q] the current draw (what ``s`` is drawn from).
        b: f[J, q] the random effects of all clusters (drawn).
        present: bool[J] the clusters that count (the others pad the size class).

    Returns:
        f[q, q] the new Psi.
    """
    k_s, k_psi = jax.random.split(key)
    q = b.shape[1]
    df = q + 1.0
    inv_diag = jnp.diagonal(_inverse(psi))
    scales = gamma(k_s, prior.shape + 0.5 * df, (q,), psi.dtype) / (
        prior.rate + 0.5 * inv_diag)
    b = b * present[:, None]
    return draw_inverse_wishart(k_psi, df + present.sum(), jnp.diag(scales) + b.T @ b)


def _inverse(psi: jax.Array) -> jax.Array:
    """``psi^-1`` of a small positive definite matrix, by its Cholesky factor."""
    inv_chol = solve_lower(cholesky(psi), jnp.eye(psi.shape[0], dtype=psi.dtype))
    return inv_chol.T @ inv_chol


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


START_EM_STEPS = 20


def start_covariance(design: TwoLevelDesign, stats: LmmStats, scales: WithinScales,
                     has_obs: jax.Array, steps: int = START_EM_STEPS) -> jax.Array:
    """A starting Psi: ``steps`` EM steps for Psi (sigma^2 held at the within-cluster
    estimate) from the diagonal of the clusters' sampling variances.

    Each step is ``Psi = mean_j (b_j b_j' + C_j)`` over the clusters with data (modes and
    conditional covariances). A start near the data matters: the Gibbs chain, one sweep per
    visit, moves a weakly identified variance as slowly as EM does, and started at half the
    variance of y (mice's pan starts there) a random-slope variance of 0.09 had not come down
    after maxit = 5 (pooled +15%; +3% after 20).

    Args:
        stats: cross products over the observed rows; has_obs: bool[J].

    Returns:
        f[q, q].
    """
    weighted = scale_stats(stats, 1.0 / scales.sigma2)
    n_obs = jnp.maximum(has_obs.sum(), 1).astype(stats.yty.dtype)

    def step(psi, _):
        lam = cholesky(psi)
        sol = solve_pls_factor(lam, weighted)
        b = (sol.u @ lam.T) * has_obs[:, None]
        cov = jnp.einsum("j,jab->ab", has_obs.astype(psi.dtype),
                         conditional_covariance(sol, jnp.asarray(1.0, psi.dtype)))
        new = (b.T @ b + cov) / n_obs
        # keep the start positive definite when a component is at the boundary
        floor = 1e-6 * jnp.diag(scales.sampling)
        return jnp.where(finite(new), new, psi) + floor, None

    psi, _ = jax.lax.scan(step, jnp.diag(scales.sampling), None, length=steps)
    return psi


def observed_clusters(inputs: VisitInputs, n_clusters: int) -> jax.Array:
    """bool[J]: clusters with at least one observed value of the target."""
    return jax.ops.segment_sum(inputs.ry.astype(jnp.int32), inputs.cluster, n_clusters) > 0


def pan_init(inputs: VisitInputs, target: Target, psi_prior: str) -> PanState:
    """Start of the homoscedastic Gibbs sampler: sigma^2 at the within-cluster residual
    variance, Psi from :func:`start_covariance` (``psi_prior``: see :func:`visit_priors`)."""
    design = two_level_design(inputs, target)
    stats = fitting_stats(design, inputs.y, inputs.ry.astype(inputs.y.dtype))
    scales = visit_priors(stats, design, psi_prior).scales
    psi = start_covariance(design, stats, scales, observed_clusters(inputs, target.n_clusters))
    return PanState(psi=psi, sigma2=scales.sigma2)


def pan_sweep(key: jax.Array, state: PanState, design: TwoLevelDesign, stats: LmmStats,
              y: jax.Array, w: jax.Array, cluster: jax.Array, prior: CovariancePrior,
              var_y: jax.Array) -> PanDraw:
    """One Gibbs sweep of the homoscedastic model (2l.pan): (beta, b) | Psi, sigma^2 jointly,
    then Psi | b (inverse-Wishart), then sigma^2 | beta, b (inverse-gamma).

    Priors (unit-free): Psi as :class:`CovariancePrior`; sigma^2 ~ IG(1/2,
    s_y^2 / 2), whose weight, one pseudo-observation of size s_y^2 against the observed rows,
    is negligible whatever the scale.

    Args:
        stats: cross products over the observed rows (unweighted by sigma).
        y: f[n]; w: f[n] 1 on observed rows; cluster: i[n].
        prior: Psi's prior; var_y: f[] s_y^2 (:func:`prior_scales`).
    """
    k_eff, k_psi, k_sigma = jax.random.split(key, 3)
    lam = cholesky(state.psi)
    beta, b, sol = draw_effects(k_eff, lam, scale_stats(stats, 1.0 / state.sigma2))
    psi = draw_covariance(k_psi, state.psi, b, prior, design.present)
    resid = (y - linear_predictor(design, beta, b, cluster)) * w
    sigma2 = inverse_gamma(k_sigma, 0.5 * (1.0 + w.sum()), 0.5 * (var_y + resid @ resid))
    return PanDraw(PanState(psi=psi, sigma2=sigma2), beta, b, sol)


def repeat_sweeps(sweep, key: jax.Array, state, sweeps: int, state_of=None):
    """Run ``sweep(key, state) -> out`` ``sweeps`` times from ``state``, each sweep from
    ``state_of(out)`` of the one before (default: ``out[0]``; ``out`` itself for a sweep that
    returns its state), the keys ``fold_in(key, 0 .. sweeps - 1)``.

    The first sweep is traced outside a ``lax.scan`` (it fixes the output's structure); the
    rest run inside it, so the program does not grow with ``sweeps``.
    """
    state_of = state_of or (lambda out: out[0])
    out = sweep(jax.random.fold_in(key, 0), state)
    if sweeps > 1:
        def body(carry, i):
            return sweep(jax.random.fold_in(key, i), state_of(carry)), None

        out, _ = jax.lax.scan(body, out, jnp.arange(1, sweeps))
    return out


def run_pan(key: jax.Array, state: PanState, inputs: VisitInputs, target: Target,
            sweeps: int, psi_prior: str) -> tuple[TwoLevelDesign, PanDraw]:
    """``sweeps`` Gibbs sweeps of 2l.pan's model from ``state`` (warm start), Psi's prior of
    kind ``psi_prior``."""
    design = two_level_design(inputs, target)
    w = inputs.ry.astype(inputs.y.dtype)
    stats = fitting_stats(design, inputs.y, w)
    priors = visit_priors(stats, design, psi_prior)

    def sweep(k, current):
        return pan_sweep(k, current, design, stats, inputs.y, w, inputs.cluster, priors.psi,
                         priors.var_y)

    return design, repeat_sweeps(sweep, key, state, sweeps)


def finite(*arrays: jax.Array) -> jax.Array:
    """bool[]: every entry of every array is finite."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in arrays]))
