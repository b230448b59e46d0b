"""Time a 1,000-replication simulation study, jaxmice against R mice, in one run.

Usage::

    python benchmarks/bench.py simulation [--reps 1000] [--r-reps 3] [--big 10000] [--no-r]
                                          [--seed 1] [--results PATH] [--out DIR]

The design is the random-intercept study of :mod:`jaxmice.case_studies.simulation` (50
clusters x 20 rows, y and x1 missing at random, 2l.pan for both with the cluster coded -2,
m = 5, maxit = 10, ``lmer(y ~ x1 + x2 + (1 | g))``, pooled, scored).

- jaxmice: ``benchmarks/jm_simulation.py REPS`` as a fresh process without the compilation
  cache: the whole study (impute, analyse, pool, score), compile included, and its peak
  resident memory; then ``--big`` replications (default 10,000) for the memory figure.
- R: ``benchmarks/r/mice_simulation.R`` on the first ``--r-reps`` replications (mice 2l.pan,
  lmer, mitml pooling), its seconds per replication times REPS as R's study time.

Writes ``summary.json`` and ``summary.md`` (under ``--out``, default
``benchmarks/results/simulation``) and appends a row to the results CSV; prints the coverage
of each fixed effect and the ratio R / jaxmice.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from harness import (
    HERE,
    REPO,
    RESULTS,
    append_result,
    child_env,
    fmt,
    platform_name,
    r_skip_reason,
    ratio,
    run_json,
    timestamp,
)

OUT = HERE / "results" / "simulation"


def write_r_inputs(folder: Path, reps: int, seed: int) -> None:
    """The first ``reps`` replications as CSV files, the same data jaxmice imputes."""
    sys.path.insert(0, str(REPO))
    from jaxmice.case_studies import simulation as sim

    for r in range(reps):
        sim.replication(seed * 100_003 + r).to_csv(folder / f"rep_{r:04d}.csv", index=False,
                                                   na_rep="")


def main(argv: list[str] | None = None) -> None:
    """Time the study on both sides; write the summary and append a results row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--r-reps", type=int, default=3, help="replications R is timed on")
    parser.add_argument("--big", type=int, default=10000,
                        help="replications of the memory run (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-r", action="store_true", help="time jaxmice only")
    parser.add_argument("--results", type=Path, default=RESULTS, help="CSV to append to")
    parser.add_argument("--out", type=Path, default=OUT,
                        help="folder of summary.json and summary.md")
    args = parser.parse_args(argv)
    env = child_env()
    child = [sys.executable, str(HERE / "jm_simulation.py")]
    _, study = run_json([*child, str(args.reps), "--seed", str(args.seed)], "jaxmice study", env)
    big = None
    if args.big:
        _, big = run_json([*child, str(args.big), "--seed", str(args.seed)], "jaxmice big", env)
    r = None
    if not r_skip_reason(args.no_r, ["mice", "pan", "lme4", "mitml", "jsonlite"]):
        with tempfile.TemporaryDirectory() as tmp:
            write_r_inputs(Path(tmp), args.r_reps, args.seed)
            _, r = run_json(["Rscript", str(HERE / "r" / "mice_simulation.R"), tmp, "5", "10",
                             str(args.seed)], "R mice", env)
    r_study = None if r is None else (r["impute_per_rep"] + r["analyse_per_rep"]) * args.reps
    summary = {"date": timestamp(), "platform": platform_name(), "reps": args.reps,
               "jaxmice": study, "jaxmice_big": big, "r": r, "r_study_estimate": r_study,
               "ratio": ratio(r_study, study["study"])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    lines = [f"# Simulation study: {args.reps} replications ({summary['date']}, "
             f"{summary['platform']})", "",
             f"- jaxmice whole study, compile included: {study['study']:.1f} s (impute "
             f"{study['impute']:.1f} s, analyse + pool {study['analyse_pool']:.1f} s, score "
             f"{study['score']:.2f} s); peak RSS {study['peak_rss_gib']:.2f} GiB; chunk "
             f"{study['chunk']}"]
    if big:
        lines.append(f"- jaxmice {args.big} replications: {big['study']:.1f} s; peak RSS "
                     f"{big['peak_rss_gib']:.2f} GiB")
    if r:
        lines.append(f"- R mice 2l.pan + lmer + mitml on {r['reps']} replications: "
                     f"{r['impute_per_rep']:.2f} s + {r['analyse_per_rep']:.2f} s per "
                     f"replication; {args.reps} replications: {r_study:.0f} s")
        lines.append(f"- ratio R / jaxmice: {summary['ratio']:.0f}x")
    lines += ["", "| term | bias | bias_mcse | coverage | coverage_mcse |", "|---|---|---|---|---|"]
    for row in study["scores"]:
        lines.append(f"| {row['term']} | {row['bias']:.4f} | {row['bias_mcse']:.4f} | "
                     f"{row['coverage']:.3f} | {row['coverage_mcse']:.3f} |")
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    append_result({"date": summary["date"], "benchmark": f"simulation_{args.reps}reps",
                   "rows": 1000, "cols": 4, "m": 5, "maxit": 10, "r_seconds": fmt(r_study),
                   "jaxmice_seconds": fmt(study["study"]), "ratio": fmt(summary["ratio"]),
                   "platform": summary["platform"],
                   "jax_backend": study.get("backend", "unknown"),
                   "note": f"whole study compile included; peak RSS "
                           f"{study['peak_rss_gib']:.2f} GiB; "
                           + (f"R timed on {args.r_reps} reps" if r else "R skipped")},
                  args.results)
    print(f"appended to {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
