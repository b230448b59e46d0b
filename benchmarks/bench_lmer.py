"""Time jaxmice's lmer against lme4 on the same generated multilevel data, in one run.

Usage::

    python benchmarks/bench.py lmer [--batch-size 100 --batch-rows 2000 --batch-clusters 100] \
        [--big-rows 1000000 --big-clusters 1000] [--seed 1] [--no-r] [--no-cache] [--skip-big]

Two benchmarks, each fitting ``y ~ x1 + x2 + z + (1 | cluster)`` by REML:

- ``lmer_batch100_popmis_size``: ``--batch-size`` data sets of ``--batch-rows`` rows (the
  size of popmis) stacked in one CSV with an ``.imp`` column. R fits them one by one
  (``split`` by ``.imp``); jaxmice fits the list as one batch (one vmapped program).
- ``lmer_1M_rows_1000_clusters``: one fit on ``--big-rows`` rows in ``--big-clusters``
  clusters.

Each side runs as a whole fresh process (``benchmarks/r/lmer_bench.R`` and
``benchmarks/jm_lmer.py``) and reports its phase times as JSON. The table shows
whole-process seconds (R: start-up, ``library(lme4)``, read, fit; jaxmice: start-up,
import, read, first call, without the second, warm call, which is timed inside the
process and subtracted) and fit-only seconds (R's fit against jaxmice's warm call and
its cold first call, which includes tracing and compilation). Ratios are ``r / jaxmice``:
above 1 means jaxmice was faster. The first fit's fixed effects of both sides are
compared (warning above 1e-4). A row per benchmark is appended to the results CSV.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from generate import make_multilevel, write_csv
from harness import (
    HERE,
    NO_CACHE,
    RESULTS,
    append_result,
    child_env,
    fmt,
    jax_backend,
    platform_name,
    r_skip_reason,
    ratio,
    run_json,
    timestamp,
)

TOLERANCE = 1e-4
DATA_COLUMNS = 5  # cluster, x1, x2, z, y


def write_batch(path: Path, size: int, rows: int, clusters: int, seed: int) -> None:
    """Write ``size`` data sets (seeds ``seed .. seed + size - 1``) stacked with ``.imp``."""
    sets = [
        make_multilevel(rows, clusters, seed + i).assign(**{".imp": i + 1}) for i in range(size)
    ]
    long = pd.concat(sets, ignore_index=True)
    write_csv(long[[".imp", *long.columns[:-1]]], path)


def fixed_difference(r: dict, jm: dict) -> float:
    """Largest absolute difference of the first fit's fixed effects (inf if names differ)."""
    if set(r["fixed"]) != set(jm["fixed"]):
        return float("inf")
    return max(abs(r["fixed"][k] - jm["fixed"][k]) for k in r["fixed"])


def run_benchmark(
    name: str, mode: str, csv: Path, skip_r: str | None, no_cache: bool, env: dict[str, str]
) -> dict:
    """Run both sides on one CSV; return the timings and the phase notes."""
    out: dict = {"name": name, "notes": []}
    if not skip_r:
        try:
            wall, rj = run_json(["Rscript", str(HERE / "r" / "lmer_bench.R"), mode, str(csv)], "R")
            out["r"], out["r_whole"], out["r_fit"] = rj, wall, rj["fit"]
            out["notes"].append(
                f"R: library {rj['library']:.2f} read {rj['read']:.2f} ({rj['reader']}) "
                f"split {rj['split']:.2f} fit {rj['fit']:.2f}"
            )
        except RuntimeError as exc:
            print(f"warning: {exc}", file=sys.stderr)
            out["notes"].append("R failed")
    cmd = [sys.executable, str(HERE / "jm_lmer.py"), mode, str(csv)]
    try:
        run_cmd, run_env = (cmd + ["--no-cache"], dict(env, **NO_CACHE)) if no_cache else (cmd, env)
        wall, jj = run_json(run_cmd, "jaxmice", run_env)
        out["jm"], out["jm_whole"] = jj, wall - jj["second_call"]
        out["jm_warm"], out["jm_cold"] = jj["second_call"], jj["first_call"]
        out["notes"].append(
            f"jaxmice: import {jj['import']:.2f} read {jj['read']:.2f} split {jj['split']:.2f} "
            f"first call {jj['first_call']:.2f} warm call {jj['second_call']:.2f} "
            f"(wall {wall:.2f} less the warm call)"
        )
    except RuntimeError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        out["notes"].append("jaxmice failed")
    if "r" in out and "jm" in out:
        diff = out["diff"] = fixed_difference(out["r"], out["jm"])
        out["notes"].append(f"fixed max|diff| {diff:.1e}")
        if not diff <= TOLERANCE:
            print(
                f"warning: {name}: fixed effects differ by {diff:.3g} (> {TOLERANCE:g}):\n"
                f"  R       {out['r']['fixed']}\n  jaxmice {out['jm']['fixed']}",
                file=sys.stderr,
            )
    warm = ratio(out.get("r_fit"), out.get("jm_warm"))
    cold = ratio(out.get("r_fit"), out.get("jm_cold"))
    if warm is not None and cold is not None:
        out["notes"].append(f"fit ratio r/jaxmice warm {warm:.2f} cold {cold:.2f}")
    return out


def print_table(results: list[dict]) -> None:
    """Print whole-process and fit-only seconds of both sides with their ratios."""
    head = ["benchmark", "measure", "R_s", "jaxmice_s", "r/jaxmice"]
    body = []
    for res in results:
        for label, r, jm in [
            ("whole process", res.get("r_whole"), res.get("jm_whole")),
            ("fit: R vs jm warm call", res.get("r_fit"), res.get("jm_warm")),
            ("fit: R vs jm cold call", res.get("r_fit"), res.get("jm_cold")),
        ]:
            cells = [fmt(r, 3), fmt(jm, 3), fmt(ratio(r, jm))]
            body.append([res["name"], label, *(c or "-" for c in cells)])
    widths = [max(len(row[k]) for row in [head, *body]) for k in range(len(head))]
    for row in [head, *body]:
        print(
            "  ".join(
                c.ljust(w) if k < 2 else c.rjust(w)
                for k, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def main(argv: list[str] | None = None) -> None:
    """Generate the data, time both sides, print the table and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--batch-rows", type=int, default=2000)
    parser.add_argument("--batch-clusters", type=int, default=100)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--big-clusters", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-r", action="store_true", help="time jaxmice only")
    parser.add_argument(
        "--no-cache", action="store_true", help="disable JAX's persistent compilation cache"
    )
    parser.add_argument("--skip-big", action="store_true", help="skip the one-big-fit benchmark")
    parser.add_argument("--results", type=Path, default=RESULTS, help="CSV to append to")
    args = parser.parse_args(argv)

    skip_r = r_skip_reason(args.no_r, ["lme4"])
    env = child_env()

    plans = [("lmer_batch100_popmis_size", "batch", args.batch_size, args.batch_rows)]
    if not args.skip_big:
        plans.append(("lmer_1M_rows_1000_clusters", "single", 1, args.big_rows))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, mode, size, rows in plans:
            csv = Path(tmp) / f"{mode}.csv"
            start = time.perf_counter()
            if mode == "batch":
                write_batch(csv, size, rows, args.batch_clusters, args.seed)
                shape = f"{size} data sets x {rows} rows, {args.batch_clusters} clusters"
            else:
                write_csv(make_multilevel(rows, args.big_clusters, args.seed), csv)
                shape = f"{rows} rows, {args.big_clusters} clusters"
            print(
                f"{name} ({shape}): data written in {time.perf_counter() - start:.1f}s",
                file=sys.stderr,
            )
            res = run_benchmark(name, mode, csv, skip_r, args.no_cache, env)
            res.update(rows=rows, m=size, shape=shape)
            results.append(res)

    print_table(results)
    stamp, where = timestamp(), platform_name()
    backend = jax_backend(env)
    for res in results:
        notes = [res["shape"], *res["notes"]]
        notes += [f"R skipped: {skip_r}"] if skip_r else []
        notes += ["JAX compilation cache off"] if args.no_cache else []
        r_s, jm_s = res.get("r_whole"), res.get("jm_whole")
        row: dict[str, object] = {
            "date": stamp,
            "benchmark": res["name"],
            "rows": res["rows"],
            "cols": DATA_COLUMNS,
            "m": res["m"],
            "maxit": "",
            "r_seconds": fmt(r_s),
            "jaxmice_seconds": fmt(jm_s),
            "ratio": fmt(ratio(r_s, jm_s)),
            "platform": where,
            "jax_backend": backend,
            "note": "; ".join(notes),
        }
        append_result(row, args.results)
    print(f"appended {len(results)} rows to {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
