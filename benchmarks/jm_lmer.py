"""jaxmice side of the lmer benchmark, meant to run as a fresh process.

Usage::

    python benchmarks/jm_lmer.py batch long.csv [--no-cache]   # one fit per value of .imp
    python benchmarks/jm_lmer.py single big.csv [--no-cache]   # one fit on the whole file

Fits ``jm.lmer("y ~ x1 + x2 + z + (1 | cluster)", ...)`` (REML) on the CSV written by
``benchmarks/bench_lmer.py``: in ``batch`` mode the list of data sets split by ``.imp``
as one batch, in ``single`` mode the whole file. The call is made twice on the same
shapes: the first traces, compiles (or loads from JAX's persistent cache) and fits;
the second is warm (``batch``: the same data sets in reverse order, a different
batch of the same shapes; ``single``: the same data again). Prints one line of JSON
to stdout with the phase times in seconds and the fixed effects of the first fit;
the harness times the whole process.
"""

from __future__ import annotations

import argparse
import time

from harness import report, switch_off_compilation_cache

FORMULA = "y ~ x1 + x2 + z + (1 | cluster)"


def main(argv: list[str] | None = None) -> None:
    """Time two jaxmice lmer calls on a benchmark CSV and print the phases as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["batch", "single"])
    parser.add_argument("csv")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="disable jaxmice's persistent compilation cache (measures cold compilation)",
    )
    args = parser.parse_args(argv)

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
    if args.mode == "batch":
        data = [g.drop(columns=".imp").reset_index(drop=True) for _, g in df.groupby(".imp")]
        rows = len(data[0])
    else:
        data = df
        rows = len(df)
    t3 = time.perf_counter()
    first = jm.lmer(FORMULA, data)
    fixed = (first.fixed.iloc[0] if args.mode == "batch" else first.fixed).astype(float)
    t4 = time.perf_counter()
    second = jm.lmer(FORMULA, data[::-1] if args.mode == "batch" else data)
    again = (second.fixed.iloc[-1] if args.mode == "batch" else second.fixed).astype(float)
    t5 = time.perf_counter()

    report(
        {
            "mode": args.mode,
            "n_fits": len(data) if args.mode == "batch" else 1,
            "rows": rows,
            "backend": jax.default_backend(),
            "cache": not args.no_cache,
            "import": round(t1 - t0, 3),
            "read": round(t2 - t1, 3),
            "split": round(t3 - t2, 3),
            "first_call": round(t4 - t3, 3),
            "second_call": round(t5 - t4, 3),
            # the same data set fitted by both calls: should agree to rounding
            "first_vs_second": float(np.max(np.abs(fixed.to_numpy() - again.to_numpy()))),
            "fixed": {str(k): float(v) for k, v in fixed.items()},
        }
    )


if __name__ == "__main__":
    main()
