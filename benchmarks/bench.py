"""The benchmark runner: one command, named jobs.

Usage::

    python benchmarks/bench.py --list              # the jobs, a line each
    python benchmarks/bench.py JOB --help          # a job's options
    python benchmarks/bench.py JOB [options...]    # run a job

Each job is a ``bench_*.py`` module of this folder whose ``main(argv)`` takes the job's
options; :data:`JOBS` maps the job's name to the module and a one-line description. The
modules are imported only when their job runs, so ``--list`` imports nothing. Every job times
its sides as fresh child processes through ``harness.py`` (one child protocol: the result is
one JSON object on the child's last stdout line) and appends its rows to
``benchmarks/results/results.csv`` (or ``--results PATH``) with the commit and the versions.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
USAGE = """usage: python benchmarks/bench.py --list | JOB --help | JOB [options...]

jobs:"""

#: job name -> (module in this folder, one-line description)
JOBS: dict[str, tuple[str, str]] = {
    "single": ("bench_single_level",
               "pmm on single-level data (20,000 x 10) against R mice, whole processes"),
    "2lpan": ("bench_2lpan",
              "2l.pan (y, or y and x1 with --design two) against R mice: cold, cached, warm"),
    "2lbin": ("bench_2lbin",
              "2l.bin + 2l.pan on IPD-like data (10,000 rows) against R mice"),
    "lmer": ("bench_lmer",
             "lmer against lme4: a batch of 100 popmis-sized fits and one 1M-row fit"),
    "demo": ("bench_demo",
             "the README's main job, `jaxmice demo popmis`, against the same job in R"),
    "simulation": ("bench_simulation",
                   "a 1,000-replication simulation study against R mice + lmer + mitml"),
    "heckman": ("bench_heckman",
                "2l.heckman against micemd's published 2l.2stage.heckman times"),
    "ipd": ("bench_ipd",
            "the 1M-row IPD job: five incomplete variables in 200 studies, then pooled fits"),
    "sizes": ("bench_sizes",
              "data sets of random size, `loop` of calls or one `batch`, against R mice"),
    "compile": ("bench_compile",
                "each program's trace, lowering, compile and run seconds; method budgets"),
    "program_memory": ("bench_program_memory",
                       "the memory compiled programs hold, with and without the bound"),
    "segments": ("bench_segments",
                 "per-cluster reductions: segment sums against padded and other layouts"),
    "logdensity": ("bench_logdensity",
                   "NumPyro's log densities against jnp in a vectorised Metropolis step"),
    "before_after": ("bench_before_after",
                     "two jaxmice installs on this machine, interleaved rounds"),
}


def print_jobs() -> None:
    """The jobs, a line each: name and description (README.md gives each job's module)."""
    width = max(map(len, JOBS))
    for name, (_, description) in JOBS.items():
        print(f"{name:<{width}}  {description}")


def main(argv: list[str] | None = None) -> int:
    """Run the job named first in ``argv`` with the rest of ``argv`` as its options."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        print_jobs()
        return 0 if argv else 2
    if argv[0] in ("-l", "--list"):
        print_jobs()
        return 0
    name, options = argv[0], argv[1:]
    if name not in JOBS:
        print(f"bench.py: unknown job {name!r}; the jobs are: {', '.join(JOBS)}",
              file=sys.stderr)
        return 2
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    module = importlib.import_module(JOBS[name][0])
    sys.argv[0] = f"bench.py {name}"  # the job's usage line names the job
    status = module.main(options)
    return int(status or 0)


if __name__ == "__main__":
    raise SystemExit(main())
