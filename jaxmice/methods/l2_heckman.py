"""``2l.heckman`` (also ``2l.2stage.heckman``, micemd's name): multilevel Heckman selection
model imputation for an outcome missing not at random (Muñoz et al. 2024).

Predictor codes: -2 the cluster; 1 or 2 both equations; -3 the selection equation only (the
exclusion restriction, e.g. an interviewer's effort or the time of the survey); -4 the outcome
equation only. Without a cluster it is the single-level Heckman model.

Each visit:

1. Fits every cluster's bivariate selection model (probit selection, normal or probit
   outcome, correlation rho) by maximum likelihood, all clusters at once
   (:mod:`.selection`), under a weak N(0, 5^2) prior on atanh(rho) that keeps a small
   cluster without an exclusion restriction finite. A fit counts only if it converged with a
   positive definite Hessian and a small gradient; the others are treated as systematically
   missing (counted in the log). A cluster with no observed outcome is systematically
   missing; one whose every row is observed has no selection information: its outcome
   equation is fitted alone, and its selection parameters and rho come from the population.
   Both are logged before the run.
2. Meta-analyses the clusters' ``beta_S``, ``beta_O``, ``log sigma`` and ``atanh rho``, each
   block on its own as micemd does (:func:`jaxmice.meta.meta_analysis`, ``meta_method``
   "reml", "ml" or "mm"), draws the population mean and between-cluster covariance of each
   from their approximate posterior (:func:`jaxmice.meta.draw_parameters`), then each
   cluster's parameters from their posterior given its own fit
   (:func:`jaxmice._src.numerics.meta.draw_study_effects`); a cluster without a fit draws from the
   population. With fewer than two clusters whose pattern allows a fit, every cluster draws
   from one Heckman model fitted to all rows (micemd does the same).
3. Imputes each missing outcome from its exact conditional distribution given that it was not
   selected: a truncated bivariate normal (:func:`.selection.draw_unselected`). micemd
   instead adds the conditional mean shift ``-rho sigma phi(a) / Phi(-a)`` to the outcome
   equation and normal noise of variance sigma^2, which is too wide by the factor the
   truncation removes, ``1 - rho^2 delta(a)``; for a binary outcome both use the exact
   probability.

Clusters without any observed value (systematically missing, as a study that did not measure
the variable) are imputed from the outcome model with their drawn parameters, not conditioned
on non-selection: their values are missing by design, not by the selection process
(``systematic="design"``, the default). micemd conditions them on non-selection like every
other missing value, which pulls them towards the low side when rho > 0;
``systematic="selection"`` does the same here.

Options: ``pmm`` (default False) matches each draw to the nearest observed outcomes (5 donors)
and imputes a donor's value; ``meta_method`` (default "reml"); ``systematic`` (above).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmice._src.core.schema import Column
from jaxmice._src.numerics.linalg import lapack_eigvalsh
from jaxmice._src.numerics.meta import METHODS as META_METHODS
from jaxmice._src.numerics.meta import draw_parameters, draw_study_effects, meta_analysis, psd_sqrt
from jaxmice.methods.base import (
    Draw,
    Imputer,
    MethodInfo,
    Target,
    VisitInputs,
    real_clusters,
    rows_present,
)
from jaxmice.methods.pmm import DONORS, match
from jaxmice.methods.selection import (
    Equations,
    draw_unselected,
    equations,
    fit_clusters,
    free_parameters,
)

#: predictor codes 2l.heckman accepts besides the cluster's -2
HECKMAN_CODES = frozenset({0, 1, 2, -3, -4})


class Categories(NamedTuple):
    """What each group's fit estimates (bool[G]): everything, or the outcome equation alone."""

    full: jax.Array
    outcome_only: jax.Array


def categories(s: jax.Array, group: jax.Array, n_groups: int, eq: Equations) -> Categories:
    """Which groups can be fitted, from their counts of selected and unselected rows: the
    outcome equation needs two rows beyond its coefficients, the selection equation an
    unselected row and one row beyond its coefficients."""
    w = s.astype(jnp.float32)
    n = jax.ops.segment_sum(jnp.ones_like(w), group, n_groups)
    n_sel = jax.ops.segment_sum(w, group, n_groups)
    q_out, q_sel = eq.outcome.sum(), eq.selection.sum()
    outcome_fits = n_sel >= q_out + 2
    return Categories(full=outcome_fits & (n_sel < n) & (n >= q_sel + q_out + 3),
                      outcome_only=outcome_fits & (n_sel == n))


def _block_inputs(theta: jax.Array, cov: jax.Array, dims: jax.Array, included: jax.Array
                  ) -> tuple[jax.Array, jax.Array]:
    """One block's estimates f[J, b] and covariances f[J, b, b] for the meta-analysis: the
    parameters at ``dims`` (i[b]), with unused and unfitted entries neutral (0 and I)."""
    est = theta[:, dims]
    sub = cov[:, dims[:, None], dims[None, :]]
    eye = jnp.eye(dims.shape[0], dtype=theta.dtype)
    return (jnp.where(included[:, None], est, 0.0),
            jnp.where(included[:, None, None], sub, eye))


#: the meta-analyses' stopping tolerance: Psi is drawn from its uncertainty, so an optimum
#: to a relative decrement of 1e-9 (metafor's agreement needs 1e-13) is plenty
META_TOL = 1e-9
#: a draw of a block's Psi whose largest eigenvalue exceeds this multiple of the estimate's is
#: replaced by the estimate
PSI_DRAW_LIMIT = 10.0
#: how a cluster without any observed value is imputed (option ``systematic``)
SYSTEMATIC = ("design", "selection")


def make(target: Target, *, pmm: bool = False, meta_method: str = "reml",
         systematic: str = "design") -> Imputer:
    """Bind ``2l.heckman`` to a continuous or binary target."""
    if systematic not in SYSTEMATIC:
        raise ValueError(f"2l.heckman for column {target.name!r}: systematic must be one of "
                         f"{SYSTEMATIC}, got {systematic!r}")
    if meta_method not in META_METHODS:
        raise ValueError(f"2l.heckman for column {target.name!r}: meta_method must be one of "
                         f"{META_METHODS}, got {meta_method!r}")
    if not isinstance(pmm, (bool, np.bool_)):
        raise ValueError(f"2l.heckman for column {target.name!r}: pmm must be True or False, "
                         f"got {pmm!r}")
    gaussian = target.kind == "continuous"
    if pmm and not gaussian:
        raise ValueError(f"2l.heckman for column {target.name!r}: pmm matches continuous "
                         "outcomes; a binary outcome is drawn from its exact probability")
    n_clusters = target.n_clusters

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        k_meta, k_effects, k_pooled, k_y, k_pmm = jax.random.split(key, 5)
        x, y, s = inputs.x, inputs.y, inputs.ry
        n, q = x.shape
        eq = equations(inputs.codes, inputs.keep, gaussian)
        free_all = free_parameters(eq)
        groups = max(n_clusters, 1)
        # with fewer than two clusters whose pattern allows a fit (or no cluster at all), one
        # model is fitted to all rows (group 0), and every cluster draws from it, as micemd
        # does; the pattern is the same in every chain, so this costs no second fit
        by_cluster = categories(s, inputs.cluster, groups, eq)
        no_value = jax.ops.segment_sum(s.astype(jnp.int32), inputs.cluster, groups) == 0
        pooled = ((by_cluster.full.sum() < 2) | ((by_cluster.full | by_cluster.outcome_only)
                                                 .sum() < 2)) if n_clusters else True
        # a padded row (:attr:`VisitInputs.present`) stays outside every group
        group = jnp.where(pooled, jnp.where(rows_present(inputs), 0, groups), inputs.cluster)
        cat = categories(s, group, groups, eq)
        out_free = jnp.concatenate([jnp.zeros(q, bool), eq.outcome,
                                    jnp.array([gaussian, False])])
        free = jnp.where(cat.full[:, None], free_all,
                         jnp.where(cat.outcome_only[:, None], out_free, False))
        fits = fit_clusters(x, y, s, group, groups, eq, free)
        full_ok = cat.full & fits.ok
        outcome_ok = (cat.full | cat.outcome_only) & fits.ok

        # the pooled model: one parameter draw shared by every row
        pooled_theta = fits.theta[0] + psd_sqrt(fits.covariance[0]) @ jax.random.normal(
            k_pooled, (2 * q + 2,), x.dtype) * free[0]
        theta_row = jnp.broadcast_to(pooled_theta, (n, 2 * q + 2))
        usable = full_ok[0]
        fallback = jnp.int32(0)
        if n_clusters:
            theta, cov = fits.theta, fits.covariance
            sel_c, out_c = full_ok, outcome_ok
            # the vector blocks (beta_S, beta_O) and the scalar ones (log sigma, atanh rho),
            # each pair meta-analysed by one vmapped call
            vec_dims = jnp.stack([jnp.arange(q), q + jnp.arange(q)])
            vec_in = jnp.stack([sel_c, out_c])
            vec_mask = jnp.stack([eq.selection, eq.outcome])
            sca_dims = jnp.array([[2 * q], [2 * q + 1]])
            sca_in = jnp.stack([out_c & gaussian, sel_c])

            def block(key, dims, included, structure):
                est, v = _block_inputs(theta, cov, dims, included)
                fit = meta_analysis(est, v, method=meta_method, included=included,
                                    structure=structure, tol=META_TOL)
                k_par, k_eff = jax.random.split(key)
                mu, psi = draw_parameters(k_par, fit)
                # with a handful of clusters Psi's uncertainty is huge and a draw of it can be
                # absurd: one more than PSI_DRAW_LIMIT times the estimate's scale is replaced
                # by the estimate (micemd's guard in its two-stage methods)
                scale = lapack_eigvalsh(fit.psi)[-1]
                wild = lapack_eigvalsh(psi)[-1] > PSI_DRAW_LIMIT * scale
                psi = jnp.where(wild, fit.psi, psi)
                return draw_study_effects(k_eff, mu, psi, est, v, included), fit.converged

            vec_draws, vec_conv = jax.vmap(block)(
                jax.random.split(k_meta, 2), vec_dims, vec_in,
                vec_mask[:, :, None] & vec_mask[:, None, :])
            sca_draws, sca_conv = jax.vmap(block)(
                jax.random.split(k_effects, 2), sca_dims, sca_in,
                jnp.stack([jnp.array([[gaussian]]), jnp.array([[True]])]))
            drawn = jnp.concatenate([vec_draws[0] * eq.selection, vec_draws[1] * eq.outcome,
                                     sca_draws[0] * gaussian, sca_draws[1]], axis=1)
            meta_ok = ((sel_c.sum() >= 2) & (out_c.sum() >= 2) & vec_conv.all()
                       & (sca_conv[0] | (not gaussian)) & sca_conv[1])
            theta_row = jnp.where(pooled, theta_row, drawn[inputs.cluster])
            usable = jnp.where(pooled, usable, meta_ok)
            attempted = cat.full | cat.outcome_only
            failed = (attempted & ~outcome_ok) | (cat.full & ~full_ok)
            clusters = real_clusters(inputs.cluster, n_clusters).sum()  # not the class's
            fallback = jnp.where(pooled, clusters, failed.sum()).astype(jnp.int32)
        beta_s, beta_o = theta_row[:, :q] * eq.selection, theta_row[:, q:2 * q] * eq.outcome
        sigma = jnp.where(gaussian, jnp.exp(theta_row[:, 2 * q]), 1.0)
        rho = jnp.tanh(theta_row[:, 2 * q + 1])
        a, b = jnp.sum(x * beta_s, axis=1), jnp.sum(x * beta_o, axis=1)
        if n_clusters and systematic == "design":
            # a cluster without any observed value did not measure the variable: its rows
            # were never subject to selection, so they draw from the outcome model itself
            # (an unbounded selection latent)
            a = jnp.where(no_value[inputs.cluster], -jnp.inf, a)
        values = draw_unselected(k_y, a, b, sigma, rho, gaussian, inputs.delta)
        if pmm:
            values = y[match(k_pmm, y, s, values, DONORS)]
        ok = usable & jnp.all(jnp.isfinite(values) | ~inputs.wy)
        return Draw(values=values, state=state, ok=ok, fallback=fallback)

    return Imputer(init=None, draw=draw)


def cluster_notes(ry: np.ndarray, cluster: np.ndarray, n_clusters: int, codes: np.ndarray
                  ) -> list[tuple[int, str]]:
    """The clusters whose own rows cannot fit the selection model (see :func:`categories`)."""
    q_out = int(np.isin(codes, (1, 2, -4)).sum())
    q_sel = int(np.isin(codes, (1, 2, -3)).sum())
    n = np.bincount(cluster, minlength=n_clusters)
    n_sel = np.bincount(cluster, weights=ry, minlength=n_clusters).astype(int)
    notes = []
    for k in range(n_clusters):
        if n_sel[k] == 0:
            notes.append((k, "no observed value (systematically missing): its parameters are "
                             "drawn from the population distribution"))
        elif n_sel[k] < q_out + 2:
            notes.append((k, f"{n_sel[k]} observed values, too few for the outcome equation's "
                             f"{q_out} coefficients: treated as systematically missing"))
        elif n_sel[k] == n[k]:
            notes.append((k, "every value observed, so no selection information: its selection "
                             "parameters and rho are drawn from the population, its outcome "
                             "equation is fitted to its own rows"))
        elif n[k] < q_sel + q_out + 3:
            notes.append((k, f"{n[k]} rows, too few for the selection model's "
                             f"{q_sel + q_out + 2} parameters: treated as systematically "
                             "missing"))
    return notes


def check_row(column: Column, row: np.ndarray, names: tuple) -> None:
    """A binary outcome is coded 0/1 (or has two labels), and without a predictor in the
    selection equation only the model is identified by normality alone (a warning).

    Raises:
        ValueError: a numeric binary outcome coded other than 0/1, naming the column.
    """
    name = column.name
    if column.kind == "binary" and column.numeric and not set(column.levels) <= {0, 1}:
        raise ValueError(
            f"2l.heckman for column {name!r}: a binary outcome must be coded 0/1 (or hold two "
            f"labels, e.g. a two-level category), got the values {list(column.levels)}; "
            "recode it, e.g. df[col] = (df[col] == high).astype(float)")
    if not (row == -3).any():
        warnings.warn(
            f"2l.heckman for column {name!r}: no predictor has code -3 (selection equation "
            "only), so there is no exclusion restriction and the selection model is "
            "identified by the normality assumption alone; give a variable that affects "
            "whether the value is observed but not the value itself code -3",
            UserWarning, stacklevel=2)


METHOD = MethodInfo(
    name="2l.heckman", kinds=frozenset({"continuous", "binary"}), make=make,
    optional_cluster=True, allowed_codes=HECKMAN_CODES, delta=True,
    cluster_notes=cluster_notes, check_row=check_row,
    description="Heckman selection model per cluster, meta-analysed (MNAR)",
)
#: micemd's name for the same method
ALIASES = (MethodInfo(
    name="2l.2stage.heckman", kinds=METHOD.kinds, make=make, optional_cluster=True,
    allowed_codes=HECKMAN_CODES, delta=True, cluster_notes=cluster_notes, check_row=check_row,
    description="= 2l.heckman (micemd's name)",
),)
