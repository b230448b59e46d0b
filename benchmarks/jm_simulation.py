"""jaxmice side of the simulation-study benchmark (see bench_simulation.py).

Usage: python benchmarks/jm_simulation.py REPS [--m 5 --maxit 10 --seed 1 --chunk-size C]
    [--dtype float32]

A fresh process (compilation cache off unless --cache): generates REPS replications of the
random-intercept design (jaxmice.case_studies.simulation), then times, compile included,
the whole study: one batched jm.mice over all replications (2l.pan for y and x1, g = -2),
the batched lmer fit of all REPS x m data sets, pooling and jm.score. Prints one JSON line:
phase times, peak resident memory (ru_maxrss) and the score table.
"""

from __future__ import annotations

import argparse
import resource
import time

from harness import report, switch_off_compilation_cache


def main(argv: list[str] | None = None) -> None:
    """Run the whole study in this process; report its phases and scores as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reps", type=int)
    parser.add_argument("--m", type=int, default=5)
    parser.add_argument("--maxit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--cache", action="store_true")
    parser.add_argument("--dtype", default="float64", help="the chains' dtype (jm.mice dtype=)")
    args = parser.parse_args(argv)
    if not args.cache:
        switch_off_compilation_cache()
    t0 = time.perf_counter()
    import jax

    import jaxmice as jm
    from jaxmice._src.engine.batch import default_chunk_size
    from jaxmice.case_studies import simulation as sim

    t1 = time.perf_counter()
    frames = [sim.replication(args.seed * 100_003 + r) for r in range(args.reps)]
    t2 = time.perf_counter()
    batch = jm.mice(frames, m=args.m, maxit=args.maxit, method={"y": "2l.pan", "x1": "2l.pan"},
                    predictor_matrix=sim.predictors(frames[0], True), seed=args.seed,
                    progress=False, chunk_size=args.chunk_size, dtype=args.dtype)
    t3 = time.perf_counter()
    pooled = batch.fit(sim.FORMULA, chunk_size=args.chunk_size).pool()
    t4 = time.perf_counter()
    scores = jm.score(pooled, sim.TRUTH)
    t5 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    report({
        "reps": args.reps, "dtype": args.dtype, "backend": jax.default_backend(),
        "import": t1 - t0,
        "generate": t2 - t1, "impute": t3 - t2,
        "analyse_pool": t4 - t3, "score": t5 - t4, "study": t5 - t2, "peak_rss_gib": rss,
        "chunk": batch.options["chunk_size"] or default_chunk_size(batch.prepared[0], args.m),
        "scores": scores.to_dict(orient="records")})


if __name__ == "__main__":
    main()
