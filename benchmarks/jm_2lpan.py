"""jaxmice side of the multilevel (2l.pan) benchmark, meant to run as a fresh process.

Usage::

    python benchmarks/jm_2lpan.py data.csv M MAXIT SEED [--impute y [x1]] [--no-cache] [--phases]

Reads the CSV written by ``benchmarks/bench_2lpan.py`` (columns cluster, x1, x2, z, y; the
``--impute`` columns incomplete, by default ``y`` only) and imputes each of them with
``2l.pan``: ``pred = jm.make_predictor_matrix(df, cluster="cluster")`` with ``cluster`` kept
as -2 (random intercept) in the rows of the imputed columns only, and every other data
column as a fixed effect (1); no other column is imputed. This is the model of
``benchmarks/r/mice_2lpan.R``. ``--impute y x1`` is the two-variable design: y and x1 are
imputed, each with the other, x2 and z as fixed effects.

Default mode makes two calls in the same process::

    jm.mice(df, m=M, maxit=MAXIT, method={"y": "2l.pan", ...}, predictor_matrix=pred,
            seed=SEED, progress=False)

first with ``SEED`` (cold: tracing, compiling or loading from the persistent cache,
running), then with ``SEED + 1`` (warm: the compiled programs are reused). Each call is
followed by ``imp.complete("long")``, timed separately, from which the mean of the
imputed values of each imputed column (the cells missing in the CSV, over all m
imputations) is taken: ``mean_imputed_y`` (and ``mean_imputed_x1``, ...).

``--phases`` mode splits the cold call into compiling and running. jaxmice compiles one
program for the initial fill and one for a single iteration (all m chains), whatever
``maxit`` is, so a call with ``maxit=1`` compiles everything a call with ``maxit=MAXIT``
does. The process times ``maxit=1`` cold (seed ``SEED``), ``maxit=1`` warm (``SEED +
1``) and ``maxit=MAXIT`` warm (``SEED + 2``); then ``compile`` = cold - warm ``maxit=1``
(tracing and compilation, plus other first-call costs), ``per_iteration`` = (warm
``MAXIT`` - warm ``1``) / (MAXIT - 1), and ``setup`` = warm ``1`` - ``per_iteration``
(checking the data, building the plan, the initial fill). Use it with ``--no-cache``.

``--no-cache`` sets ``JAXMICE_COMPILATION_CACHE=0`` before jaxmice's first call, so
nothing is read from or written to JAX's persistent compilation cache. ``--method``
replaces 2l.pan for testing the script (a single-level method such as ``pmm``; the
cluster column is then not used at all): such numbers are not 2l.pan results.

Prints one line of JSON to stdout with the phase times in seconds; the harness times
the whole process.
"""

from __future__ import annotations

import argparse
import time

from harness import report, switch_off_compilation_cache, timed_calls

CLUSTER = "cluster"


def main(argv: list[str] | None = None) -> None:
    """Time jaxmice 2l.pan imputations of a benchmark CSV and print the phases as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("m", type=int)
    parser.add_argument("maxit", type=int)
    parser.add_argument("seed", type=int)
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="disable jaxmice's persistent compilation cache (measures cold compilation)",
    )
    parser.add_argument(
        "--phases",
        action="store_true",
        help="split the cold call into compilation and running (see the module docstring)",
    )
    parser.add_argument(
        "--method",
        default="2l.pan",
        help="method of the imputed columns; anything else is a test stand-in",
    )
    parser.add_argument(
        "--impute", nargs="+", default=["y"], help="the incomplete columns to impute (default y)"
    )
    args = parser.parse_args(argv)
    if args.phases and args.maxit < 2:
        parser.error("--phases needs maxit >= 2")

    t0 = time.perf_counter()
    if args.no_cache:
        switch_off_compilation_cache()  # JAXMICE_COMPILATION_CACHE=0
    import jax
    import numpy as np
    import pandas as pd

    import jaxmice as jm

    t1 = time.perf_counter()
    df = pd.read_csv(args.csv)
    t2 = time.perf_counter()

    targets = args.impute
    missing = {t: df[t].isna().to_numpy() for t in targets}
    multilevel = jm.available_methods()[args.method].needs_cluster
    pred = jm.make_predictor_matrix(df, cluster=CLUSTER if multilevel else None)
    # The cluster column is a predictor (-2, the class variable) of the imputed columns only,
    # as in the R script.
    pred.loc[:, CLUSTER] = 0
    if multilevel:
        pred.loc[targets, CLUSTER] = -2
    method = dict.fromkeys(targets, args.method)

    def impute(seed: int, maxit: int) -> tuple[float, float, dict[str, float]]:
        """One ``jm.mice`` call; return its seconds, complete's seconds and the means."""
        start = time.perf_counter()
        imp = jm.mice(
            df,
            m=args.m,
            maxit=maxit,
            method=method,
            predictor_matrix=pred,
            seed=seed,
            progress=False,
        )
        jax.block_until_ready(imp.data)
        called = time.perf_counter()
        long = imp.complete("long")
        done = time.perf_counter()
        means = {}
        for target in targets:
            imputed = long[target].to_numpy().reshape(args.m, len(df))[:, missing[target]]
            if not np.isfinite(imputed).all():
                raise SystemExit(f"jaxmice left missing or non-finite values in {target}")
            means[target] = float(imputed.mean())
        return called - start, done - called, means

    out: dict[str, object] = {
        "rows": len(df),
        "clusters": int(df[CLUSTER].nunique()),
        "n_missing": int(sum(miss.sum() for miss in missing.values())),
        "impute": targets,
        "m": args.m,
        "maxit": args.maxit,
        "method": args.method,
        "backend": jax.default_backend(),
        "cache": not args.no_cache,
        "mode": "phases" if args.phases else "calls",
        "import": round(t1 - t0, 3),
        "read": round(t2 - t1, 3),
    }
    out |= timed_calls(impute, args.seed, args.maxit, args.phases, targets)
    report(out)


if __name__ == "__main__":
    main()
