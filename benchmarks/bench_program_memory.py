"""Memory of compiled programs: a process compiling a jaxmice :class:`~jaxmice.programs.Program`
for many distinct shapes (as one imputing thousands of data sets does) keeps a flat footprint
under the bound on executables in memory (:data:`~jaxmice.programs.MAX_PROGRAMS`), and grows
without it.

Usage::

    python benchmarks/bench_program_memory.py [--shapes 300] [--every 50] [--mice 0]

Two fresh child processes, the program folder off (``JAXMICE_COMPILATION_CACHE=0``): one with
the default bound, one with ``JAXMICE_MAX_PROGRAMS`` huge (no bound). Each compiles a small
Gibbs-like program (a loop of Cholesky solves) for ``--shapes`` distinct row counts, each with
its own static argument (as each data set's plan is a new static argument), and prints its
resident memory (``VmRSS``) and memory maps (lines of ``/proc/self/maps``) every ``--every``
programs. ``--mice N`` instead imputes N small 2l.pan data sets of distinct sizes with
``jm.mice`` (each compiles the sampler's initialize and iterate).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import subprocess
import sys
from pathlib import Path

HUGE = 10**9


def rss_mib() -> float:
    """This process's resident memory, MiB (``VmRSS`` of ``/proc/self/status``)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def map_count() -> int:
    """This process's memory maps (Linux allows 65,530 by default)."""
    with open("/proc/self/maps") as fh:
        return sum(1 for _ in fh)


@dataclasses.dataclass(frozen=True)
class Step:
    """A static argument, new for every program (as a sampler's plan)."""

    number: int
    sweeps: int = 3


def gibbs_like(step: Step, x, y):
    """``sweeps`` ridge solves of ``y`` on ``x``, each a Cholesky factor and two solves."""
    import jax
    import jax.numpy as jnp

    def sweep(_, beta):
        gram = x.T @ x + (1.0 + step.number * 1e-6) * jnp.eye(x.shape[1])
        factor = jnp.linalg.cholesky(gram)
        rhs = x.T @ (y - 0.1 * jnp.tanh(x @ beta))
        return jax.scipy.linalg.cho_solve((factor, True), rhs)

    return jax.lax.fori_loop(0, step.sweeps, sweep, jnp.zeros(x.shape[1], x.dtype))


def child_programs(shapes: int, every: int) -> None:
    """Compile and run the program for ``shapes`` row counts; report every ``every``."""
    import jax
    import numpy as np

    from jaxmice import programs

    prog = programs.Program(gibbs_like, static_argnums=(0,))
    rng = np.random.default_rng(1)
    for i in range(1, shapes + 1):
        rows = 20 + i
        # float32 on the host, then device_put: no eager conversion, which JAX would compile
        # (and keep in its own caches) once per shape
        x = jax.device_put(rng.normal(size=(rows, 6)).astype(np.float32))
        y = jax.device_put(rng.normal(size=rows).astype(np.float32))
        prog(Step(i), x, y).block_until_ready()
        if i % every == 0:
            report(i)


def child_mice(count: int, every: int) -> None:
    """Impute ``count`` small two-level data sets of distinct sizes (2l.pan, m = 2)."""
    import numpy as np
    import pandas as pd

    import jaxmice as jm

    rng = np.random.default_rng(1)
    for i in range(1, count + 1):
        n = 60 + i
        g = np.arange(n) % 6
        x = rng.normal(size=n)
        y = x + rng.normal(size=6)[g] + rng.normal(size=n)
        y[rng.random(n) < 0.3] = np.nan
        df = pd.DataFrame({"g": g, "x": x, "y": y})
        jm.mice(df, m=2, maxit=2, method={"y": "2l.pan"}, seed=1, progress=False,
                predictor_matrix=jm.make_predictor_matrix(df, cluster="g"))
        if i % every == 0:
            report(i)


def report(done: int) -> None:
    """One line: programs compiled so far, resident MiB, memory maps."""
    from jaxmice import programs

    gc.collect()
    compiled = sum(programs.compile_counts().values())
    print(f"{done:>6} {compiled:>9} {rss_mib():>9.0f} {map_count():>7}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=300)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--mice", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.mice:
            child_mice(args.mice, args.every)
        else:
            child_programs(args.shapes, args.every)
        return 0
    root = str(Path(__file__).resolve().parents[1])
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--shapes",
           str(args.shapes), "--every", str(args.every), "--mice", str(args.mice)]
    from jaxmice import programs

    for label, bound in ((f"bound {programs.MAX_PROGRAMS}", None), ("no bound", HUGE)):
        env = dict(os.environ, JAXMICE_COMPILATION_CACHE="0",
                   PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
        env.pop("JAXMICE_MAX_PROGRAMS", None)
        if bound is not None:
            env["JAXMICE_MAX_PROGRAMS"] = str(bound)
        print(f"\n{label}:\n{'done':>6} {'compiled':>9} {'RSS MiB':>9} {'maps':>7}", flush=True)
        subprocess.run(cmd, env=env, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
