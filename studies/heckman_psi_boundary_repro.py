"""Reproduction: 2l.heckman's population draws of Psi can be huge when a Cholesky element of
the REML between-cluster covariance sits at its boundary (0).

Replication 137 of the cell con-rho0.3-sys of ``heckman_reps.py`` (continuous outcome, rho =
0.3, clusters 2 and 6 wholly missing; cluster 5's selection fit fails). The outcome
equation's true between-cluster covariance has only the intercept's variance (0.09); the
REML fit over the 7 fitted clusters puts the x2 slope's Cholesky diagonal at 0 with an
inverse observed information of about 4.5^2 (the likelihood is flat in that element near 0),
so ``meta.draw_parameters`` draws Psi[x2, x2] around 7 (median; 99th percentile ~150) when
the per-cluster SE of the slope is 0.08. Clusters that draw from the population (the two
wholly missing ones, and any whose fit failed) then get x2 slopes of +-5 to 30 and imputed
values up to |y| ~ 100; the pooled x2 is 0.73 (truth -0.3) with fmi 0.999.

    python studies/heckman_psi_boundary_repro.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
import heckman_simulation as hs  # noqa: E402  (the tests' design, run large here)
import jax
import jax.numpy as jnp
import numpy as np

from jaxmice._src.numerics.meta import draw_parameters, meta_analysis
from jaxmice.methods.l2_heckman import categories
from jaxmice.methods.selection import equations, fit_clusters, free_parameters


def main() -> None:
    """Draw the replication, fit the clusters and the meta-analysis, print the Psi draws."""
    jax.config.update("jax_enable_x64", True)
    np.set_printoptions(precision=3, suppress=True, linewidth=150)
    cell, rep, q = hs.Cell("continuous", 0.3, True), 137, 4
    _, df = hs.generate(np.random.default_rng([cell.seed, rep]), cell)
    x = jnp.asarray(np.column_stack([np.ones(len(df)), df.x1, df.x2, df.z]))
    s = jnp.asarray(df.y.notna().to_numpy())
    y = jnp.asarray(df.y.fillna(0.0).to_numpy())
    g = jnp.asarray(df.g.to_numpy())
    eq = equations(jnp.array([1, 1, 1, -3]), jnp.ones(q, bool), True)
    cat = categories(s, g, hs.N_CLUSTERS, eq)
    free = jnp.where(cat.full[:, None], free_parameters(eq), False)
    fits = fit_clusters(x, y, s, g, hs.N_CLUSTERS, eq, free)
    used = cat.full & fits.ok
    print("clusters in the meta-analysis:", np.flatnonzero(np.asarray(used)))
    dims = q + jnp.arange(q)  # the outcome equation's coefficients (intercept, x1, x2, z)
    est = jnp.where(used[:, None], fits.theta[:, dims], 0.0)
    cov = jnp.where(used[:, None, None], fits.covariance[:, dims[:, None], dims[None, :]],
                    jnp.eye(q))
    mask = np.asarray(eq.outcome)
    fit = meta_analysis(est, cov, method="reml", included=used,
                        structure=jnp.asarray(mask[:, None] & mask[None, :]))
    print("REML Psi diagonal:", np.diag(np.asarray(fit.psi)))
    print("psi_par (Cholesky, row by row):", np.asarray(fit.psi_par))
    print("sd of psi_par:", np.sqrt(np.maximum(np.diag(np.asarray(fit.psi_par_cov)), 0.0)))
    keys = jax.random.split(jax.random.PRNGKey(0), 200)
    draws = np.array([np.diag(np.asarray(draw_parameters(k, fit)[1])) for k in keys])
    print("drawn Psi diagonal, quantiles 50/90/99/100% (rows) per coefficient (columns):")
    print(np.quantile(draws, [0.5, 0.9, 0.99, 1.0], axis=0))


if __name__ == "__main__":
    main()
