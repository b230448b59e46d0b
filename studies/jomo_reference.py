"""R jomo's substantive-model-compatible imputation on the known-truth designs of issue 26.

Usage::

    python studies/jomo_reference.py [--reps 200] [--designs a30 c a100] [--nburn 1000]
        [--nbetween 100] [--nimp 5] [--chains 3] [--work DIR] [--collect-only]

Replication ``r`` of design ``d`` is ``tests/support/smcfcs_designs.py``'s ``make_a`` (``a30``:
30 clusters, ``a100``: 100) or ``make_c`` with seed ``replication_seed(d, r)``. All of them go
to one CSV (``DIR/input.csv``, reps interleaved across the designs in the order given so that a
partial run covers each design alike), which one ``Rscript studies/r/jomo_smc_reps.R`` imputes
(``jomo.lmer`` / ``jomo.glmer``, m = nimp) and pools, appending to ``DIR/jomo_reps.csv``; the
first ``--chains`` reps of each design also get a two-chain R-hat (``DIR/jomo_chains.csv``).
Everything finished is then written to ``tests/data/jomo_smc_reference.json``: settings,
truths, per-replication results (pooled and complete-data estimates, seconds) and per-design
summaries (bias, coverage, Monte Carlo SEs). The R script skips (design, rep) pairs already in
``DIR/jomo_reps.csv``; when that file is missing it is first rebuilt from the JSON's
per-replication results, so a later session resumes from the JSON alone. DIR defaults to
``/work/jomo_smc_work`` (outside the repository).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
import smcfcs_designs as sd  # noqa: E402

R_SCRIPT = ROOT / "studies" / "r" / "jomo_smc_reps.R"
JSON_OUT = ROOT / "tests" / "data" / "jomo_smc_reference.json"
WORK = Path("/work/jomo_smc_work")
COLUMNS = ["est", "se", "df", "lo", "hi", "full_est", "full_se", "full_lo", "full_hi"]
REP_COLUMNS = ["seconds", "n", "n_miss_y", "n_miss_x", "n_miss_z", "warnings", "full_warnings"]
FIXED = {"a": ["(Intercept)", "x", "w", "x:w"], "c": ["(Intercept)", "x", "z"]}
DESIGNS = {
    "a30": {"generator": "make_a", "clusters": 30, "family": "gaussian",
            "analysis": "lmer(y ~ x * w + (1 + x | g))"},
    "a100": {"generator": "make_a", "clusters": 100, "family": "gaussian",
             "analysis": "lmer(y ~ x * w + (1 + x | g))"},
    "c": {"generator": "make_c", "clusters": sd.CLUSTERS_C, "family": "binomial",
          "analysis": "glmer(y ~ x + z + (1 | g), family = binomial)"},
}
JOMO_CALL = {
    "a": "jomo.lmer(y ~ x * w + (1 + x | g), data.frame(y, x, w, g), level = c(1, 1, 2, 1), "
         "nburn = NBURN, nbetween = NBETWEEN, nimp = NIMP, output = 0)",
    "c": "jomo.glmer(y ~ x + z + (1 | g), data.frame(y, x, z = factor(z), g), "
         "level = c(1, 1, 1, 1), nburn = NBURN, nbetween = NBETWEEN, nimp = NIMP, output = 0, "
         "family = 'binomial')",
}


def replication(design: str, rep: int) -> pd.DataFrame:
    """Replication ``rep`` of ``design`` as R reads it (incomplete columns plus ``*_full``)."""
    seed = sd.replication_seed(design, rep)
    if design == "c":
        full, inc = sd.make_c(seed)
    else:
        full, inc = sd.make_a(seed, DESIGNS[design]["clusters"])
    out = inc.copy()
    for col in ("y", "x", "z"):
        if col in full:
            out[f"{col}_full"] = full[col]
    out.insert(0, "seed", seed % 2_147_483_647)
    out.insert(0, "rep", rep)
    out.insert(0, "design", design)
    return out


def write_input(path: Path, designs: list[str], reps: int) -> None:
    """All replications, interleaved by rep across ``designs``, in one CSV."""
    frames = [replication(d, r) for r in range(reps) for d in designs]
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)


def _clean(v: object) -> object:
    if isinstance(v, float | np.floating):
        return None if math.isnan(v) else float(f"{float(v):.7g}")
    if isinstance(v, np.integer):
        return int(v)
    return v


def rebuild_csv(path: Path) -> None:
    """Rebuild R's output CSV from the JSON's per-replication results (resuming a run)."""
    if path.exists() or not JSON_OUT.exists():
        return
    old = json.loads(JSON_OUT.read_text())
    rows = []
    for design, res in old.get("replications", {}).items():
        for i, rep in enumerate(res["rep"]):
            for param, cols in res["params"].items():
                row = {"design": design, "rep": rep, "param": param}
                row.update({c: cols[c][i] for c in COLUMNS})
                row.update({c: res[c][i] for c in REP_COLUMNS})
                rows.append(row)
    if rows:
        pd.DataFrame(rows).to_csv(path, index=False)
        print(f"rebuilt {path} from {JSON_OUT}: {len(rows)} rows")


def summarize(res: pd.DataFrame, truth: dict[str, float], fixed: list[str]) -> dict:
    """Per parameter: bias, empirical SD, mean SE, coverage and MC SEs; the complete data's."""
    out = {}
    for param, d in res.groupby("param", sort=False):
        t = truth[param]
        r = len(d)
        s = {"truth": t, "reps": r, "mean_estimate": d.est.mean(), "bias": d.est.mean() - t,
             "mcse_bias": d.est.std(ddof=1) / math.sqrt(r), "empirical_sd": d.est.std(ddof=1),
             "complete_mean_estimate": d.full_est.mean(),
             "complete_bias": d.full_est.mean() - t,
             "complete_mcse_bias": d.full_est.std(ddof=1) / math.sqrt(r),
             "mean_difference_from_complete": (d.est - d.full_est).mean()}
        if param in fixed:
            cover = ((d.lo <= t) & (t <= d.hi)).mean()
            full_cover = ((d.full_lo <= t) & (t <= d.full_hi)).mean()
            s.update(mean_se=d.se.mean(), coverage=cover,
                     mcse_coverage=math.sqrt(cover * (1 - cover) / r),
                     complete_coverage=full_cover, complete_mean_se=d.full_se.mean(),
                     mean_ci_width=(d.hi - d.lo).mean())
        out[param] = {k: _clean(v) for k, v in s.items()}
    return out


def collect(work: Path, settings: dict) -> dict:
    """The reference JSON's content from R's CSV output."""
    reps = pd.read_csv(work / "jomo_reps.csv")
    reps = reps.drop_duplicates(["design", "rep", "param"]).sort_values(["design", "rep"])
    chains_path = work / "jomo_chains.csv"
    chains = pd.read_csv(chains_path) if chains_path.exists() else None
    doc = {
        "description": "R jomo substantive-model-compatible imputation (jomo.lmer / jomo.glmer) "
                       "on known-truth designs of tests/support/smcfcs_designs.py (issue 26); "
                       "written by studies/jomo_reference.py.",
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings,
        "designs": {}, "truth": {"a": sd.TRUTH_A, "c": sd.TRUTH_C},
        "summary": {}, "convergence": {}, "replications": {},
    }
    for design, info in DESIGNS.items():
        res = reps[reps.design == design]
        if res.empty:
            continue
        kind = "a" if design.startswith("a") else "c"
        truth = sd.TRUTH_A if kind == "a" else sd.TRUTH_C
        per_rep = res.drop_duplicates("rep")
        doc["designs"][design] = dict(info, jomo_call=JOMO_CALL[kind],
                                      reps_finished=int(per_rep.shape[0]),
                                      mean_rows=float(per_rep.n.mean()))
        summ = summarize(res, truth, FIXED[kind])
        summ["_timing"] = {"mean_seconds_jomo": _clean(per_rep.seconds.mean()),
                           "median_seconds_jomo": _clean(per_rep.seconds.median()),
                           "total_seconds_jomo": _clean(per_rep.seconds.sum()),
                           "reps_with_analysis_warnings": int((per_rep.warnings > 0).sum()),
                           "mean_missing_fraction": {
                               c: _clean((per_rep[f"n_miss_{c}"] / per_rep.n).mean())
                               for c in (("y", "x") if kind == "a" else ("x", "z"))}}
        doc["summary"][design] = summ
        doc["replications"][design] = {
            "rep": [int(r) for r in per_rep.rep],
            **{c: [_clean(v) for v in per_rep[c]] for c in REP_COLUMNS},
            "params": {p: {c: [_clean(v) for v in d.sort_values("rep")[c]] for c in COLUMNS}
                       for p, d in res.groupby("param", sort=False)},
        }
        if chains is not None and (chains.design == design).any():
            ch = chains[chains.design == design]
            doc["convergence"][design] = {
                "method": "two chains of jomo.*.MCMCchain (nburn iterations each, seeds "
                          "seed+1, seed+2); Gelman-Rubin R-hat over the second halves",
                "reps": sorted(int(r) for r in ch.rep.unique()),
                "rhat": {p: [_clean(v) for v in d.rhat] for p, d in ch.groupby("param",
                                                                                 sort=False)},
                "max_rhat": _clean(ch.rhat.max()),
            }
    return doc


def main(argv: list[str] | None = None) -> None:
    """Generate, impute in R (resumable) and write the reference JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--designs", nargs="+", default=["a30", "c", "a100"],
                        choices=list(DESIGNS))
    parser.add_argument("--nburn", type=int, default=1000)
    parser.add_argument("--nbetween", type=int, default=100)
    parser.add_argument("--nimp", type=int, default=5)
    parser.add_argument("--chains", type=int, default=3)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--collect-only", action="store_true",
                        help="only rewrite the JSON from DIR/jomo_reps.csv")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    out_csv = args.work / "jomo_reps.csv"
    if not args.collect_only:
        rebuild_csv(out_csv)
        write_input(args.work / "input.csv", args.designs, args.reps)
        subprocess.run(["Rscript", str(R_SCRIPT), str(args.work / "input.csv"), str(out_csv),
                        str(args.nburn), str(args.nbetween), str(args.nimp),
                        str(args.work / "jomo_chains.csv"), str(args.chains)], check=True)
    version = subprocess.run(["Rscript", "-e", 'cat(format(packageVersion("jomo")))'],
                             capture_output=True, text=True, check=True).stdout.strip()
    settings = {"nburn": args.nburn, "nbetween": args.nbetween, "nimp": args.nimp,
                "jomo_version": version, "reps_requested": args.reps,
                "designs_requested": args.designs,
                "pooling": "mitml::testEstimates (Rubin's rules, classic df); variance "
                           "components averaged over imputations",
                "complete_data": "same analysis model (lme4) on the pre-amputation data; "
                                 "Wald z intervals",
                "seed": "set.seed(replication_seed(design, rep) % 2147483647) before jomo",
                "missingness": {"a": sd.MISSING_A, "c": sd.MISSING_C},
                "covariate_models": {"a": sd.COVARIATES_A, "c": sd.COVARIATES_C},
                "cluster_sizes": list(sd.CLUSTER_SIZES)}
    doc = collect(args.work, settings)
    JSON_OUT.write_text(json.dumps(doc, indent=1) + "\n")
    for design, s in doc["summary"].items():
        print(design, doc["designs"][design]["reps_finished"], "reps",
              {p: (v.get("bias"), v.get("coverage")) for p, v in s.items() if p != "_timing"})


if __name__ == "__main__":
    main()
