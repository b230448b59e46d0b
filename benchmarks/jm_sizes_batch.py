"""A batch of replications with random cluster sizes (issue 24): ``sizes_data.batch_frame``
(50 clusters of 10-30 rows), 2l.pan for y and x1, m = 5, maxit = 10, ``batch.fit`` and pool,
coverage of the 95% intervals.

Usage (the child of ``python benchmarks/bench.py sizes batch``)::

    python benchmarks/jm_sizes_batch.py REPS [--json OUT] [--no-cache]

Prints one line of JSON on stdout (the harness's child protocol); ``--json`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import sizes_data
from harness import report, switch_off_compilation_cache


def main(argv: list[str] | None = None) -> None:
    """Impute, fit and pool the batch; report the summary as one line of JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reps", type=int)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-cache", action="store_true",
                        help="keep compiled programs in memory only")
    args = parser.parse_args(argv)
    if args.no_cache:
        switch_off_compilation_cache()

    import jax

    import jaxmice as jm
    from jaxmice._src.runtime import programs

    frames = [sizes_data.batch_frame(seed) for seed in range(1, args.reps + 1)]
    pred = jm.make_predictor_matrix(frames[0], cluster="g")
    start = time.perf_counter()
    batch = jm.mice(frames, m=5, maxit=10, method={"y": "2l.pan", "x1": "2l.pan"},
                    predictor_matrix=pred, seed=1, progress=False)
    imputed = time.perf_counter()
    table = batch.fit(sizes_data.FORMULA_BATCH).pool().summary()
    done = time.perf_counter()
    truth = table["term"].map(sizes_data.TRUE_BATCH)
    covered = (table["conf_low"] <= truth) & (truth <= table["conf_high"])
    summary = dict(
        reps=args.reps, backend=jax.default_backend(), impute_s=imputed - start,
        fit_pool_s=done - imputed,
        total_s=done - start, per_rep_s=(done - start) / args.reps, groups=batch.n_groups,
        compiles=programs.compile_counts(),
        coverage={t: float(c.mean()) for t, c in covered.groupby(table["term"])},
        bias={t: float(e.mean()) for t, e in (table["estimate"] - truth).groupby(table["term"])},
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    report(summary)


if __name__ == "__main__":
    main()
