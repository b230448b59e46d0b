"""A loop of separate ``jm.mice`` + ``fit`` + ``pool`` calls on data sets of random size, in one
process: the research-code pattern of issue 24 (compile once per size class, flat memory).

Usage (the child of ``python benchmarks/bench.py sizes loop``)::

    python benchmarks/jm_sizes_loop.py CALLS [--every 100] [--json OUT] [--no-cache]

Each call imputes ``sizes_data.loop_frame(seed)`` (30-80 clusters of 10-30 rows) with 2l.pan
for y and x1 (the cluster coded -2), m = 5, maxit = 10, fits ``lmer(y ~ x1 + x2 + z + (1 | g))``
and pools. Every ``--every`` calls it prints the resident memory, the process's memory maps
and the compiles so far to stderr; at the end one line of JSON on stdout (the harness's child
protocol): the median seconds a call after the first 20 calls, memory, compiles per program,
size classes met and the marks; ``--json`` also writes it with every call's seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import sizes_data
from harness import report, switch_off_compilation_cache


def rss_mib() -> float:
    """Resident memory now (MiB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def map_count() -> int:
    """Memory maps of this process (Linux's limit: 65,530)."""
    return len(Path("/proc/self/maps").read_text().splitlines())


def main(argv: list[str] | None = None) -> None:
    """Run the loop of calls; report the summary as one line of JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("calls", type=int)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-cache", action="store_true",
                        help="keep compiled programs in memory only")
    args = parser.parse_args(argv)
    if args.no_cache:
        switch_off_compilation_cache()

    import jax

    import jaxmice as jm
    from jaxmice._src.runtime import programs, sizes

    seconds, classes, marks = [], set(), []
    for call in range(1, args.calls + 1):
        df = sizes_data.loop_frame(call)
        classes.add((sizes.row_class(len(df)), sizes.cluster_class(df["g"].nunique())))
        start = time.perf_counter()
        pred = jm.make_predictor_matrix(df, cluster="g")
        imp = jm.mice(df, m=5, maxit=10, method={"y": "2l.pan", "x1": "2l.pan"},
                      predictor_matrix=pred, seed=call, progress=False)
        pooled = imp.fit(sizes_data.FORMULA_LOOP).pool()
        seconds.append(time.perf_counter() - start)
        assert np.isfinite(pooled.qbar).all()
        if call % args.every == 0 or call == args.calls:
            mark = dict(call=call, rss_mib=round(rss_mib(), 1), maps=map_count(),
                        compiles=sum(programs.compile_counts().values()),
                        classes=len(classes))
            marks.append(mark)
            print(json.dumps(mark), file=sys.stderr, flush=True)
    after = np.array(seconds[20:]) if len(seconds) > 20 else np.array(seconds)
    summary = dict(
        calls=args.calls, backend=jax.default_backend(), median_after_20_s=float(np.median(after)),
        mean_after_20_s=float(np.mean(after)), total_s=float(np.sum(seconds)),
        first_call_s=seconds[0], marks=marks,
        compiles=programs.compile_counts(), loads=programs.load_counts(),
        size_classes=len(classes),
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    if args.json:
        args.json.write_text(json.dumps(dict(summary, seconds=seconds), indent=1))
    report(summary)


if __name__ == "__main__":
    main()
