"""Time ``2l.heckman`` against the published time of micemd's ``2l.2stage.heckman``.

Usage::

    python benchmarks/bench.py heckman [--sizes 10x1000,100x1000] [--m 5] [--repeats 3]
                                       [--results PATH]

micemd is not in Debian's packages and has no other route onto the CI machine, so the R side
is the published figure (Muñoz et al. 2024, micemd's documentation): 16.7 s per
``mice(maxit = 1)`` call on 10 clusters of 1,000 rows, 153 s on 100 clusters of 1,000 rows (m
and hardware not stated; mice's default m is 5).

The data (:func:`generate.make_heckman_missing`): a continuous ``y`` missing not at random
(about half observed; rho 0.6; random intercepts in both equations; one cluster in ten wholly
missing), predictors ``x1``, ``x2`` in both equations and ``z`` in the selection equation only
(code -3). Each size runs ``benchmarks/jm_heckman.py`` as fresh processes: cold with no
compilation cache, cold from a freshly filled cache, and in each the warm repeats
(``jm.mice(maxit=1)`` again with a new seed). Rows ``heckman_cold_nocache``,
``heckman_cold_cached`` and ``heckman_warm`` (the median warm call) go to the results CSV, with
the ratio published / jaxmice.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from generate import make_heckman_missing, write_csv
from harness import (
    HERE,
    RESULTS,
    append_result,
    child_env,
    fmt,
    platform_name,
    run_json,
    timestamp,
)

#: seconds per mice(maxit = 1) call of micemd's 2l.2stage.heckman, by (clusters, rows each)
PUBLISHED = {(10, 1000): 16.7, (100, 1000): 153.0}


def main(argv: list[str] | None = None) -> None:
    """Time every size cold, cached and warm; print and record against the published times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10x1000,100x1000",
                        help="comma-separated CLUSTERSxROWS (rows per cluster)")
    parser.add_argument("--m", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="warm calls per process")
    parser.add_argument("--results", type=Path, default=RESULTS, help="CSV to append to")
    args = parser.parse_args(argv)
    rows = []
    for size in args.sizes.split(","):
        clusters, per = (int(v) for v in size.split("x"))
        published = PUBLISHED.get((clusters, per))
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "heckman.csv"
            write_csv(make_heckman_missing(clusters, per, seed=1), csv)
            common = [sys.executable, str(HERE / "jm_heckman.py"), str(csv), str(args.m),
                      str(args.repeats)]
            env = child_env(own_cache_only=True)
            env["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
            _, nocache = run_json(common + ["--no-cache"], "jaxmice, no cache", env)
            run_json(common, "jaxmice, filling the cache", env)
            _, cached = run_json(common, "jaxmice, cold from the cache", env)
        warm = statistics.median(nocache["warm"] + cached["warm"])
        for name, seconds in (("heckman_cold_nocache", nocache["first"]),
                              ("heckman_cold_cached", cached["first"]),
                              ("heckman_warm", warm)):
            ratio = published / seconds if published else None
            rows.append((size, name, seconds, ratio))
            append_result(dict(date=timestamp(), benchmark=name, rows=clusters * per, cols=5,
                               m=args.m, maxit=1, r_seconds=fmt(published),
                               jaxmice_seconds=fmt(seconds, 3), ratio=fmt(ratio, 1),
                               platform=platform_name(), jax_backend=nocache["backend"],
                               note=f"{clusters} clusters x {per} rows; R = published "
                                    "micemd time"), args.results)
    print(f"\n{'size':>10} {'run':>22} {'jaxmice s':>10} {'published s':>12} {'ratio':>7}")
    for size, name, seconds, ratio in rows:
        clusters, per = (int(v) for v in size.split("x"))
        published = PUBLISHED.get((clusters, per))
        print(f"{size:>10} {name:>22} {seconds:10.3f} {fmt(published):>12} "
              f"{fmt(ratio, 1):>7}")


if __name__ == "__main__":
    main()
