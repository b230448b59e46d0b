"""Time jaxmice's 2l.pan imputation against R mice's on the same multilevel data, in one run.

Usage::

    python benchmarks/bench.py 2lpan [--design one|two] [--rows 2000 20000 200000] \
        [--clusters-per-rows 0.05] [--m 5 --maxit 10 --seed 1] [--r-max-rows N] [--no-r] \
        [--no-phases] [--results PATH]

``--design one`` (the default): for each size the data are
``generate.make_multilevel_missing(rows, clusters, seed)`` (random-intercept model, about
30% of ``y`` missing at random given ``x2`` and ``z``) with ``clusters = round(rows *
--clusters-per-rows)``: by default rows / 20 clusters of 20 rows each. Only ``y`` is
imputed, by 2l.pan with x1, x2, z fixed and a random intercept per cluster.

``--design two``: the data are ``generate.make_multilevel_two_missing(rows, clusters,
seed)`` (``x1`` with a cluster component; about 30% of ``y`` and 30% of ``x1`` missing at
random given ``x2`` and ``z``), by default 20,000 rows in 100 clusters of 200 rows
(``--rows 20000 --clusters-per-rows 0.005``). Both ``y`` and ``x1`` are imputed by 2l.pan,
each with the other, x2 and z fixed and a random intercept per cluster (cluster -2 in both
rows of the predictor matrix); x2 and z are complete and not imputed. The rows are named
``2lpan_two_*``.

Every side runs as a whole fresh process that prints its phase times as JSON:

- R: ``Rscript benchmarks/r/mice_2lpan.R`` (start-up, ``library(mice)``, read, ``mice``);
  skipped above ``--r-max-rows``.
- jaxmice cold, no cache: ``benchmarks/jm_2lpan.py --no-cache``: start-up, import,
  read, first ``jm.mice`` call with tracing and compilation; nothing is read from or
  written to the persistent compilation cache.
- jaxmice cold, cached: the same script with the persistent cache on, in a fresh
  empty cache directory (``XDG_CACHE_HOME`` in the run's temporary folder): a first
  process compiles and fills the cache, a second process, the one reported, loads the
  compiled programs whole from it (no tracing or compiling).
- jaxmice warm: each of those jaxmice processes calls ``jm.mice`` a second time with a
  new seed, reusing the compiled programs; the median of the three warm calls is
  reported. Its time is subtracted from the cold whole-process times.
- ``--phases`` process (``--no-cache``, skipped with ``--no-phases``): splits the cold
  call into compilation, set-up and seconds per iteration (see ``jm_2lpan.py``).

Ratios are R / jaxmice (above 1: jaxmice faster): cold ones compare whole processes,
the warm one compares R's ``mice()`` call alone with the warm ``jm.mice`` call. Three
rows per size are appended to the results CSV (``2lpan_cold_nocache``,
``2lpan_cold_cached``, ``2lpan_warm``) with the phase times in ``note``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from generate import (
    make_multilevel,
    make_multilevel_missing,
    make_multilevel_two,
    make_multilevel_two_missing,
    write_csv,
)
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

DATA_COLUMNS = 5  # cluster, x1, x2, z, y
METHOD = "2l.pan"


@dataclass(frozen=True)
class Design:
    """A benchmark design: which columns are incomplete and imputed, and its data.

    Attributes:
        targets: the columns imputed by 2l.pan (each with cluster -2 in its row).
        complete: ``(rows, clusters, seed) -> DataFrame`` before the values are deleted.
        incomplete: ``(rows, clusters, seed) -> DataFrame`` with the values deleted.
        prefix: the start of the benchmark names in the results CSV.
        rows: the default ``--rows``.
        clusters_per_rows: the default ``--clusters-per-rows``.
    """

    targets: tuple[str, ...]
    complete: Callable[[int, int, int], pd.DataFrame]
    incomplete: Callable[[int, int, int], pd.DataFrame]
    prefix: str
    rows: tuple[int, ...]
    clusters_per_rows: float


DESIGNS = {
    "one": Design(
        ("y",), make_multilevel, make_multilevel_missing, "2lpan", (2000, 20000, 200000), 0.05
    ),
    "two": Design(
        ("y", "x1"), make_multilevel_two, make_multilevel_two_missing, "2lpan_two", (20000,), 0.005
    ),
}


def write_data(
    design: Design, rows: int, clusters: int, seed: int, csv: Path
) -> tuple[dict[str, float], dict[str, int]]:
    """Write one incomplete data set; return per target the mean and number of deleted values."""
    df = design.incomplete(rows, clusters, seed)
    complete = design.complete(rows, clusters, seed)
    truth, n_missing = {}, {}
    for target in design.targets:
        missing = df[target].isna().to_numpy()
        truth[target] = float(complete[target].to_numpy()[missing].mean())
        n_missing[target] = int(missing.sum())
    write_csv(df, csv)
    return truth, n_missing


def run_size(
    rows: int,
    clusters: int,
    args: argparse.Namespace,
    skip_r: str | None,
    env: dict[str, str],
    tmp: Path,
) -> dict:
    """Generate one data set and time every side on it; return timings and notes."""
    design = DESIGNS[args.design]
    csv = tmp / f"data_{rows}.csv"
    start = time.perf_counter()
    truth, n_missing = write_data(design, rows, clusters, args.seed, csv)
    counts = ", ".join(f"{n} {target} missing" for target, n in n_missing.items())
    print(
        f"{rows} rows, {clusters} clusters, {counts}: "
        f"data written in {time.perf_counter() - start:.1f}s",
        file=sys.stderr,
    )
    res: dict = {
        "rows": rows,
        "clusters": clusters,
        "truth": truth,
        "notes": [],
        "means": {target: {} for target in design.targets},
    }
    # other processes on the machine distort the times: record how busy it was
    load = os.getloadavg()[0]
    res["notes"].append(f"{clusters} clusters, {counts}, load average {load:.2f}")
    common = [str(csv), str(args.m), str(args.maxit), str(args.seed)]
    r_targets = [] if design.targets == ("y",) else [",".join(design.targets)]
    jm_targets = [] if design.targets == ("y",) else ["--impute", *design.targets]

    if skip_r or (args.r_max_rows is not None and rows > args.r_max_rows):
        why = skip_r or f"rows > --r-max-rows {args.r_max_rows}"
        res["notes"].append(f"R skipped: {why}")
    else:
        try:
            r_script = str(HERE / "r" / "mice_2lpan.R")
            wall, rj = run_json(["Rscript", r_script, *common, *r_targets], "R")
            res["r_whole"], res["r_mice"] = wall, rj["mice"]
            for target in design.targets:
                res["means"][target]["R"] = rj[f"mean_imputed_{target}"]
            res["notes"].append(
                f"R: library {rj['library']:.2f} read {rj['read']:.2f} mice {rj['mice']:.2f} "
                f"(wall {wall:.2f})"
            )
        except RuntimeError as exc:
            print(f"warning: {exc}", file=sys.stderr)
            res["notes"].append("R failed")

    jm_cmd = [sys.executable, str(HERE / "jm_2lpan.py"), *common, *jm_targets]
    if args.jm_method != METHOD:
        jm_cmd += ["--method", args.jm_method]
    time_jaxmice(jm_cmd, env, tmp / f"cache_{rows}", res, design.targets, args)
    res["notes"].append(means_note(res))
    return res


def main(argv: list[str] | None = None) -> None:
    """Generate the data sets, time every side, print the table and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--design",
        choices=sorted(DESIGNS),
        default="one",
        help="one: impute y only (default); two: impute y and x1 (100 clusters of 200 rows)",
    )
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=None,
        help="design one: 2000 20000 200000; two: 20000",
    )
    parser.add_argument(
        "--clusters-per-rows",
        type=float,
        default=None,
        help="clusters = round(rows * this); design one: 0.05 (rows/20 clusters of 20 rows "
        "each); two: 0.005 (clusters of 200 rows)",
    )
    parser.add_argument("--m", type=int, default=5)
    parser.add_argument("--maxit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--r-max-rows", type=int, default=None, help="skip R above this size")
    parser.add_argument("--no-r", action="store_true", help="time jaxmice only")
    parser.add_argument(
        "--no-phases", action="store_true", help="skip the --phases jaxmice process"
    )
    parser.add_argument(
        "--jm-method",
        default=METHOD,
        help="testing only: a stand-in method for jaxmice (results named standin_<method>_*)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="CSV to append to")
    args = parser.parse_args(argv)
    if args.maxit < 2 and not args.no_phases:
        parser.error("--phases needs --maxit >= 2 (or pass --no-phases)")
    design = DESIGNS[args.design]
    if args.rows is None:
        args.rows = list(design.rows)
    if args.clusters_per_rows is None:
        args.clusters_per_rows = design.clusters_per_rows

    skip_r = r_skip_reason(args.no_r, ["mice", "pan"])
    env = child_env(own_cache_only=True)  # jaxmice then uses XDG_CACHE_HOME

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            clusters = max(1, min(rows, round(rows * args.clusters_per_rows)))
            results.append(run_size(rows, clusters, args, skip_r, env, Path(tmp)))

    print_imputation_table(results)
    prefix = design.prefix if args.jm_method == METHOD else f"standin_{args.jm_method}"
    if args.jm_method != METHOD and args.design != "one":
        prefix += f"_{args.design}"
    standin = (f"jaxmice used the stand-in method {args.jm_method}, not 2l.pan"
               if args.jm_method != METHOD else None)
    record_imputation_results(results, args, prefix, DATA_COLUMNS, standin)


if __name__ == "__main__":
    main()
