"""jaxmice side of the 2l.bin + 2l.pan benchmark, meant to run as a fresh process.

Usage::

    python benchmarks/jm_2lbin.py data.csv M MAXIT SEED [--b-method 2l.bin] [--no-cache] [--phases]

Reads the CSV written by ``benchmarks/bench_2lbin.py`` (columns g, y, b, x2; see
``generate.make_ipd_binary_missing``; ``b`` is read as ``Int64`` 0/1, so jaxmice treats it
as binary) and imputes ``b`` by ``2l.bin`` and ``y`` by ``2l.pan`` with
``pred = jm.make_predictor_matrix(df, cluster="g")``: each with the other and x2 as fixed
effects and g (-2) as the cluster with a random intercept. This is the model of
``benchmarks/r/mice_2lbin.R``.

Default mode makes two calls in the same process::

    jm.mice(df, m=M, maxit=MAXIT, method={"b": "2l.bin", "y": "2l.pan"},
            predictor_matrix=pred, seed=SEED, progress=False)

first with ``SEED`` (cold: tracing, compiling or loading from the persistent cache,
running), then with ``SEED + 1`` (warm). Each call is followed by ``imp.complete("long")``,
timed separately, from which the means of the imputed values of ``y`` and ``b`` (the
cells missing in the CSV, over all m imputations) are taken. ``--phases`` splits the cold
call into compiling, set-up and seconds per iteration exactly as ``jm_2lpan.py`` does
(``harness.timed_calls``);
``--no-cache`` switches the persistent compilation cache off.

``--b-method`` replaces 2l.bin for ``b`` (testing only, e.g. ``2l.pmm`` while 2l.bin is
not available): such numbers are not 2l.bin results.

Prints one line of JSON to stdout with the phase times in seconds (the harness's child
protocol); the harness times the whole process.
"""

from __future__ import annotations

import argparse
import time

from harness import report, switch_off_compilation_cache, timed_calls

CLUSTER = "g"
TARGETS = ("b", "y")
B_METHOD = "2l.bin"
Y_METHOD = "2l.pan"


def main(argv: list[str] | None = None) -> None:
    """Time jaxmice 2l.bin + 2l.pan imputations of a benchmark CSV and print the phases as JSON."""
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
        help="split the cold call into compilation and running (see jm_2lpan.py)",
    )
    parser.add_argument(
        "--b-method",
        default=B_METHOD,
        help="method of b (default 2l.bin); anything else is a test stand-in",
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
    df = pd.read_csv(args.csv, dtype={CLUSTER: "int64", "b": "Int64"})
    t2 = time.perf_counter()

    missing = {t: df[t].isna().to_numpy() for t in TARGETS}
    pred = jm.make_predictor_matrix(df, cluster=CLUSTER)
    method = {"b": args.b_method, "y": Y_METHOD}

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
        for target in TARGETS:
            values = long[target].to_numpy(dtype=float, na_value=np.nan)
            imputed = values.reshape(args.m, len(df))[:, missing[target]]
            if not np.isfinite(imputed).all():
                raise SystemExit(f"jaxmice left missing or non-finite values in {target}")
            means[target] = float(imputed.mean())
        return called - start, done - called, means

    out: dict[str, object] = {
        "rows": len(df),
        "clusters": int(df[CLUSTER].nunique()),
        "n_missing": int(sum(miss.sum() for miss in missing.values())),
        "impute": list(TARGETS),
        "m": args.m,
        "maxit": args.maxit,
        "method": method,
        "backend": jax.default_backend(),
        "cache": not args.no_cache,
        "mode": "phases" if args.phases else "calls",
        "import": round(t1 - t0, 3),
        "read": round(t2 - t1, 3),
    }
    out |= timed_calls(impute, args.seed, args.maxit, args.phases, TARGETS)
    report(out)


if __name__ == "__main__":
    main()
