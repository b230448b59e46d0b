"""jaxmice's 2l.bin on the replications of R's bias study (``r/mice_2lbin_reps.R``), written
in the same format so ``summarize_bin2l_reps.py`` reports both side by side.

Usage::

    python studies/jm_2lbin_reps.py [--reps 100] [--m 5 --maxit 5] [--out studies/results/bin2l]

For each scenario (``sporadic``, ``systematic``) and replication ``r`` the data are
``bin2l_design.make_binary_two_level(r, systematic=...)``, the same as the CSV files R imputed
(``write_bin2l_reps.py``). ``x`` is imputed by 2l.bin (``y`` fixed, ``g`` the cluster), m = 5,
maxit = 5 as R; ``glmer(x ~ y + (1 | g), binomial)`` is fitted to each completed data set and
pooled by Rubin's rules (``Pooled.summary``: Barnard-Rubin df), the random-intercept variance
as the mean over imputations (mitml's); the complete data are fitted too. One row per
replication goes to ``OUT/jm_2lbin_reps_<scenario>.csv``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from bin2l_design import make_binary_two_level

ANALYSIS = "x ~ y + (1 | g)"
RESULTS = Path(__file__).resolve().parent / "results" / "bin2l"


def replicate(rep: int, systematic: bool, m: int, maxit: int) -> dict[str, float]:
    """One replication: pooled estimates, SEs, df and variance; the complete data's."""
    import jaxmice as jm

    full, df = make_binary_two_level(rep, systematic=systematic)
    start = time.perf_counter()
    pred = jm.make_predictor_matrix(df, cluster="g")
    imp = jm.mice(df, m=m, maxit=maxit, method={"x": "2l.bin"}, predictor_matrix=pred,
                  seed=1000 + rep, progress=False)
    pooled = imp.fit(ANALYSIS, family="binomial").pool()
    seconds = time.perf_counter() - start
    table = pooled.summary().set_index("term")
    fit = jm.glmer(ANALYSIS, full, family="binomial")
    fixed = fit.tidy().query("effect == 'fixed'").set_index("term")
    row = dict(rep=rep, n=len(df), n_missing=int(df.x.isna().sum()))
    for name, term in (("intercept", "(Intercept)"), ("slope", "y")):
        row[f"est_{name}"] = table.loc[term, "estimate"]
        row[f"se_{name}"] = table.loc[term, "std_error"]
        row[f"df_{name}"] = table.loc[term, "df"]
    row["ri_variance"] = float(pooled.extra["Intercept~~Intercept|g"])
    row.update(full_intercept=fixed.loc["(Intercept)", "estimate"],
               full_se_intercept=fixed.loc["(Intercept)", "std_error"],
               full_slope=fixed.loc["y", "estimate"], full_se_slope=fixed.loc["y", "std_error"],
               full_ri_variance=float(fit.varcomp.vcov.iloc[0]), warnings=0, seconds=seconds)
    return row


def main(argv: list[str] | None = None) -> None:
    """Impute and pool every replication of both scenarios; write a CSV per scenario."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--m", type=int, default=5)
    parser.add_argument("--maxit", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for scenario in ("sporadic", "systematic"):
        rows = [replicate(r, scenario == "systematic", args.m, args.maxit)
                for r in range(args.reps)]
        path = args.out / f"jm_2lbin_reps_{scenario}.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        print(f"{path}: {len(rows)} reps, {pd.DataFrame(rows).seconds.mean():.2f} s per rep")


if __name__ == "__main__":
    main()
