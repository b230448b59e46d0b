"""A batch of replications with random cluster sizes (issue 24): ``sizes_data.batch_frame``
(50 clusters of 10-30 rows), 2l.pan for y and x1, m = 5, maxit = 10, ``batch.fit`` and pool,
coverage of the 95% intervals.

Usage::

    python benchmarks/jm_sizes_batch.py REPS [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sizes_data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reps", type=int)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import jaxmice as jm
    from jaxmice import programs

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
        reps=args.reps, impute_s=imputed - start, fit_pool_s=done - imputed,
        total_s=done - start, per_rep_s=(done - start) / args.reps, groups=batch.n_groups,
        compiles=programs.compile_counts(),
        coverage={t: float(c.mean()) for t, c in covered.groupby(table["term"])},
        bias={t: float(e.mean()) for t, e in (table["estimate"] - truth).groupby(table["term"])},
    )
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
