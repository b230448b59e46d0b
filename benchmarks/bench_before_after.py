"""Compare two installs of jaxmice on this machine, in one run: 2l.pan and pmm at 20,000 rows,
the README demo, popmis with 2l.pan at m = 100.

Usage::

    python benchmarks/bench.py before_after --before /old/venv/bin/python \
        --after /new/venv/bin/python [--rows 20000] [--repeats 5] [--m 5 --maxit 10] \
        [--skip-demo] [--results PATH]

Each interpreter imports its own jaxmice (e.g. an editable install of an older checkout in a
virtual environment of its own); both run this ``benchmarks/`` folder's child scripts. For each
and each of ``--repeats`` rounds, interleaved so that drifting machine load hits both alike:

- 2l.pan (``jm_2lpan.py``, the data of ``bench_2lpan.py``): the whole process cold without
  cache, cold from a cache filled by a previous process, both less the process's own warm
  second call, and that warm call;
- pmm (``jm_single.py``, the data of ``bench_single_level.py``): the whole process, cold
  without cache;
- the README demo (``python -m jaxmice.cli demo popmis``): its first run with an empty
  program cache, and its second run with that cache;
- popmis with 2l.pan for ``popular`` (school -2; sex, texp and teachpop fixed), m = 100,
  maxit = 20 (``jm_2lpan.py`` on the shipped popmis data): cold without cache, and warm.

``--skip-demo`` leaves out the demo and popmis figures.

Prints the median of each figure per checkout and the ratio after / before (below 1: the new
checkout is faster), and the spread (max / min - 1) of the repeats, and appends a row per figure
to the results CSV (``before_after_<figure>``: the after median in ``jaxmice_seconds``, the
before median, the ratio and both interpreters in ``note``; ``commit`` and ``versions`` are this
checkout's and this interpreter's).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
from pathlib import Path

from generate import make_multilevel_missing, make_single_level, write_csv
from harness import (
    HERE,
    NO_CACHE,
    RESULTS,
    append_result,
    run_json,
    time_cold_and_warm,
    time_process,
)


def child_environment() -> dict[str, str]:
    """The environment of the children: the cache left to each run, the harness importable."""
    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.pop("JAXMICE_COMPILATION_CACHE", None)
    env["PYTHONPATH"] = str(HERE)
    return env


def jaxmice_location(py: Path) -> str:
    """Where ``py`` imports jaxmice from."""
    return subprocess.run([str(py), "-P", "-c", "import jaxmice; print(jaxmice.__file__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def write_popmis(path: Path) -> None:
    """The shipped popmis data in ``jm_2lpan.py``'s columns: cluster = school, y = popular,
    x1 = sex, x2 = texp, z = teachpop."""
    import jaxmice as jm

    df = jm.datasets.load_popmis()
    out = df.rename(columns={"school": "cluster", "popular": "y", "sex": "x1", "texp": "x2",
                             "teachpop": "z"})[["cluster", "x1", "x2", "z", "y"]]
    out.to_csv(path, index=False)


def demo_and_popmis(py: str, popmis_csv: Path, work: Path, env: dict[str, str]
                    ) -> dict[str, float]:
    """The README demo's first and second run (one fresh cache) and popmis at m = 100."""
    out: dict[str, float] = {}
    cache = Path(tempfile.mkdtemp(dir=work))
    # -P: the checkout on PYTHONPATH, not the working directory, provides jaxmice
    demo = [py, "-P", "-m", "jaxmice.cli", "demo", "popmis", "--out", str(cache / "figures")]
    own_cache = dict(env, XDG_CACHE_HOME=str(cache))
    out["demo first run"] = time_process(demo, own_cache)
    out["demo second run"] = time_process(demo, own_cache)
    runs, failures = time_cold_and_warm(
        [py, str(HERE / "jm_2lpan.py"), str(popmis_csv), "100", "20", "1"], env,
        Path(tempfile.mkdtemp(dir=work)))
    if failures:
        raise RuntimeError(f"{py}: {failures}")
    for run in runs:
        if run.key == "nocache":
            out["popmis m100 cold"] = run.wall - run.report["warm_call"] - run.report[
                "warm_complete"]
            out["popmis m100 warm"] = run.report["warm_call"]
    return out


def one_round(py: Path, pan_csv: Path, pmm_csv: Path, work: Path, m: int, maxit: int,
              popmis_csv: Path | None = None) -> dict[str, float]:
    """One round of every figure with the interpreter ``py``."""
    env = child_environment()
    py = str(py)
    out: dict[str, float] = {}
    runs, failures = time_cold_and_warm(
        [py, str(HERE / "jm_2lpan.py"), str(pan_csv), str(m), str(maxit), "1"], env,
        Path(tempfile.mkdtemp(dir=work)))
    if failures:
        raise RuntimeError(f"{py}: {failures}")
    for run in runs:
        if run.key in ("nocache", "cached"):
            jj = run.report
            out[f"2l.pan cold, {run.key}"] = run.wall - jj["warm_call"] - jj["warm_complete"]
            out.setdefault("2l.pan warm", jj["warm_call"])
    out["pmm cold, nocache"], _ = run_json(
        [py, str(HERE / "jm_single.py"), str(pmm_csv), "--m", str(m), "--maxit", str(maxit),
         "--no-cache"], "pmm", dict(env, **NO_CACHE))
    if popmis_csv is not None:
        out.update(demo_and_popmis(py, popmis_csv, work, env))
    return out


def main(argv: list[str] | None = None) -> None:
    """Run the rounds with both interpreters, print the medians and record them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--m", type=int, default=5)
    parser.add_argument("--maxit", type=int, default=10)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--results", type=Path, default=RESULTS, help="CSV to append to")
    args = parser.parse_args(argv)
    for side in ("before", "after"):
        print(f"{side}: {getattr(args, side)} imports {jaxmice_location(getattr(args, side))}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pan_csv, pmm_csv = work / "pan.csv", work / "pmm.csv"
        write_csv(make_multilevel_missing(args.rows, round(args.rows * 0.05), 1), pan_csv)
        write_csv(make_single_level(args.rows, 10, 1), pmm_csv)
        popmis_csv = None if args.skip_demo else work / "popmis.csv"
        if popmis_csv is not None:
            write_popmis(popmis_csv)
        results: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for r in range(args.repeats):
            for side in ("before", "after"):
                results[side].append(one_round(getattr(args, side), pan_csv, pmm_csv, work,
                                               args.m, args.maxit, popmis_csv))
                print(f"round {r + 1} {side}: {results[side][-1]}", flush=True)
    print(f"\n{'figure':22s} {'before':>8s} {'after':>8s} {'after/before':>13s}  spread")
    for key in results["before"][0]:
        before = [row[key] for row in results["before"]]
        after = [row[key] for row in results["after"]]
        mb, ma = statistics.median(before), statistics.median(after)
        spread = max(max(v) / min(v) - 1.0 for v in (before, after))
        print(f"{key:22s} {mb:8.2f} {ma:8.2f} {ma / mb:13.2f}  {spread:.0%}")
        append_result(dict(
            benchmark="before_after_" + re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_"),
            rows=args.rows, cols="", m=args.m, maxit=args.maxit, r_seconds="",
            jaxmice_seconds=f"{ma:.3f}", ratio="", jax_backend="",
            note=(f"after {args.after} {ma:.3f} s, before {args.before} {mb:.3f} s, after/before "
                  f"{ma / mb:.3f}; median of {args.repeats}, spread {spread:.0%}")),
            args.results)
    print(f"appended {len(results['before'][0])} rows to {args.results}")


if __name__ == "__main__":
    main()
