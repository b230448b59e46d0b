"""Time the README's main job, ``jaxmice demo popmis --out DIR``, against the same job in R.

Usage::

    python benchmarks/bench.py demo [--repeats N] [--no-r] [--results PATH]

Every side is a whole fresh process, timed from outside:

- R: ``Rscript benchmarks/r/popmis_demo.R popmis.csv OUT``, with the popmis CSV shipped in
  ``jaxmice/datasets/data/``. It does in R what ``jaxmice/case_studies/popmis.py`` does:
  ``md.pattern`` (printed and plotted), the ICC of the observed rows, a correlation plot, the
  three imputations of ``popular`` (ignore the cluster: pmm with school not a predictor;
  fixed dummies: pmm with school a factor; multilevel: 2l.pan with school -2; each m = 20,
  maxit = 10, seed 1) with a trace plot each, ``with(imp, lmer(popular ~ 1 + sex + texp +
  (1 | school)))`` pooled by mitml's ``testEstimates(as.mitml.result(fits), extra.pars =
  TRUE)``, the predictor-matrix and density plots of the multilevel imputation, the
  complete-case ``lmer`` and the pooled table as CSV. It writes the same 7 figures (lattice
  and base graphics to png) and the table; it does not compute the R-hat of the multilevel
  chains that jaxmice prints (mice has no such function).
- jaxmice: ``python -m jaxmice.cli demo popmis --out OUT`` three ways: ``first``, with an
  empty persistent compilation cache (a fresh ``XDG_CACHE_HOME`` folder: it compiles and
  fills the cache); ``second``, the next run with that same cache (it loads the compiled
  programs whole: no tracing, lowering or compiling); ``nocache``, with the cache switched off
  (``JAXMICE_COMPILATION_CACHE=0``: what every run costs without the cache).

With ``--repeats N`` each of the four runs N times (each ``first`` with its own empty cache)
and the median is reported. Ratios are R / jaxmice (above 1: jaxmice faster). One row per
jaxmice way is appended to the results CSV (``demo_popmis_first``, ``demo_popmis_second``,
``demo_popmis_nocache``); ``note`` holds the load average at the start, the R phase times and
the pooled ICC of each strategy on both sides (from the ``popmis_pooled.csv`` both write).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
from pathlib import Path

from harness import (
    HERE,
    REPO,
    RESULTS,
    append_result,
    child_env,
    cold_run_plan,
    fmt,
    jax_backend,
    platform_name,
    r_skip_reason,
    ratio,
    run_json,
    time_process,
    timestamp,
)

POPMIS_CSV = REPO / "jaxmice" / "datasets" / "data" / "popmis.csv"
R_PACKAGES = ["mice", "lme4", "mitml", "pan", "jsonlite"]
ROWS, COLS, M, MAXIT = 2000, 4, 20, 10  # school, popular, sex, texp; the demo's defaults
# cold_run_plan's keys and the names of the three jaxmice ways
WAYS = {"fill": "first", "cached": "second", "nocache": "nocache"}
POOLED_CSV = "popmis_pooled.csv"
ICC_ROW = "ICC|school"


def read_pooled(path: Path) -> dict[str, dict[str, str]]:
    """Read a ``popmis_pooled.csv``: ``{parameter: {strategy: cell}}``."""
    with path.open(newline="") as fh:
        return {row.pop("parameter"): row for row in csv.DictReader(fh)}


def time_r(repeats: int, tmp: Path) -> dict:
    """Run the R script ``repeats`` times; return the median wall time, phases and table.

    Raises:
        RuntimeError: a run failed.
    """
    walls, report = [], {}
    for i in range(repeats):
        out = tmp / f"r_{i}"
        cmd = ["Rscript", str(HERE / "r" / "popmis_demo.R"), str(POPMIS_CSV), str(out)]
        wall, report = run_json(cmd, f"R run {i + 1}/{repeats}")
        walls.append(wall)
    return {
        "wall": statistics.median(walls),
        "walls": walls,
        "report": report,
        "pooled": read_pooled(out / POOLED_CSV),
    }


def time_jaxmice(repeats: int, env: dict[str, str], tmp: Path) -> tuple[dict, list[str]]:
    """Run the demo the three ways ``repeats`` times; return the walls per way and failures.

    The runs of one repeat come from :func:`harness.cold_run_plan` with a new empty cache
    folder (no cache; filling it, i.e. ``first``; from it, i.e. ``second``).
    """
    walls: dict[str, list[float]] = {way: [] for way in WAYS.values()}
    failures, pooled = [], {}
    for i in range(repeats):
        cli = [sys.executable, "-m", "jaxmice.cli", "demo", "popmis", "--out"]
        plan = cold_run_plan(cli, [], env, tmp / f"cache_{i}")
        for label, key, cmd, run_env in plan:
            out = tmp / f"jm_{key}_{i}"
            print(f"  {label} ({WAYS[key]}) run {i + 1}/{repeats}", file=sys.stderr)
            try:
                walls[WAYS[key]].append(time_process([*cmd, str(out)], run_env))
            except RuntimeError as exc:
                print(f"warning: {exc}", file=sys.stderr)
                failures.append(f"jaxmice {WAYS[key]} run {i + 1} failed")
                continue
            pooled = read_pooled(out / POOLED_CSV)
    return {"walls": walls, "pooled": pooled}, failures


def icc_note(side: str, pooled: dict[str, dict[str, str]]) -> str:
    """The pooled ICC of every strategy (and the complete cases) on one side."""
    cells = pooled.get(ICC_ROW, {})
    return f"{side} ICC: " + ", ".join(f"{name} {cell}" for name, cell in cells.items())


def print_comparison(r_pooled: dict | None, jm_pooled: dict | None) -> None:
    """Print the pooled tables of both sides, a line per parameter and strategy."""
    if not r_pooled or not jm_pooled:
        return
    print("\npooled estimate (se): R | jaxmice")
    for parameter, cells in jm_pooled.items():
        for strategy, cell in cells.items():
            r_cell = r_pooled.get(parameter, {}).get(strategy, "-")
            print(f"  {parameter:28s} {strategy:22s} {r_cell:>17s} | {cell:>17s}")


def print_table(r_s: float | None, jm: dict[str, float | None]) -> None:
    """Print the whole-process seconds of every side and the ratios R / jaxmice."""
    head = ["side", "seconds", "R/jaxmice"]
    body = [["R", fmt(r_s) or "-", ""]]
    body += [[f"jaxmice {way}", fmt(s) or "-", fmt(ratio(r_s, s)) or "-"] for way, s in jm.items()]
    widths = [max(len(row[k]) for row in [head, *body]) for k in range(len(head))]
    for row in [head, *body]:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def record(
    r_s: float | None, jm: dict[str, float | None], notes: list[str], backend: str, path: Path
) -> None:
    """Append one row per jaxmice way to the results CSV."""
    stamp, where = timestamp(), platform_name()
    for way, seconds in jm.items():
        append_result(
            {
                "date": stamp,
                "benchmark": f"demo_popmis_{way}",
                "rows": ROWS,
                "cols": COLS,
                "m": M,
                "maxit": MAXIT,
                "r_seconds": fmt(r_s),
                "jaxmice_seconds": fmt(seconds),
                "ratio": fmt(ratio(r_s, seconds)),
                "platform": where,
                "jax_backend": backend,
                "note": "; ".join(notes),
            },
            path,
        )
    print(f"appended {len(jm)} rows to {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Time both sides of the popmis demo, print the table and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs per side (median)")
    parser.add_argument("--no-r", action="store_true", help="time jaxmice only")
    parser.add_argument("--results", type=Path, default=RESULTS, help="CSV to append to")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    # other processes on the machine distort the times: record how busy it was
    notes = [f"load average {os.getloadavg()[0]:.2f}"]
    if args.repeats > 1:
        notes.append(f"median of {args.repeats} runs")
    skip_r = r_skip_reason(args.no_r, R_PACKAGES)
    env = child_env(own_cache_only=True)  # jaxmice then uses XDG_CACHE_HOME
    r_s, r_pooled = None, None
    with tempfile.TemporaryDirectory() as tmp:
        if skip_r:
            notes.append(f"R skipped: {skip_r}")
        else:
            try:
                r = time_r(args.repeats, Path(tmp))
                r_s, r_pooled = r["wall"], r["pooled"]
                phases = " ".join(f"{k} {v:.2f}" for k, v in r["report"]["times"].items())
                per = ", ".join(
                    f"{name}: mice {t['mice']:.2f} fit+pool {t['fit_pool']:.2f}"
                    for name, t in r["report"]["strategies"].items()
                )
                notes.append(f"R: {phases}; {per} (walls {[round(w, 2) for w in r['walls']]})")
            except RuntimeError as exc:
                print(f"warning: {exc}", file=sys.stderr)
                notes.append("R failed")
        jm_runs, failures = time_jaxmice(args.repeats, env, Path(tmp))
    notes.extend(failures)
    jm = {way: statistics.median(w) if w else None for way, w in jm_runs["walls"].items()}
    notes.append(
        "jaxmice walls: "
        + ", ".join(f"{way} {[round(w, 2) for w in ws]}" for way, ws in jm_runs["walls"].items())
    )
    if r_pooled:
        notes.append(icc_note("R", r_pooled))
    if jm_runs["pooled"]:
        notes.append(icc_note("jaxmice", jm_runs["pooled"]))

    print_table(r_s, jm)
    print_comparison(r_pooled, jm_runs["pooled"])
    record(r_s, jm, notes, jax_backend(env), args.results)


if __name__ == "__main__":
    main()
