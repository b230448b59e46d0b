"""jaxmice side of ``bench_heckman.py``, meant to run as a fresh process.

Usage::

    python benchmarks/jm_heckman.py data.csv M REPEATS [--no-cache]

Imputes ``y`` by ``2l.heckman`` (``z`` coded -3, cluster ``g`` -2) with ``jm.mice(m=M,
maxit=1)``: once cold, then REPEATS warm calls with new seeds. Prints one line of JSON:
``first`` and ``warm`` (seconds, each call until its imputations are on the host), the
backend, and the mean imputed value of the first call.
"""

from __future__ import annotations

import argparse
import time

from harness import report, switch_off_compilation_cache


def main(argv: list[str] | None = None) -> None:
    """Time a cold and REPEATS warm 2l.heckman imputations; report them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("m", type=int)
    parser.add_argument("repeats", type=int)
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args(argv)
    if args.no_cache:
        switch_off_compilation_cache()
    import jax
    import pandas as pd

    import jaxmice as jm

    df = pd.read_csv(args.csv)
    pred = jm.make_predictor_matrix(df, cluster="g")
    pred.loc["y", "z"] = -3

    def call(seed: int) -> tuple[float, float]:
        start = time.perf_counter()
        imp = jm.mice(df, m=args.m, maxit=1, method={"y": "2l.heckman"},
                      predictor_matrix=pred, seed=seed, progress=False)
        data = imp.completed_arrays  # f[m, rows, columns] on the host
        seconds = time.perf_counter() - start
        return seconds, float(data[:, df.y.isna().to_numpy(), df.columns.get_loc("y")].mean())

    first, mean = call(1)
    warm = [call(2 + k)[0] for k in range(args.repeats)]
    report(dict(first=round(first, 3), warm=[round(w, 4) for w in warm],
                backend=jax.default_backend(), mean_imputed_y=mean))


if __name__ == "__main__":
    main()
