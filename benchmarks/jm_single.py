"""jaxmice side of the single-level benchmark, meant to run as a fresh process.

Usage::

    python benchmarks/jm_single.py data.csv --m 5 --maxit 10 --seed 1 [--no-cache]

Reads the CSV written by ``benchmarks/generate.py``, runs ``jm.mice`` with
predictive mean matching on every incomplete column, forces the result with
``imp.complete(0)`` and exits. Prints one line of JSON to stdout with the phase times in
seconds (the harness's child protocol); the harness times the whole process.
"""

from __future__ import annotations

import argparse
import time

from harness import report, switch_off_compilation_cache


def main(argv: list[str] | None = None) -> None:
    """Run one jaxmice imputation of a benchmark CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--m", type=int, default=5)
    parser.add_argument("--maxit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="disable JAX's persistent compilation cache (measures cold compilation)",
    )
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    if args.no_cache:
        switch_off_compilation_cache()  # JAXMICE_COMPILATION_CACHE=0
    import jax
    import pandas as pd

    import jaxmice as jm

    t1 = time.perf_counter()
    df = pd.read_csv(args.csv)
    t2 = time.perf_counter()
    imp = jm.mice(df, m=args.m, maxit=args.maxit, method="pmm", seed=args.seed, progress=False)
    done = imp.complete(0)
    t3 = time.perf_counter()
    if done.isna().any().any():
        raise SystemExit("jaxmice left missing values in the completed data")

    report({
        "rows": len(df), "cols": df.shape[1], "m": args.m, "maxit": args.maxit,
        "backend": jax.default_backend(), "cache": not args.no_cache,
        "import": round(t1 - t0, 3), "read": round(t2 - t1, 3), "mice": round(t3 - t2, 3),
    })


if __name__ == "__main__":
    main()
