"""Time jaxmice's pmm against R mice's on the same generated single-level data.

Usage::

    python benchmarks/bench.py single --rows 20000 --cols 10 --m 5 --maxit 10 \
        --seed 1 --repeats 1 [--no-r] [--no-jaxmice] [--no-cache] [--results PATH]

Both sides are timed as whole fresh processes (interpreter start, library import,
reading the CSV, imputation): ``r/mice_single.R`` and ``jm_single.py``, each printing its
phase times as one line of JSON (the harness's child protocol), so JAX compilation counts
against jaxmice just as loading the mice package counts against R. ``ratio`` is ``r_seconds /
jaxmice_seconds``: above 1 means jaxmice was faster. A row is appended to
``benchmarks/results/results.csv``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import harness
from generate import make_single_level, write_csv


def print_table(row: dict[str, object]) -> None:
    """Print the timing columns of a result row as a small table."""
    keys = ["rows", "cols", "m", "maxit", "r_seconds", "jaxmice_seconds", "ratio"]
    cells = [str(row[k]) or "-" for k in keys]
    widths = [max(len(k), len(c)) for k, c in zip(keys, cells, strict=True)]
    print("  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True)))
    print("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))


def main(argv: list[str] | None = None) -> None:
    """Generate data, time both sides, print and record the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--cols", type=int, default=10)
    parser.add_argument("--m", type=int, default=5)
    parser.add_argument("--maxit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="runs per side; median is kept")
    parser.add_argument("--no-r", action="store_true", help="time jaxmice only")
    parser.add_argument("--no-jaxmice", action="store_true", help="time R mice only")
    parser.add_argument(
        "--no-cache", action="store_true", help="disable JAX's persistent compilation cache"
    )
    parser.add_argument("--results", type=Path, default=harness.RESULTS, help="CSV to append to")
    args = parser.parse_args(argv)

    notes = [f"median of {args.repeats}"] if args.repeats > 1 else []
    skip_r = harness.r_skip_reason(args.no_r, ["mice"])
    if skip_r:
        notes.append(f"R skipped: {skip_r}")
    if args.no_jaxmice:
        notes.append("jaxmice skipped")
    if args.no_cache:
        notes.append("JAX compilation cache off")

    env = harness.child_env()
    jm_env = dict(env, **harness.NO_CACHE) if args.no_cache else env

    r_s = jm_s = None
    r_runs: list[dict] = []
    jm_runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        write_csv(make_single_level(args.rows, args.cols, args.seed), data)
        common = [str(args.m), str(args.maxit), str(args.seed)]
        if not skip_r:
            r_cmd = ["Rscript", str(harness.HERE / "r" / "mice_single.R"), str(data), *common]
            r_s, r_runs = harness.run_json_repeats(r_cmd, args.repeats, "R mice")
        if not args.no_jaxmice:
            jm_cmd = [sys.executable, str(harness.HERE / "jm_single.py"), str(data)]
            jm_cmd += ["--m", common[0], "--maxit", common[1], "--seed", common[2]]
            jm_cmd += ["--no-cache"] if args.no_cache else []
            jm_s, jm_runs = harness.run_json_repeats(jm_cmd, args.repeats, "jaxmice", jm_env)
    if r_runs:
        notes.append("R: " + ", ".join(
            f"library {r['library']:.2f} read {r['read']:.2f} mice {r['mice']:.2f}"
            for r in r_runs))
    if jm_runs:
        notes.append("jaxmice: " + ", ".join(
            f"import {j['import']:.2f} read {j['read']:.2f} mice {j['mice']:.2f}"
            for j in jm_runs))

    row: dict[str, object] = {
        "date": harness.timestamp(),
        "benchmark": "single_level_pmm",
        "rows": args.rows,
        "cols": args.cols,
        "m": args.m,
        "maxit": args.maxit,
        "r_seconds": harness.fmt(r_s),
        "jaxmice_seconds": harness.fmt(jm_s),
        "ratio": harness.fmt(harness.ratio(r_s, jm_s)),
        "platform": harness.platform_name(),
        "jax_backend": jm_runs[0]["backend"] if jm_runs else "",
        "note": "; ".join(notes),
    }
    print_table(row)
    harness.append_result(row, args.results)
    print(f"appended to {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
