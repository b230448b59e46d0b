"""Data sets of random size (issue 24): a loop of separate calls, or one batch, against R mice.

Usage::

    python benchmarks/bench.py sizes loop [--count 1000] [--every 100] [--r-sets 4] [--no-r]
                                          [--no-cache] [--json OUT] [--r-json OUT]
                                          [--results PATH]
    python benchmarks/bench.py sizes batch [--count 1000] [--r-sets 4] [--no-r] [--no-cache]
                                           [--json OUT] [--r-json OUT] [--results PATH]

The designs are :mod:`sizes_data`'s (random-intercept data, y and x1 by 2l.pan with the cluster
coded -2, m = 5, maxit = 10, then ``lmer`` and pooling):

- ``loop``: the research-code pattern, ``--count`` separate ``jm.mice`` + ``fit`` + ``pool``
  calls in one process on ``sizes_data.loop_frame(1 .. count)`` (30-80 clusters of 10-30 rows):
  ``jm_sizes_loop.py``, which prints its memory marks every ``--every`` calls as it goes;
- ``batch``: ``--count`` replications of ``sizes_data.batch_frame`` (50 clusters of 10-30 rows)
  imputed, fitted and pooled as one batch: ``jm_sizes_batch.py``.

The jaxmice side is one fresh child process with an empty program folder (a new
``XDG_CACHE_HOME``: it compiles everything; ``--no-cache``: programs in memory only). R
(``r/mice_sizes.R``: mice 2l.pan, ``lmer``, mitml's ``testEstimates``, timed inside R) runs on
the first ``--r-sets`` of the same data sets. Both report one line of JSON (the harness's child
protocol). One row goes to the results CSV: ``sizes_loop`` (seconds a call: R's median against
jaxmice's median after its first 20 calls) or ``sizes_batch`` (R's median times ``--count``
against jaxmice's whole batch). ``--json`` and ``--r-json`` keep each side's full report
(``benchmarks/results/sizes/`` holds the earlier ones and ``summary.md``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import sizes_data
from harness import (
    HERE,
    NO_CACHE,
    RESULTS,
    append_result,
    child_env,
    fmt,
    r_skip_reason,
    ratio,
    run_json,
)

R_PACKAGES = ["mice", "pan", "lme4", "mitml", "jsonlite"]
COLUMNS = {"loop": 5, "batch": 4}  # g, x1, x2, (z,) y


def main(argv: list[str] | None = None) -> None:
    """Time one design on both sides; print and record the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("design", choices=("loop", "batch"))
    parser.add_argument("--count", type=int, default=1000,
                        help="calls (loop) or replications (batch)")
    parser.add_argument("--every", type=int, default=100, help="loop: a memory mark every N")
    parser.add_argument("--r-sets", type=int, default=4, help="data sets R is timed on")
    parser.add_argument("--no-r", action="store_true", help="time jaxmice only")
    parser.add_argument("--no-cache", action="store_true",
                        help="jaxmice keeps compiled programs in memory only")
    parser.add_argument("--json", type=Path, default=None, help="write jaxmice's report here")
    parser.add_argument("--r-json", type=Path, default=None, help="write R's report here")
    parser.add_argument("--results", type=Path, default=RESULTS, help="CSV to append to")
    args = parser.parse_args(argv)
    if args.count < 1 or args.r_sets < 1:
        parser.error("--count and --r-sets must be at least 1")

    skip_r = r_skip_reason(args.no_r, R_PACKAGES)
    notes = [f"{args.count} {'calls' if args.design == 'loop' else 'replications'}"]
    r = None
    with tempfile.TemporaryDirectory() as tmp:
        env = child_env(own_cache_only=True)
        env["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        if args.no_cache:
            env.update(NO_CACHE)
        child = HERE / f"jm_sizes_{args.design}.py"
        cmd = [sys.executable, str(child), str(args.count)]
        cmd += ["--every", str(args.every)] if args.design == "loop" else []
        cmd += ["--json", str(args.json.resolve())] if args.json else []
        cmd += ["--no-cache"] if args.no_cache else []
        wall, jm = run_json(cmd, f"jaxmice {args.design}", env)
        if skip_r:
            notes.append(f"R skipped: {skip_r}")
        else:
            folder = Path(tmp) / "data"
            sizes_data.write(args.design, 1, args.r_sets, folder)
            r_json = args.r_json.resolve() if args.r_json else Path(tmp) / "r.json"
            try:
                _, r = run_json(["Rscript", str(HERE / "r" / "mice_sizes.R"), str(folder),
                                 args.design, str(r_json)], "R mice", child_env())
            except RuntimeError as exc:
                print(f"warning: {exc}", file=sys.stderr)
                notes.append("R failed")

    r_per_set = r["median_seconds"] if r else None
    if args.design == "loop":
        jm_s, r_s = jm["median_after_20_s"], r_per_set
        notes.append("seconds a call: jaxmice median after 20 calls"
                     + (f", R median of {args.r_sets}" if r else ""))
        notes.append(f"jaxmice first call {jm['first_call_s']:.2f} s, total {jm['total_s']:.1f}"
                     f" s, {jm['size_classes']} size classes, "
                     f"{sum(jm['compiles'].values())} compiles, peak RSS "
                     f"{jm['peak_rss_mib']:.0f} MiB")
    else:
        jm_s = jm["total_s"]
        r_s = None if r_per_set is None else r_per_set * args.count
        notes.append(f"whole batch: jaxmice impute {jm['impute_s']:.2f} s + fit and pool "
                     f"{jm['fit_pool_s']:.2f} s"
                     + (f"; R median of {args.r_sets} x {args.count}" if r else ""))
        notes.append("coverage " + ", ".join(f"{t} {c:.3f}" for t, c in jm["coverage"].items()))
    notes.append(f"jaxmice process wall {wall:.1f} s")
    notes.append("program cache off" if args.no_cache else "empty program folder")
    row = dict(benchmark=f"sizes_{args.design}", rows="", cols=COLUMNS[args.design], m=5,
               maxit=10, r_seconds=fmt(r_s, 3), jaxmice_seconds=fmt(jm_s, 3),
               ratio=fmt(ratio(r_s, jm_s)), jax_backend=jm.get("backend", "unknown"),
               note="; ".join(notes))
    print(f"sizes {args.design}: R {fmt(r_s, 3) or '-'} s, jaxmice {fmt(jm_s, 3)} s, "
          f"R / jaxmice {fmt(ratio(r_s, jm_s)) or '-'}")
    append_result(row, args.results)
    print(f"appended to {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
