"""Known-truth two-level designs for substantive-model-compatible imputation (issue 26).

``jm.smcfcs`` is checked against R's ``jomo.lmer`` / ``jomo.glmer`` on replications of these
designs (``studies/jomo_reference.py`` writes ``tests/data/jomo_smc_reference.json``). Pure
numpy/pandas; every draw comes from ``numpy.random.default_rng(seed)``, so a seed fixes the
data. Each generator returns ``(complete, incomplete)``: the same frame before and after
amputation (``complete_a`` / ``complete_c`` and ``design_a`` / ``design_c`` return either half).

Design (a), gaussian, ``lmer(y ~ x * w + (1 + x | g))``; ``clusters`` clusters of 10 to 25 rows
(uniform), rows ``n = sum(sizes)`` (about 17.5 per cluster)::

    w_j  ~ N(0, 1)                                   (cluster level, complete)
    x_ij = 0.3 w_j + a_j + v_ij,  a_j ~ N(0, 0.5),  v_ij ~ N(0, 1)
    y_ij = 0.5 + 1.0 x + 0.5 w + 0.25 x w + u0_j + u1_j x + e_ij,  e ~ N(0, 1)
    (u0, u1) ~ N(0, Psi),  var(u0) = 0.5, var(u1) = 0.2, corr 0.3 (cov 0.0949)

    y missing:  P = expit(-2.0 + 0.5 w)                           (about 13 %, MAR given w)
    x missing where y is observed: P = expit(-1.15 + 0.8 y* + 0.4 w), y* = standardised y;
              where y is missing:  P = expit(-1.15 + 0.4 w)       (about 27 %, MAR)

Design (c), binomial, ``glmer(y ~ x + z + (1 | g), binomial)``; 100 clusters of 10 to 25 rows::

    x_ij = a_j + v_ij,  a_j ~ N(0, 0.4),  v_ij ~ N(0, 1)
    z_ij = 1{-0.2 + 0.4 x_ij + c_j + eps_ij > 0},  c_j ~ N(0, 0.3),  eps ~ N(0, 1)  (probit)
    y_ij ~ Bernoulli(expit(-0.5 + 0.7 x + 0.8 z + u0_j)),  u0_j ~ N(0, 0.5)   (complete)

    x missing: P = expit(-1.8 + 1.2 y);  z missing: P = expit(-1.8 + 1.2 y), independently
    (each about 22 %, MAR given the complete y)

Both covariate models are compatible with jomo's joint model for the covariates (x and the
latent normal of z with cluster random intercepts; w a level-2 variable correlated with x's
cluster mean), so jomo is correctly specified up to the probit/logit difference it has none
of here (z is generated through a latent normal).
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

TRUTH_A = {
    "(Intercept)": 0.5,
    "x": 1.0,
    "w": 0.5,
    "x:w": 0.25,
    "var_u0": 0.5,  # random-intercept variance
    "var_u1": 0.2,  # random-slope (x) variance
    "cor_u0_u1": 0.3,
    "sigma2": 1.0,  # residual variance
}
"""Parameters of ``lmer(y ~ x * w + (1 + x | g))`` in design (a)."""

TRUTH_C = {
    "(Intercept)": -0.5,
    "x": 0.7,
    "z": 0.8,
    "var_u0": 0.5,  # random-intercept variance (logit scale)
}
"""Parameters of ``glmer(y ~ x + z + (1 | g), family = binomial)`` in design (c)."""

COVARIATES_A = {"gamma_w": 0.3, "var_a": 0.5, "var_v": 1.0}
"""Covariate model of x in design (a): x = gamma_w * w + a_j + v_ij."""

COVARIATES_C = {"var_a": 0.4, "var_v": 1.0, "z_intercept": -0.2, "z_slope_x": 0.4, "var_c": 0.3}
"""Covariate models of (c): x = a_j + v_ij; z = 1{z_intercept + z_slope_x x + c_j + eps > 0}."""

MISSING_A = {"y": (-2.0, 0.5), "x": (-1.15, 0.8, 0.4)}
"""Amputation of (a): y by expit(c0 + c1 w); x by expit(c0 + c1 y* + c2 w), no y* where y is NA."""

MISSING_C = {"x": (-1.8, 1.2), "z": (-1.8, 1.2)}
"""Amputation of (c): each of x and z by expit(c0 + c1 y), independently."""

CLUSTER_SIZES = (10, 25)
"""Inclusive range of the (uniform) random cluster sizes of both designs."""

CLUSTERS_C = 100

_DESIGNS = ("a30", "a100", "c")


def _expit(eta: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-eta))


def replication_seed(design: str, rep: int) -> int:
    """The seed of replication ``rep`` of ``design`` (``"a30"``, ``"a100"`` or ``"c"``).

    Args:
        design: The design label: ``"a30"``/``"a100"`` (design (a) with 30/100 clusters) or
            ``"c"``.
        rep: Replication number, ``rep >= 0``.

    Returns:
        ``crc32(design) * 100_000 + rep``, distinct for every design and replication below
        100 000 and stable across Python versions (no ``hash``).
    """
    if design not in _DESIGNS:
        raise ValueError(f"design must be one of {_DESIGNS}, not {design!r}")
    if not 0 <= rep < 100_000:
        raise ValueError("rep must be in [0, 100000)")
    return zlib.crc32(design.encode()) % 100_000 * 100_000 + rep


def _sizes(rng: np.random.Generator, clusters: int) -> np.ndarray:
    lo, hi = CLUSTER_SIZES
    return rng.integers(lo, hi + 1, clusters)


def make_a(seed: int, clusters: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Design (a), complete and amputed.

    Args:
        seed: Seed of ``numpy.random.default_rng``.
        clusters: Number of clusters (30 or 100 in the reference study; any ``>= 2``).

    Returns:
        ``(complete, incomplete)``, each ``(n, 4)`` with columns ``g`` (int cluster id
        ``0..clusters-1``, rows sorted by it), ``y``, ``x``, ``w`` (float); ``n`` is the sum of
        the random cluster sizes (10 to 25 each). ``incomplete`` has NaN in ``y`` (about 13 %)
        and ``x`` (about 27 %); ``w`` and ``g`` are complete.
    """
    rng = np.random.default_rng(seed)
    sizes = _sizes(rng, clusters)
    g = np.repeat(np.arange(clusters), sizes)
    n = g.size
    w_j = rng.normal(0.0, 1.0, clusters)
    a_j = rng.normal(0.0, np.sqrt(COVARIATES_A["var_a"]), clusters)
    sd0, sd1 = np.sqrt(TRUTH_A["var_u0"]), np.sqrt(TRUTH_A["var_u1"])
    cov01 = TRUTH_A["cor_u0_u1"] * sd0 * sd1
    psi = np.array([[sd0**2, cov01], [cov01, sd1**2]])
    u = rng.multivariate_normal(np.zeros(2), psi, clusters, method="cholesky")
    w = w_j[g]
    x = COVARIATES_A["gamma_w"] * w + a_j[g] + rng.normal(0.0, np.sqrt(COVARIATES_A["var_v"]), n)
    t = TRUTH_A
    y = (t["(Intercept)"] + t["x"] * x + t["w"] * w + t["x:w"] * x * w
         + u[g, 0] + u[g, 1] * x + rng.normal(0.0, np.sqrt(t["sigma2"]), n))
    complete = pd.DataFrame({"g": g, "y": y, "x": x, "w": w})

    c0, c1 = MISSING_A["y"]
    miss_y = rng.random(n) < _expit(c0 + c1 * w)
    ystar = (y - y.mean()) / y.std()
    d0, d1, d2 = MISSING_A["x"]
    eta_x = d0 + d2 * w + np.where(miss_y, 0.0, d1 * ystar)
    miss_x = rng.random(n) < _expit(eta_x)
    incomplete = complete.copy()
    incomplete.loc[miss_y, "y"] = np.nan
    incomplete.loc[miss_x, "x"] = np.nan
    return complete, incomplete


def make_c(seed: int, clusters: int = CLUSTERS_C) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Design (c), complete and amputed.

    Args:
        seed: Seed of ``numpy.random.default_rng``.
        clusters: Number of clusters (100 in the reference study).

    Returns:
        ``(complete, incomplete)``, each ``(n, 4)`` with columns ``g`` (int, sorted), ``y``
        (0/1 float, complete), ``x`` (float), ``z`` (0/1 float); ``n`` is the sum of the random
        cluster sizes (10 to 25). ``incomplete`` has NaN in ``x`` and ``z`` (about 22 % each).
    """
    rng = np.random.default_rng(seed)
    sizes = _sizes(rng, clusters)
    g = np.repeat(np.arange(clusters), sizes)
    n = g.size
    cv = COVARIATES_C
    a_j = rng.normal(0.0, np.sqrt(cv["var_a"]), clusters)
    c_j = rng.normal(0.0, np.sqrt(cv["var_c"]), clusters)
    u_j = rng.normal(0.0, np.sqrt(TRUTH_C["var_u0"]), clusters)
    x = a_j[g] + rng.normal(0.0, np.sqrt(cv["var_v"]), n)
    z = (cv["z_intercept"] + cv["z_slope_x"] * x + c_j[g] + rng.normal(0.0, 1.0, n) > 0)
    z = z.astype(float)
    t = TRUTH_C
    p = _expit(t["(Intercept)"] + t["x"] * x + t["z"] * z + u_j[g])
    y = (rng.random(n) < p).astype(float)
    complete = pd.DataFrame({"g": g, "y": y, "x": x, "z": z})

    incomplete = complete.copy()
    for col in ("x", "z"):
        c0, c1 = MISSING_C[col]
        incomplete.loc[rng.random(n) < _expit(c0 + c1 * y), col] = np.nan
    return complete, incomplete


def design_a(seed: int, clusters: int = 30) -> pd.DataFrame:
    """The incomplete data of :func:`make_a` (``(n, 4)``: g, y, x, w; NaN for missing)."""
    return make_a(seed, clusters)[1]


def complete_a(seed: int, clusters: int = 30) -> pd.DataFrame:
    """The complete data of :func:`make_a` (``(n, 4)``: g, y, x, w) for the same seed."""
    return make_a(seed, clusters)[0]


def design_c(seed: int) -> pd.DataFrame:
    """The incomplete data of :func:`make_c` (``(n, 4)``: g, y, x, z; NaN for missing)."""
    return make_c(seed)[1]


def complete_c(seed: int) -> pd.DataFrame:
    """The complete data of :func:`make_c` (``(n, 4)``: g, y, x, z) for the same seed."""
    return make_c(seed)[0]
