"""Known-truth simulation of ``2l.heckman`` (issue 14): generator and one replication (not a
test module; ``test_heckman_simulation.py`` and ``studies/heckman_reps.py`` use it).

Design: J = 10 clusters of n = 300 rows (n = 3,000). Complete covariates x1, x2, z ~ N(0, 1)
independent. Selection (y observed) ``s = 1(a_j + 0.4 x1 + 0.3 x2 + 1.0 z + u_S > 0)`` with a
random intercept a_j ~ N(0, 0.2^2): about 50% selected. Errors ``(u_S, u_O)`` standard bivariate
normal with correlation rho (0.3 or 0.6). Outcome, random intercept b_j ~ N(0, 0.3^2):

- continuous: ``y = 1 + b_j + 0.5 x1 - 0.3 x2 + u_O`` (sigma = 1);
- binary: ``y = 1(-0.2 + b_j + 0.5 x1 - 0.3 x2 + u_O > 0)`` (a probit model).

y is missing where s = 0 (missing not at random for rho != 0, given x1, x2; z is the exclusion
restriction) and, in the "sys" variant, wholly missing in 2 of the 10 clusters drawn at random
each replication (whatever s is there).

Analysis: ``lmer(y ~ x1 + x2 + (1 | g))`` (truth the generating 1, 0.5, -0.3) or
``glmer(y ~ x1 + x2 + (1 | g), binomial)`` (logit; the truth is the mean of the complete-data
estimates over the replications, since the probit generating model has no exact logit
counterpart). The m completed data sets and the complete data (before amputation) are fitted
as one batch; estimates are pooled by Rubin's rules (:func:`simulation.rubin`). Two sets of
df are recorded: ``df`` the harness's Barnard-Rubin df with dfcom = n - p for x1, x2 and
J - 1 = 9 for the intercept (the between-within rule), ``df_lib`` the large-sample df that
``imp.fit(...).pool()`` uses for a mixed model (its ``dfcom`` is None).

Methods: ``2l.heckman`` with x1, x2 code 1, z code -3 (m = 5, maxit = 1: y is the only
incomplete column and the method is stateless); its wholly missing clusters are imputed
from the outcome model (``systematic="design"``, the default); the variant
``2l.heckman-selection`` (``systematic="selection"``, micemd's behaviour) conditions them on
non-selection too. The MAR comparison: ``2l.pan`` (continuous) or ``2l.bin`` (binary) with
x1, x2, z code 1 (m = 5, maxit = 5).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from simulation import pooled_fits, rubin

import jaxmice as jm

N_CLUSTERS = 10
CLUSTER_SIZE = 300
N_SYS = 2  # clusters with y wholly missing in the "sys" variant
SD_OUTCOME, SD_SELECTION = 0.3, 0.2  # random-intercept sds
SELECTION = {"x1": 0.4, "x2": 0.3, "z": 1.0}
ALPHA0 = 0.0  # selection intercept: about 50% selected
OUTCOME = {"continuous": {"(Intercept)": 1.0, "x1": 0.5, "x2": -0.3},
           "binary": {"(Intercept)": -0.2, "x1": 0.5, "x2": -0.3}}
FORMULA = "y ~ x1 + x2 + (1 | g)"
TERMS = ("(Intercept)", "x1", "x2")
MAR_METHOD = {"continuous": "2l.pan", "binary": "2l.bin"}
M = 5
MAXIT = {"2l.heckman": 1, "2l.pan": 5, "2l.bin": 5}
#: labelled variants: (method, method options)
VARIANTS = {"2l.heckman-selection": ("2l.heckman", {"systematic": "selection"})}


@dataclass(frozen=True)
class Cell:
    """One cell of the design: outcome kind, rho, and whether 2 clusters are wholly missing."""

    outcome: str  # "continuous" or "binary"
    rho: float
    sys: bool

    @property
    def name(self) -> str:
        return f"{self.outcome[:3]}-rho{self.rho:g}-{'sys' if self.sys else 'nosys'}"

    @property
    def seed(self) -> int:
        return (1400 + 100 * (self.outcome == "binary") + 10 * round(10 * self.rho)
                + int(self.sys))

    @property
    def family(self) -> str | None:
        return None if self.outcome == "continuous" else "binomial"


CELLS = [Cell(o, r, s) for o in ("continuous", "binary") for r in (0.3, 0.6)
         for s in (False, True)]


def generate(rng: np.random.Generator, cell: Cell) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One replication's complete and amputed data (columns y, x1, x2, z, g)."""
    g = np.repeat(np.arange(N_CLUSTERS), CLUSTER_SIZE)
    n = g.size
    x1, x2, z = rng.normal(size=(3, n))
    a = rng.normal(scale=SD_SELECTION, size=N_CLUSTERS)
    b = rng.normal(scale=SD_OUTCOME, size=N_CLUSTERS)
    u_s = rng.normal(size=n)
    u_o = cell.rho * u_s + np.sqrt(1.0 - cell.rho**2) * rng.normal(size=n)
    s = ALPHA0 + a[g] + SELECTION["x1"] * x1 + SELECTION["x2"] * x2 + SELECTION["z"] * z + u_s > 0
    beta = OUTCOME[cell.outcome]
    eta = beta["(Intercept)"] + b[g] + beta["x1"] * x1 + beta["x2"] * x2
    y = eta + u_o if cell.outcome == "continuous" else (eta + u_o > 0).astype(float)
    full = pd.DataFrame({"y": y, "x1": x1, "x2": x2, "z": z, "g": g})
    missing = ~s
    if cell.sys:
        missing |= np.isin(g, rng.choice(N_CLUSTERS, N_SYS, replace=False))
    df = full.copy()
    df.loc[missing, "y"] = np.nan
    return full, df


def predictor_matrix(df: pd.DataFrame, method: str) -> pd.DataFrame:
    """y's row: the cluster -2, x1 and x2 code 1, z code -3 for 2l.heckman (1 otherwise)."""
    pred = jm.make_predictor_matrix(df, cluster="g")
    pred.loc["y", ["x1", "x2"]] = 1
    pred.loc["y", "z"] = -3 if method == "2l.heckman" else 1
    pred.loc["y", "g"] = -2
    return pred


def impute(df: pd.DataFrame, method: str, seed: int, binary: bool, m: int = M
           ) -> jm.Imputations:
    """y imputed by ``method`` or a label of :data:`VARIANTS` (a 0/1 float y is read as
    continuous unless its kind is set)."""
    method, options = VARIANTS.get(method, (method, None))
    return jm.mice(df, m=m, maxit=MAXIT[method], method={"y": method},
                   predictor_matrix=predictor_matrix(df, method), seed=seed, progress=False,
                   kinds={"y": "binary"} if binary else None,
                   method_options={"y": options} if options else None)


def replicate(cell: Cell, method: str, rep: int, m: int = M) -> dict:
    """One replication: a row of pooled estimates, SEs and df per term, the complete data's
    estimates and SEs, the share missing and the seconds (imputation plus the fits).

    The data depend on (cell, rep) only, so both methods see the same data sets."""
    full, df = generate(np.random.default_rng([cell.seed, rep]), cell)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = impute(df, method, seed=100_000 * cell.seed + rep,
                     binary=cell.outcome == "binary", m=m)
        fits = pooled_fits(FORMULA, imp.complete("all"), full, cell.family)
    seconds = time.perf_counter() - start
    names = list(fits.fixed_names)
    assert tuple(names) == TERMS, names
    p = len(names)
    dfcom = np.array([N_CLUSTERS - 1 if k == "(Intercept)" else len(full) - p for k in names],
                     float)
    u = np.diagonal(fits.vcov[:m], axis1=1, axis2=2)
    qbar, t, df_br = rubin(fits.beta[:m], u, dfcom)
    lam = np.clip((1 + 1 / m) * fits.beta[:m].var(axis=0, ddof=1) / t, 1e-12, None)
    df_lib = (m - 1) / lam**2  # the large-sample df (mice's with dfcom = Inf)
    fmi = lam
    full_se = np.sqrt(np.diag(fits.vcov[m]))
    row = dict(cell=cell.name, method=method, rep=rep, missing=float(df.y.isna().mean()),
               seconds=seconds)
    for j, k in enumerate(("int", "x1", "x2")):
        row.update({f"est_{k}": qbar[j], f"se_{k}": np.sqrt(t[j]), f"df_{k}": df_br[j],
                    f"dflib_{k}": df_lib[j], f"fmi_{k}": fmi[j],
                    f"full_{k}": fits.beta[m, j], f"fullse_{k}": full_se[j],
                    f"fulldf_{k}": dfcom[j]})
    return row
