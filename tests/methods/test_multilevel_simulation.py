"""Known-truth simulations for the multilevel imputation methods (2l.pan, 2l.norm, 2l.lmer,
2l.pmm).

Every generator has J = 50 clusters of 20 rows (n = 1000), fixed across replications so that
each (scenario, method) compiles once; x has variance 1, a quarter of it between clusters;
y = 1 + 0.5 x + u_j + e with tau^2 = var(u_j) = 0.5, sigma^2 = 1 unless said otherwise.
About 30% of the imputed column is missing:

1. random intercept, y MAR given x (P(missing) = logistic(-1 + x)); 2l.pan, 2l.lmer.
2. random intercept, y complete, x MAR given y (logistic(-1 + (y - 1))); x imputed by 2l.pan
   from y *and y's cluster mean* (code 3): x | y has a cluster intercept correlated with y's
   cluster mean, so x ~ y + (1 | g) alone would be a misspecified imputation model.
3. random intercept and slope, Psi = [[0.5, 0.1], [0.1, 0.2]], y MAR given x; 2l.pan and
   2l.lmer with x coded 2; analysis y ~ x + (1 + x | g).
4. heteroscedastic clusters: sigma_j^2 on a geometric grid from 0.25 to 4 (log-uniform), y MAR
   given x; 2l.norm; the truth for the analysis model's sigma^2 is the mean of the grid (1.35):
   with equal cluster sizes the homoscedastic REML estimate targets it (checked by the
   complete-data column).
5. y entirely missing in 5 of the 50 clusters (chosen at random) and MAR given x elsewhere
   (logistic(-1.5 + x)); 2l.pan, 2l.lmer, 2l.pmm.

Each replication imputes m = 10 times with maxit = 10 (the 2l samplers are warm-started and
draw (beta, b) jointly, so the chained iterations are the burn-in; maxit = 30 gave the same
results to Monte Carlo error on scenarios 2 and 3; m = 10 gives B nine degrees of freedom),
fits the analysis model to the m completed data sets and the data before amputation as one
lmer batch, and pools with Rubin's rules (Barnard-Rubin df, dfcom = n - p, 95% t intervals;
the complete data get the same t interval with dfcom). tau^2 (and the slope's variance and
covariance) and sigma^2 are pooled as the mean over imputations (mitml). Over replications:
the coverage of each fixed effect's interval must lie in [0.91, 0.99], the relative bias of the
pooled tau^2 (and slope variance) within 10% and of sigma^2 within 5%, for the complete data
(a check of the design: REML is unbiased here to Monte Carlo error) and the imputed data; the
imputed data's random-effect variances within 5% in scenario 3.
500 replications: the Monte Carlo standard error of a coverage near 0.95 is 0.010, of the
relative bias of tau^2 about 0.01 (slope variance about 0.012).

Results (``pytest -m slow tests/methods/test_multilevel_simulation.py``, 2-core CPU, shared with
other work; 2l.pan, 2l.norm, 2l.pmm with the uniform-shrinkage prior and the EM start; the
complete-data value in parentheses; fmi: mean fraction of missing information):

=================  =======  ===============  ===============  ===============  ==============  ====
scenario           method   cover (Int.)     cover x          rel.bias tau^2   rel.bias sig^2  time
=================  =======  ===============  ===============  ===============  ==============  ====
1 ri, y MAR        2l.pan   0.936 (0.946)    0.938 (0.960)    -0.001 (-0.003)  +0.001 (+0.000) 27 s
1 ri, y MAR        2l.lmer  0.932 (0.946)    0.940 (0.960)    -0.000 (-0.003)  +0.001 (+0.000) 73 s
2 ri, x MAR        2l.pan   0.950 (0.946)    0.934 (0.940)    +0.006 (+0.007)  -0.005 (-0.004) 37 s
3 rs, y MAR        2l.pan   0.954 (0.958)    0.952 (0.956)    +0.024 (+0.024)  +0.005 (-0.000) 37 s
3 rs, y MAR        2l.lmer  0.956 (0.958)    0.944 (0.956)    +0.029 (+0.024)  +0.002 (-0.000) 37 s
4 hetero, y MAR    2l.norm  0.944 (0.940)    0.954 (0.960)    +0.000 (+0.006)  +0.008 (-0.002) 52 s
5 systematic       2l.pan   0.942 (0.938)    0.952 (0.960)    +0.006 (+0.006)  +0.002 (+0.001) 30 s
5 systematic       2l.lmer  0.948 (0.938)    0.960 (0.960)    +0.010 (+0.006)  +0.001 (+0.001) 31 s
5 systematic       2l.pmm   0.946 (0.938)    0.958 (0.960)    +0.047 (+0.006)  -0.018 (+0.001) 76 s
=================  =======  ===============  ===============  ===============  ==============  ====

fmi of the slope of x: 0.39 (1), 0.33 (2), 0.17 (3), 0.35 (4), 0.37 (5); of the intercept
0.01-0.15. Scenario 3, the random slope's variance (truth 0.2) and the covariance (truth 0.1),
relative bias: 2l.pan -0.029 and +0.028, 2l.lmer -0.001 and +0.049; complete data -0.006 and
+0.039. Scenario 3's random-effect variances are held to 5% (``SLOPE_TOL``).

Fixed: 2l.lmer first drew Psi* ~ IW(J, sum_j b_j b_j') from the conditional modes b_j alone
(as mice's 2l.lmer does); modes are shrunk towards zero (here by about 0.6 for the slope), and
the pooled random-slope variance came out 12% too small (-0.121; -0.109 with J = 100, -0.044
with 40 rows per cluster). The scale is now sum_j (b_j b_j' + C_j), C_j the conditional
covariances (the expected sum of squares given the data): -0.001.

Fixed: 2l.pan's pooled slope variance was 8% too large here (+0.080; +25% in the smaller-slope
design of test_random_effects_prior.py): its Psi started at s_y^2 / 2 and had not come down in
the chained iterations, and the inverse-Wishart prior's scale s_y^2 / s_x^2 (about 2, against
J tau_11 = 10) weighed on it. Psi now starts from EM estimates and has the uniform-shrinkage
prior (jaxmice/methods/multilevel.py): -0.029.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from simulation import Case, case_id, replicate, simulate
from simulation import logistic as _logistic

J, N_J = 50, 20  # clusters x rows per cluster, fixed so every replication reuses one program
N = J * N_J
M, MAXIT = 10, 10
N_REPS = 500
B0, B1 = 1.0, 0.5  # fixed effects of every generator
TAU2, SIGMA2 = 0.5, 1.0  # random-intercept and residual variance
PSI = np.array([[0.5, 0.1], [0.1, 0.2]])  # random intercept and slope (scenario 3)
# scenario 4: cluster residual variances on a geometric grid from 0.25 to 4 (log-uniform)
SIGMA2_J = np.exp(np.linspace(np.log(0.25), np.log(4.0), J))
N_SYSTEMATIC = 5  # scenario 5: clusters with y entirely missing (10%)

COVERAGE = (0.91, 0.99)
TAU2_TOL, SIGMA2_TOL = 0.10, 0.05
SLOPE_TOL = 0.05  # scenario 3's random-effect variances, once 2l.pan's prior was fixed


# ---------------------------------------------------------------------------------------------
# generators: (complete data, amputed data) from one numpy generator


def _x(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cluster codes and a level-1 predictor with variance 1, a quarter of it between clusters."""
    g = np.repeat(np.arange(J), N_J)
    x = rng.normal(scale=0.5, size=J)[g] + rng.normal(scale=np.sqrt(0.75), size=N)
    return g, x


def _mar_given_x(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """About 30% missing, more where x is large: P(missing) = logistic(-1 + x)."""
    return rng.uniform(size=x.shape) < _logistic(-1.0 + x)


def gen_intercept_mar_y(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """1. y = b0 + b1 x + u_j + e; y MAR given x."""
    g, x = _x(rng)
    y = B0 + B1 * x + rng.normal(scale=np.sqrt(TAU2), size=J)[g] + rng.normal(
        scale=np.sqrt(SIGMA2), size=N)
    full = pd.DataFrame({"y": y, "x": x, "g": g})
    df = full.copy()
    df.loc[_mar_given_x(rng, x), "y"] = np.nan
    return full, df


def gen_intercept_mar_x(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """2. As 1, y complete; x MAR given y: P(x missing) = logistic(-1 + (y - b0))."""
    full, _ = gen_intercept_mar_y(rng)
    df = full.copy()
    df.loc[rng.uniform(size=N) < _logistic(-1.0 + (full.y.to_numpy() - B0)), "x"] = np.nan
    return full, df


def gen_slope_mar_y(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """3. y = b0 + b1 x + u0_j + u1_j x + e, (u0, u1) ~ N(0, PSI); y MAR given x."""
    g, x = _x(rng)
    u = rng.multivariate_normal(np.zeros(2), PSI, size=J)
    y = B0 + B1 * x + u[g, 0] + u[g, 1] * x + rng.normal(scale=np.sqrt(SIGMA2), size=N)
    full = pd.DataFrame({"y": y, "x": x, "g": g})
    df = full.copy()
    df.loc[_mar_given_x(rng, x), "y"] = np.nan
    return full, df


def gen_heteroscedastic(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """4. As 1 with residual variance SIGMA2_J[j] in cluster j (fixed grid); y MAR given x."""
    g, x = _x(rng)
    y = B0 + B1 * x + rng.normal(scale=np.sqrt(TAU2), size=J)[g] + rng.normal(
        size=N) * np.sqrt(SIGMA2_J)[g]
    full = pd.DataFrame({"y": y, "x": x, "g": g})
    df = full.copy()
    df.loc[_mar_given_x(rng, x), "y"] = np.nan
    return full, df


def gen_systematic(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """5. As 1, y entirely missing in N_SYSTEMATIC random clusters, MAR given x elsewhere
    (P(missing) = logistic(-1.5 + x), about 20%)."""
    full, _ = gen_intercept_mar_y(rng)
    x, g = full.x.to_numpy(), full.g.to_numpy()
    gone = np.isin(g, rng.choice(J, N_SYSTEMATIC, replace=False))
    df = full.copy()
    df.loc[gone | (rng.uniform(size=N) < _logistic(-1.5 + x)), "y"] = np.nan
    return full, df


_FIXED = {"(Intercept)": B0, "x": B1}
_INTERCEPT = {**_FIXED, "tau2": TAU2, "sigma2": SIGMA2}
RI = "y ~ x + (1 | g)"
CASES = [
    Case("1 ri, y MAR", gen_intercept_mar_y, "2l.pan", "y", {"x": 1}, RI, _INTERCEPT, 101),
    Case("1 ri, y MAR", gen_intercept_mar_y, "2l.lmer", "y", {"x": 1}, RI, _INTERCEPT, 101),
    # x's imputation model needs y's cluster mean (code 3): x | y has a cluster intercept
    # correlated with y's cluster mean, so x ~ y + (1 | g) alone would be misspecified
    Case("2 ri, x MAR", gen_intercept_mar_x, "2l.pan", "x", {"y": 3}, RI, _INTERCEPT, 202),
    Case("3 rs, y MAR", gen_slope_mar_y, "2l.pan", "y", {"x": 2}, "y ~ x + (1 + x | g)",
         {**_FIXED, "tau2": PSI[0, 0], "tau2_x": PSI[1, 1], "tau01": PSI[0, 1],
          "sigma2": SIGMA2}, 303),
    Case("3 rs, y MAR", gen_slope_mar_y, "2l.lmer", "y", {"x": 2}, "y ~ x + (1 + x | g)",
         {**_FIXED, "tau2": PSI[0, 0], "tau2_x": PSI[1, 1], "tau01": PSI[0, 1],
          "sigma2": SIGMA2}, 303),
    Case("4 hetero, y MAR", gen_heteroscedastic, "2l.norm", "y", {"x": 1}, RI,
         {**_FIXED, "tau2": TAU2, "sigma2": float(SIGMA2_J.mean())}, 404),
    Case("5 systematic", gen_systematic, "2l.pan", "y", {"x": 1}, RI, _INTERCEPT, 505),
    Case("5 systematic", gen_systematic, "2l.lmer", "y", {"x": 1}, RI, _INTERCEPT, 505),
    Case("5 systematic", gen_systematic, "2l.pmm", "y", {"x": 1}, RI, _INTERCEPT, 505),
]
# ---------------------------------------------------------------------------------------------
# tests


SMOKE = [c for i, c in enumerate(CASES) if c.name not in {d.name for d in CASES[:i]}]


@pytest.mark.parametrize("case", SMOKE, ids=case_id)
def test_smoke(case):
    """Two replications of each scenario with its first method (compiling each program once
    dominates): the machinery runs and gives finite, plausible numbers."""
    for rep in range(2):
        r = replicate(case, rep)
        assert 0.1 < r.missing < 0.5
        for k in r.covered:
            est, se, df = (r.estimates[k], r.estimates[f"se {k}"], r.estimates[f"df {k}"])
            assert np.isfinite([est, se, df]).all()
            assert abs(est - case.truth[k]) < 6 * se
            assert 0.01 < se < 0.5
            assert 1 < df <= N
        for k, v in r.variances.items():
            truth = case.truth[k]
            assert np.isfinite(v)
            assert abs(v - truth) < (0.5 * abs(truth) if k == "sigma2" else 0.5)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_known_truth(case):
    s = simulate(case, N_REPS)
    print("\n" + s.row())
    low, high = COVERAGE
    for k, v in s.coverage_complete.items():
        assert low <= v <= high, f"complete-data coverage of {k}: {v:.3f} (design problem)"
    for k in ("tau2", "tau2_x", "sigma2"):
        if k in s.rel_bias_complete:
            tol = SIGMA2_TOL if k == "sigma2" else TAU2_TOL
            assert abs(s.rel_bias_complete[k]) <= tol, (
                f"complete-data relative bias of {k}: {s.rel_bias_complete[k]:+.3f}")
    for k, v in s.coverage.items():
        assert low <= v <= high, f"{case.method}: coverage of {k}: {v:.3f}"
    for k in ("tau2", "tau2_x", "sigma2"):
        if k in s.rel_bias:
            tol = SIGMA2_TOL if k == "sigma2" else SLOPE_TOL if "tau2_x" in s.rel_bias else (
                TAU2_TOL)
            assert abs(s.rel_bias[k]) <= tol, (
                f"{case.method}: relative bias of pooled {k}: {s.rel_bias[k]:+.3f}")
