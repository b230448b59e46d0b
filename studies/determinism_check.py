"""Run-to-run determinism: the same imputation twice in one process, bit for bit.

Usage::

    python studies/determinism_check.py [--rows 100000] [--out FILE.json]

Two jobs, each imputed twice with the same seed (the second run reuses the compiled programs,
so any difference comes from the run, e.g. a GPU's atomic scatter-adds):

- ``popmis``: the built-in popmis data, ``popular`` by 2l.pan (school coded -2), m = 8, maxit 5;
- ``ipd``: ``benchmarks/generate.py``'s ``make_ipd_large(rows, 100)`` with the five methods of
  the ``ipd`` benchmark job (``generate.IPD_METHODS``: 2l.pan x 3, 2l.bin, 2l.polr), m = 4,
  maxit = 3.

Prints and writes, per job, whether the two runs' completed data are bitwise equal and their
largest difference. jaxmice compiles GPU programs with ``xla_gpu_deterministic_ops``
(``JAXMICE_DETERMINISTIC=0`` turns it off: run once each way to see what it buys).
``benchmarks/gpu_check.sh`` runs it both ways as its first step.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

# the benchmarks' data generators (benchmarks/generate.py) and this checkout's jaxmice
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))


def jobs(rows: int) -> dict:
    """The two jobs as ``name -> (frame, jm.mice options)``."""
    from generate import IPD_METHODS, make_ipd_large

    import jaxmice as jm

    popmis = jm.datasets.load_popmis()
    ipd, _ = make_ipd_large(rows, 100, 1)
    return {
        "popmis": (popmis, dict(method={"popular": "2l.pan"}, m=8, maxit=5,
                                predictor_matrix=jm.make_predictor_matrix(popmis, "school"))),
        "ipd": (ipd, dict(method=IPD_METHODS, m=4, maxit=3,
                          predictor_matrix=jm.make_predictor_matrix(ipd, "study"))),
    }


def main(argv: list[str] | None = None) -> None:
    """Impute each job twice with the same seed; print and write whether they agree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the ipd job")
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON")
    args = parser.parse_args(argv)
    import jax

    import jaxmice as jm

    report = {"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
              "deterministic_flag": os.environ.get("JAXMICE_DETERMINISTIC", "1") != "0",
              "jobs": {}}
    for name, (frame, options) in jobs(args.rows).items():
        runs, seconds = [], []
        for _ in range(2):
            start = time.perf_counter()
            runs.append(jm.mice(frame, seed=7, progress=False, **options).completed_arrays)
            seconds.append(time.perf_counter() - start)
        diff = np.nanmax(np.abs(runs[0] - runs[1]))
        report["jobs"][name] = {"bitwise_equal": bool(np.array_equal(runs[0], runs[1],
                                                                      equal_nan=True)),
                                "max_abs_diff": float(diff), "seconds": seconds}
        print(f"{name}: bitwise equal {report['jobs'][name]['bitwise_equal']}, max diff "
              f"{diff:.3g}, runs {seconds[0]:.1f} s / {seconds[1]:.1f} s", flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
