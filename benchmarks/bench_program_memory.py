"""Memory of compiled programs: flat under the bound on executables in memory, growing without.

A process compiling a jaxmice :class:`~jaxmice._src.runtime.programs.Program` for many
distinct shapes (as one imputing thousands of data sets does) keeps a flat footprint under the
bound on executables in memory (:data:`~jaxmice._src.runtime.programs.MAX_PROGRAMS`), and
grows without it.

Usage::

    python benchmarks/bench.py program_memory [--shapes 300] [--every 50] [--mice 0]
                                              [--results PATH]

Two fresh child processes, the program folder off (``JAXMICE_COMPILATION_CACHE=0``): one with
the default bound, one with ``JAXMICE_MAX_PROGRAMS`` huge (no bound). Each compiles a small
Gibbs-like program (a loop of Cholesky solves) for ``--shapes`` distinct row counts, each with
its own static argument (as each data set's plan is a new static argument), and records its
resident memory (``VmRSS``) and memory maps (lines of ``/proc/self/maps``) every ``--every``
programs (printed to stderr as it goes; the marks come back as the child's JSON). ``--mice N``
instead imputes N small 2l.pan data sets of distinct sizes with ``jm.mice`` (each compiles the
sampler's initialize and iterate). The parent prints a table per child and appends a row per
child (``program_memory_bound``, ``program_memory_nobound``; ``_mice`` with ``--mice``) to the
results CSV: its wall seconds, with the last mark's RSS, maps and compiles in ``note``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
from pathlib import Path

from harness import NO_CACHE, RESULTS, append_result, child_env, fmt, report, run_json

HUGE = 10**9
HEAD = f"{'done':>6} {'compiled':>9} {'RSS MiB':>9} {'maps':>7}"


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


def child_programs(shapes: int, every: int, marks: list[dict]) -> None:
    """Compile and run the program for ``shapes`` row counts; a mark every ``every``."""
    import jax
    import numpy as np

    from jaxmice._src.runtime import programs

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
            marks.append(mark(i))


def child_mice(count: int, every: int, marks: list[dict]) -> None:
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
            marks.append(mark(i))


def mark(done: int) -> dict:
    """Programs compiled so far, resident MiB and memory maps; also printed to stderr."""
    import jax

    from jaxmice._src.runtime import programs

    gc.collect()
    row = dict(done=done, compiled=sum(programs.compile_counts().values()), rss_mib=rss_mib(),
               maps=map_count(), backend=jax.default_backend())
    print(line(row), file=sys.stderr, flush=True)
    return row


def line(row: dict) -> str:
    """One row of the table under :data:`HEAD`."""
    return f"{row['done']:>6} {row['compiled']:>9} {row['rss_mib']:>9.0f} {row['maps']:>7}"


def main(argv: list[str] | None = None) -> int:
    """Run the two children, print their marks and append a results row for each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=300)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--mice", type=int, default=0, help="impute N data sets instead")
    parser.add_argument("--results", type=Path, default=RESULTS, help="CSV to append to")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        marks: list[dict] = []
        if args.mice:
            child_mice(args.mice, args.every, marks)
        else:
            child_programs(args.shapes, args.every, marks)
        from jaxmice._src.runtime import programs

        report(dict(marks=marks, max_programs=programs.MAX_PROGRAMS))
        return 0
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--shapes",
           str(args.shapes), "--every", str(args.every), "--mice", str(args.mice)]
    kind = f"{args.mice} jm.mice data sets" if args.mice else f"{args.shapes} shapes"
    suffix = "_mice" if args.mice else ""
    for name, bound in (("bound", None), ("nobound", HUGE)):
        env = dict(child_env(), **NO_CACHE)
        env.pop("JAXMICE_MAX_PROGRAMS", None)
        if bound is not None:
            env["JAXMICE_MAX_PROGRAMS"] = str(bound)
        wall, result = run_json(cmd, f"{name} ({kind})", env)
        label = (f"bound {result['max_programs']}" if bound is None else "no bound")
        marks = result["marks"]
        print(f"\n{label}:\n{HEAD}")
        for row in marks:
            print(line(row))
        last = marks[-1] if marks else None
        note = [label, kind, f"every {args.every}"]
        if last:
            note.append(f"last mark: {last['compiled']} compiled, RSS {last['rss_mib']:.0f} "
                        f"MiB, {last['maps']} maps")
            if len(marks) > 1:
                growth = last["rss_mib"] - marks[0]["rss_mib"]
                note.append(f"RSS growth from the first mark {growth:.0f} MiB")
        append_result(dict(benchmark=f"program_memory_{name}{suffix}",
                           rows="", cols="", m="", maxit="", r_seconds="",
                           jaxmice_seconds=fmt(wall), ratio="",
                           jax_backend=last["backend"] if last else "",
                           note="; ".join(note)), args.results)
    print(f"appended 2 rows to {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
