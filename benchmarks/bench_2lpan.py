"""Time jaxmice's 2l.pan imputation against R mice's on the same multilevel data, in one run.

Usage::

    python benchmarks/bench_2lpan.py [--design one|two] [--rows 2000 20000 200000] \
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
import statistics
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
    append_result,
    child_env,
    fmt,
    platform_name,
    r_skip_reason,
    ratio,
    run_json,
    time_cold_and_warm,
    timestamp,
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


def whole_cold(wall: float, jj: dict) -> float:
    """Whole-process seconds of a jaxmice run less its second (warm) call."""
    return wall - jj["warm_call"] - jj["warm_complete"]


def jm_note(label: str, wall: float, jj: dict) -> str:
    """Phase times of one jaxmice process for the results note."""
    return (
        f"{label}: import {jj['import']:.2f} read {jj['read']:.2f} "
        f"first call {jj['first_call']:.2f} complete {jj['first_complete']:.2f} "
        f"warm call {jj['warm_call']:.3f} complete {jj['warm_complete']:.3f} (wall {wall:.2f})"
    )


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


def means_note(res: dict) -> str:
    """The imputed means on every side and the mean of the deleted values, per target."""
    parts = []
    for target, truth in res["truth"].items():
        means = ", ".join(f"{k} {v:.4g}" for k, v in res["means"][target].items())
        parts.append(f"mean imputed {target}: {means}; deleted values {truth:.3f}")
    return "; ".join(parts)


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


def time_jaxmice(jm_cmd: list[str], env: dict, cache: Path, res: dict, targets,
                 args: argparse.Namespace) -> None:
    """Time the jaxmice side of one size into ``res``: cold without cache, cold from a filled
    cache, warm (median of their second calls) and, unless ``args.no_phases``, a ``--phases``
    process. Shared with bench_2lbin.py."""
    runs, failures = time_cold_and_warm(jm_cmd, env, cache)
    res["notes"].extend(failures)
    warm = []
    for run in runs:
        jj = run.report
        res[f"jm_{run.key}"] = whole_cold(run.wall, jj)
        res["backend"] = jj["backend"]
        res["notes"].append(jm_note(run.label, run.wall, jj))
        warm.append(jj["warm_call"])
    if warm:
        res["jm_warm"] = statistics.median(warm)
        res["notes"].append(f"warm: median of {[round(w, 3) for w in warm]}")
        for target in targets:
            add_jm_means(res["means"][target], [run.report for run in runs], target, args.seed)

    if not args.no_phases:
        try:
            _, pj = run_json(jm_cmd + ["--no-cache", "--phases"], "jaxmice --phases", env)
            res["phases"] = pj
            res["notes"].append(
                f"phases (no cache): compile {pj['compile']:.2f} setup {pj['setup']:.2f} "
                f"per iteration {pj['per_iteration']:.4f} (maxit=1 cold {pj['cold_maxit1']:.2f} "
                f"warm {pj['warm_maxit1']:.3f}; maxit={args.maxit} warm {pj['warm_maxit']:.3f})"
            )
        except RuntimeError as exc:
            print(f"warning: {exc}", file=sys.stderr)
            res["notes"].append("--phases failed")


def add_jm_means(means: dict[str, float], reports: list[dict], target: str, seed: int) -> None:
    """Add jaxmice's imputed means of ``target`` (first and warm call) to ``means``.

    Every process uses the same seeds, so the means should agree to rounding; a spread
    between the processes above 1e-9 is added too.
    """
    firsts = [jj[f"mean_imputed_{target}"] for jj in reports]
    warm_means = [jj[f"mean_imputed_{target}_warm"] for jj in reports]
    means[f"jm (seed {seed})"] = firsts[0]
    means[f"jm warm (seed {seed + 1})"] = warm_means[0]
    spread = max(max(v) - min(v) for v in (firsts, warm_means))
    if spread > 1e-9:
        means["jm spread between processes"] = spread


def print_table(results: list[dict]) -> None:
    """Print the seconds of every side and the R / jaxmice ratios, then the details."""
    head = [
        "rows",
        "clusters",
        "R_s",
        "R_mice_s",
        "jm_cold_nocache_s",
        "R/jm",
        "jm_cold_cached_s",
        "R/jm",
        "jm_warm_s",
        "R_mice/jm",
        "jm_warm_s_per_1k_rows",
    ]
    body = []
    for res in results:
        r_whole, r_mice = res.get("r_whole"), res.get("r_mice")
        nocache, cached, warm = res.get("jm_nocache"), res.get("jm_cached"), res.get("jm_warm")
        per_k = warm / res["rows"] * 1000 if warm is not None else None
        cells = [
            str(res["rows"]),
            str(res["clusters"]),
            fmt(r_whole),
            fmt(r_mice),
            fmt(nocache),
            fmt(ratio(r_whole, nocache)),
            fmt(cached),
            fmt(ratio(r_whole, cached)),
            fmt(warm, 3),
            fmt(ratio(r_mice, warm)),
            fmt(per_k, 4),
        ]
        body.append([c or "-" for c in cells])
    widths = [max(len(row[k]) for row in [head, *body]) for k in range(len(head))]
    for row in [head, *body]:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print()
    for res in results:
        if "phases" in res:
            pj = res["phases"]
            print(
                f"{res['rows']} rows, jaxmice phases (no cache): compile {pj['compile']:.2f}s, "
                f"setup {pj['setup']:.3f}s, {pj['per_iteration']:.4f}s per iteration"
            )
        for target, truth in res["truth"].items():
            means = ", ".join(f"{k} {v:.4g}" for k, v in res["means"][target].items())
            print(f"{res['rows']} rows, mean imputed {target}: {means}; deleted values {truth:.3f}")


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

    print_table(results)
    prefix = design.prefix if args.jm_method == METHOD else f"standin_{args.jm_method}"
    if args.jm_method != METHOD and args.design != "one":
        prefix += f"_{args.design}"
    standin = (f"jaxmice used the stand-in method {args.jm_method}, not 2l.pan"
               if args.jm_method != METHOD else None)
    record_results(results, args, prefix, DATA_COLUMNS, standin)


def record_results(results: list[dict], args: argparse.Namespace, prefix: str, cols: int,
                   standin: str | None = None) -> None:
    """Append three rows per size to ``args.results``: ``<prefix>_cold_nocache``,
    ``_cold_cached`` (R's whole process against jaxmice's) and ``_warm`` (R's ``mice()``
    against the warm ``jm.mice`` call), with the size's notes (``standin`` first, if given).
    Shared with bench_2lbin.py."""
    stamp, where = timestamp(), platform_name()
    for res in results:
        notes = ([standin] if standin else []) + list(res["notes"])
        for name, r_s, jm_s in [
            ("cold_nocache", res.get("r_whole"), res.get("jm_nocache")),
            ("cold_cached", res.get("r_whole"), res.get("jm_cached")),
            ("warm", res.get("r_mice"), res.get("jm_warm")),
        ]:
            digits = 3 if name == "warm" else 2
            row: dict[str, object] = {
                "date": stamp,
                "benchmark": f"{prefix}_{name}",
                "rows": res["rows"],
                "cols": cols,
                "m": args.m,
                "maxit": args.maxit,
                "r_seconds": fmt(r_s, digits),
                "jaxmice_seconds": fmt(jm_s, digits),
                "ratio": fmt(ratio(r_s, jm_s)),
                "platform": where,
                "jax_backend": res.get("backend", "unknown"),
                "note": "; ".join(notes),
            }
            append_result(row, args.results)
    print(f"appended {3 * len(results)} rows to {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
