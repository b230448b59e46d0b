"""Time jaxmice's 2l.bin + 2l.pan imputation against R mice's on the same IPD-like data, in one run.

Usage::

    python benchmarks/bench.py 2lbin [--rows 10000] [--clusters 200] [--m 5 --maxit 5 --seed 1] \
        [--no-r] [--no-phases] [--b-method 2l.bin] [--results PATH]

For each size the data are ``generate.make_ipd_binary_missing(rows, clusters, seed)``: an
IPD-like layout (by default 10,000 rows in 200 clusters of 50, e.g. 200 centres of 50
patients) with a complete covariate ``x2``, a binary ``b`` (logit model with a random
intercept, about 40% ones) and a continuous ``y`` (random-intercept model on ``x2`` and
``b``), about 25% of each of ``b`` and ``y`` missing at random given ``x2``. ``b`` is
imputed by 2l.bin and ``y`` by 2l.pan, each with the other and x2 fixed and a random
intercept per cluster ``g``.

Every side runs as a whole fresh process that prints its phase times as JSON:

- R: ``Rscript benchmarks/r/mice_2lbin.R`` (start-up, ``library(mice)``, read, ``mice``).
- jaxmice cold without cache, cold from a freshly filled cache and warm (the median of the
  second calls of those processes): ``benchmarks/jm_2lbin.py``, as in ``bench_2lpan.py``
  (both through the harness's :func:`harness.time_jaxmice`);
  plus a ``--phases`` process unless ``--no-phases``.

Ratios are R / jaxmice (above 1: jaxmice faster). Three rows per size are appended to the
results CSV (``2lbin_cold_nocache``, ``2lbin_cold_cached``, ``2lbin_warm``; with
``--b-method M`` other than 2l.bin they are named ``standin_<M>_2lbin_*``: jaxmice then
imputed ``b`` by that stand-in, and the rows are not 2l.bin results).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from generate import make_ipd_binary, make_ipd_binary_missing, write_csv
from harness import (
    HERE,
    RESULTS,
    child_env,
    means_note,
    print_imputation_table,
    r_skip_reason,
    record_imputation_results,
    run_json,
    time_jaxmice,
)

DATA_COLUMNS = 4  # g, y, b, x2
B_METHOD = "2l.bin"
TARGETS = ("b", "y")
PREFIX = "2lbin"


def run_r(csv: Path, common: list[str], res: dict) -> None:
    """Time the R side on one data set and record its times, means and a note in ``res``."""
    try:
        r_script = str(HERE / "r" / "mice_2lbin.R")
        wall, rj = run_json(["Rscript", r_script, *common], "R")
    except RuntimeError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        res["notes"].append("R failed")
        return
    res["r_whole"], res["r_mice"] = wall, rj["mice"]
    for target in TARGETS:
        res["means"][target]["R"] = rj[f"mean_imputed_{target}"]
    res["notes"].append(
        f"R: start-up {wall - rj['library'] - rj['read'] - rj['mice']:.2f} library "
        f"{rj['library']:.2f} read {rj['read']:.2f} mice {rj['mice']:.2f} (wall {wall:.2f}; "
        f"{rj['warnings']} warnings)"
    )


def run_size(
    rows: int,
    clusters: int,
    args: argparse.Namespace,
    skip_r: str | None,
    env: dict[str, str],
    tmp: Path,
) -> dict:
    """Generate one data set and time every side on it; return timings and notes."""
    csv = tmp / f"data_{rows}.csv"
    start = time.perf_counter()
    df = make_ipd_binary_missing(rows, clusters, args.seed)
    complete = make_ipd_binary(rows, clusters, args.seed)
    write_csv(df, csv)
    deleted = {t: df[t].isna().to_numpy() for t in TARGETS}
    n_missing = {t: int(miss.sum()) for t, miss in deleted.items()}
    counts = ", ".join(f"{n} {target} missing" for target, n in n_missing.items())
    print(
        f"{rows} rows, {clusters} clusters, {counts}: "
        f"data written in {time.perf_counter() - start:.1f}s",
        file=sys.stderr,
    )
    res: dict = {
        "rows": rows,
        "clusters": clusters,
        "truth": {
            t: float(complete[t].to_numpy(dtype=float)[miss].mean()) for t, miss in deleted.items()
        },
        "notes": [],
        "means": {target: {} for target in TARGETS},
    }
    load = os.getloadavg()[0]
    res["notes"].append(f"{clusters} clusters, {counts}, load average {load:.2f}")
    common = [str(csv), str(args.m), str(args.maxit), str(args.seed)]

    if skip_r:
        res["notes"].append(f"R skipped: {skip_r}")
    else:
        run_r(csv, common, res)

    jm_cmd = [sys.executable, str(HERE / "jm_2lbin.py"), *common]
    if args.b_method != B_METHOD:
        jm_cmd += ["--b-method", args.b_method]
    time_jaxmice(jm_cmd, env, tmp / f"cache_{rows}", res, TARGETS, args)
    res["notes"].append(means_note(res))
    return res


def main(argv: list[str] | None = None) -> None:
    """Generate the data sets, time every side, print the table and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10000])
    parser.add_argument(
        "--clusters",
        type=int,
        default=None,
        help="number of clusters (default rows / 50: clusters of 50 rows)",
    )
    parser.add_argument("--m", type=int, default=5)
    parser.add_argument("--maxit", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-r", action="store_true", help="time jaxmice only")
    parser.add_argument(
        "--no-phases", action="store_true", help="skip the --phases jaxmice process"
    )
    parser.add_argument(
        "--b-method",
        default=B_METHOD,
        help="testing only: a stand-in method for b on the jaxmice side (e.g. 2l.pmm)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="CSV to append to")
    args = parser.parse_args(argv)
    if args.maxit < 2 and not args.no_phases:
        parser.error("--phases needs --maxit >= 2 (or pass --no-phases)")

    skip_r = r_skip_reason(args.no_r, ["mice", "pan", "lme4"])
    env = child_env(own_cache_only=True)  # jaxmice then uses XDG_CACHE_HOME

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            clusters = args.clusters if args.clusters is not None else max(1, rows // 50)
            results.append(run_size(rows, min(rows, clusters), args, skip_r, env, Path(tmp)))

    print_imputation_table(results)
    standin = args.b_method != B_METHOD
    prefix = f"standin_{args.b_method}_{PREFIX}" if standin else PREFIX
    record_imputation_results(results, args, prefix, DATA_COLUMNS,
                   f"jaxmice imputed b by the stand-in method {args.b_method}, not 2l.bin"
                   if standin else None)


if __name__ == "__main__":
    main()
