"""Simulation designs whose data sets have a RANDOM SIZE (clusters and rows per cluster).

Two random-intercept designs, used to compare jaxmice with R mice (``benchmarks/r/
mice_sizes.R``) when every replication has its own shape:

- ``loop``: J ~ Uniform{30..80} clusters, each of n_j ~ Uniform{10..30} rows,

      x2 ~ N(0, 1)                                  (level 1, complete)
      z_j ~ N(0, 1)                                 (cluster level, complete)
      x1 = a_j + 0.3 x2 + e1,  a_j ~ N(0, 0.2), e1 ~ N(0, 0.8)   (x1 has an ICC of 0.2)
      y  = 1 + 0.5 x1 - 0.3 x2 + 0.4 z_j + u_j + e,  u_j ~ N(0, 0.25), e ~ N(0, 1)

  (residual ICC 0.25 / 1.25 = 0.2); y and x1 each missing at random given x2 and z,
  independently, with P(missing) = logistic(-1.1 + 0.8 x2 + 0.5 z), about 28% each.
  Analysis model: ``lmer(y ~ x1 + x2 + z + (1 | g))``.

- ``batch``: the design of :mod:`jaxmice.case_studies.simulation` (same columns, truth and
  missingness: y and x1 each missing with P = logistic(-1 + x2), about 30%) but with 50
  clusters of n_j ~ Uniform{10..30} rows. Analysis model: ``lmer(y ~ x1 + x2 + (1 | g))``.

Variances are written N(mean, variance) above; the code passes standard deviations.
The cluster id ``g`` is an integer 1..J (2l.pan in R mice needs an integer cluster column).
Every frame comes from ``numpy.random.default_rng(seed)`` alone, so ``loop_frame(s)`` and
``batch_frame(s)`` are reproducible from the seed.

Usage::

    python benchmarks/sizes_data.py {loop|batch} SEED0 COUNT OUTDIR

writes ``OUTDIR/rep_0000.csv`` ... ``rep_{COUNT-1}.csv`` for the seeds SEED0 .. SEED0+COUNT-1
(missing values as empty fields; floats written in full precision, so R reads the very
numbers that ``loop_frame``/``batch_frame`` return).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

#: true fixed effects of the loop design's analysis model
TRUE_LOOP = {"(Intercept)": 1.0, "x1": 0.5, "x2": -0.3, "z": 0.4}
FORMULA_LOOP = "y ~ x1 + x2 + z + (1 | g)"
#: true fixed effects of the batch design (those of jaxmice.case_studies.simulation)
TRUE_BATCH = {"(Intercept)": 1.0, "x1": 0.5, "x2": 0.3}
FORMULA_BATCH = "y ~ x1 + x2 + (1 | g)"

#: random-size ranges (inclusive)
LOOP_CLUSTERS = (30, 80)
ROWS_PER_CLUSTER = (10, 30)
BATCH_CLUSTERS = 50

DESIGNS = {"loop": (TRUE_LOOP, FORMULA_LOOP), "batch": (TRUE_BATCH, FORMULA_BATCH)}


def _logistic(eta: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-eta))


def _cluster_ids(rng: np.random.Generator, n_clusters: int) -> np.ndarray:
    """Cluster ids 1..n_clusters, cluster j repeated n_j ~ Uniform{10..30} times."""
    lo, hi = ROWS_PER_CLUSTER
    sizes = rng.integers(lo, hi + 1, size=n_clusters)
    return np.repeat(np.arange(1, n_clusters + 1), sizes)


def loop_frame(seed: int) -> pd.DataFrame:
    """One incomplete data set of the loop design: columns ``g, x1, x2, z, y``."""
    rng = np.random.default_rng(seed)
    lo, hi = LOOP_CLUSTERS
    n_clusters = int(rng.integers(lo, hi + 1))
    g = _cluster_ids(rng, n_clusters)
    idx = g - 1
    n = g.size
    x2 = rng.normal(size=n)
    z = rng.normal(size=n_clusters)[idx]
    x1 = rng.normal(0, np.sqrt(0.2), n_clusters)[idx] + 0.3 * x2 + rng.normal(0, np.sqrt(0.8), n)
    y = (1.0 + 0.5 * x1 - 0.3 * x2 + 0.4 * z + rng.normal(0, 0.5, n_clusters)[idx]
         + rng.normal(size=n))
    df = pd.DataFrame({"g": g, "x1": x1, "x2": x2, "z": z, "y": y})
    # MAR given x2 and z: P(missing) = logistic(-1.1 + 0.8 x2 + 0.5 z), about 28% of each
    p_miss = _logistic(-1.1 + 0.8 * x2 + 0.5 * z)
    for column in ("y", "x1"):
        df.loc[rng.random(n) < p_miss, column] = np.nan
    return df


def batch_frame(seed: int) -> pd.DataFrame:
    """One incomplete data set of the batch design: columns ``g, x1, x2, y``."""
    rng = np.random.default_rng(seed)
    n_clusters = BATCH_CLUSTERS
    g = _cluster_ids(rng, n_clusters)
    idx = g - 1
    n = g.size
    x2 = rng.normal(size=n)
    x1 = rng.normal(0, np.sqrt(0.2), n_clusters)[idx] + 0.3 * x2 + rng.normal(0, np.sqrt(0.8), n)
    y = 1.0 + 0.5 * x1 + 0.3 * x2 + rng.normal(0, 0.5, n_clusters)[idx] + rng.normal(size=n)
    df = pd.DataFrame({"g": g, "x1": x1, "x2": x2, "y": y})
    # MAR given x2 (as in jaxmice.case_studies.simulation): P = logistic(-1 + x2), ~30% each
    for column in ("y", "x1"):
        df.loc[rng.random(n) < _logistic(-1.0 + x2), column] = np.nan
    return df


FRAMES = {"loop": loop_frame, "batch": batch_frame}


def frames(design: str, seed0: int, count: int) -> list[pd.DataFrame]:
    """The data sets of ``design`` for the seeds seed0 .. seed0 + count - 1."""
    make = FRAMES[design]
    return [make(seed0 + k) for k in range(count)]


def write(design: str, seed0: int, count: int, outdir: Path) -> list[Path]:
    """Write ``rep_0000.csv`` ... into ``outdir`` (created); return the paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, df in enumerate(frames(design, seed0, count)):
        path = outdir / f"rep_{k:04d}.csv"
        df.to_csv(path, index=False, na_rep="")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("design", choices=sorted(FRAMES))
    parser.add_argument("seed0", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args()
    for k, path in enumerate(write(args.design, args.seed0, args.count, args.outdir)):
        df = pd.read_csv(path)
        print(f"{path}: seed {args.seed0 + k}, {df.g.nunique()} clusters, {len(df)} rows, "
              f"missing y {df.y.isna().mean():.0%}, x1 {df.x1.isna().mean():.0%}")


if __name__ == "__main__":
    main()
