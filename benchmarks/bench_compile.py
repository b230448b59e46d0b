"""What compilation costs: each distinct program of a job with its trace, lowering, XLA compile
and run seconds, and how many programs the job compiles.

Usage::

    python benchmarks/bench.py compile [--job popmis|2lpan2|methods] [--quick] [--runs ...]
                                       [--results PATH]

Jobs:

- ``popmis``: the README's main job, ``jaxmice demo popmis`` (m = 20, maxit = 10, figures;
  ``--quick``: m = 3).
- ``2lpan2``: issue 12's two-variable design: 100 clusters of 200 rows, ``y`` and ``x1``
  missing at random and both imputed by 2l.pan with the cluster coded -2; m = 5, maxit = 10.
- ``methods``: per registered method, a small job (600 rows in 30 clusters, one incomplete
  column per kind the method takes, m = 5, maxit = 2) whose programs are held to the method's
  compile budget (:data:`BUDGETS`).

Each job runs as fresh child processes (the harness's :func:`cold_run_plan`): ``nocache`` (no
persistent compilation cache), ``fill`` (filling an empty cache) and ``cached`` (cold, from that
cache). The child listens to JAX's own compile events through ``jax.monitoring`` (the durations
``jax_log_compiles`` prints: ``jaxpr_trace_duration``, ``jaxpr_to_mlir_module_duration``,
``backend_compile_duration``, per top-level program; the last is the cache read when the
program is cached), and it times every execution: it turns JAX's C++ dispatch fast path off, so
that every call passes ``ExecuteReplicated``, where it waits for the outputs. Run seconds
therefore include the Python dispatch of each call (microseconds).

A table per run, a row per program name (one name compiled for several shapes is one row, its
``programs`` the count): ``programs``, ``trace``, ``lower``, ``compile``, ``run`` seconds and
``calls``. Operations run eagerly outside any jit (each its own tiny program) are summed into
one row, ``(eager ops)``. ``wall`` is the child's whole process.

Kernels: next to the seconds, each jaxmice program's ``fusions`` and ``custom calls`` in its
optimised HLO (:func:`jaxmice._src.runtime.programs.kernel_counts`: ``fusion`` and ``custom-call``
instructions outside fused computations, a loop's body counted once), summed over the row's
programs as its compile seconds are; compile time grows with them. A program loaded from the
cache is counted from its loaded executable: the same numbers.

Budgets: :data:`BUDGETS` gives each method's job a ceiling on its programs' trace + lower +
compile seconds without the cache, on the 2-core CPU of the CI machine. The ``methods`` job
prints each method against its budget and exits with status 1 when one is over. A new method
gets its entry when it is registered (:data:`DEFAULT_BUDGET` until then).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from harness import (
    HERE,
    RESULTS,
    append_result,
    child_env,
    cold_run_plan,
    platform_name,
    report,
    run_json,
    timestamp,
)

# trace + lower + XLA compile seconds, no cache, 2-core CPU, for the whole "methods" job of a
# method (the sampler's programs for a one-method plan, one column per kind it takes, and the
# few eager operations around them): measured 2026-12-02 (issue 12) plus about 25%. A method
# with several kinds compiles a branch per kind (2l.pmm: continuous, binary, ordinal, count).
# Issue 13 added the count kind (pmm, 2l.pmm, 2lonly.pmm, sample take it: one branch more) and
# the methods 2l.bin (3.1 s measured), 2l.pois (3.5 s), 2l.polr (7.1 s, two kinds),
# 2l.polyreg (7.8 s, three kinds) and 2lonly.polyreg (4.1 s, three kinds): each kind's branch
# within DEFAULT_BUDGET. Issue 14 added the two-stage methods (2.3-2.9 s measured) and
# 2l.heckman (7.6 s, two kinds: continuous and binary; 2l.2stage.heckman is its alias).
BUDGETS: dict[str, float] = {
    "2l.lmer": 4.5, "2l.norm": 4.0, "2l.pan": 3.5, "2l.pmm": 12.0,
    "2lonly.mean": 3.0, "2lonly.norm": 2.0, "2lonly.pmm": 5.5,
    "logreg": 2.0, "mean": 1.0, "norm": 1.5, "norm.nob": 1.0, "norm.predict": 1.0,
    "pmm": 4.0, "polr": 6.0, "polyreg": 4.5, "sample": 2.5,
    "2l.bin": 4.0, "2l.pois": 4.0, "2l.polr": 8.0, "2l.polyreg": 12.0,
    "2lonly.polyreg": 5.5,
    "2l.2stage.norm": 4.0, "2l.2stage.bin": 4.0, "2l.2stage.pois": 4.0, "2l.2stage.pmm": 4.0,
    "2l.heckman": 8.0, "2l.2stage.heckman": 8.0,
}
# a method not listed yet: each kind's branch of its job is built under this
DEFAULT_BUDGET = 4.0
EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "compile",
}
STAGES = ("trace", "lower", "compile", "run")
EAGER = "(eager ops)"
RUN_KEYS = ("nocache", "fill", "cached")
KERNELS = ("fusions", "custom_calls")


# ----- the child: listen, run, report --------------------------------------------------------
class ProgramLog:
    """Per program name: compilations, trace/lower/compile/run seconds and calls."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, float]] = defaultdict(self.empty_row)
        self._eager = threading.local()

    @staticmethod
    def empty_row() -> dict[str, float]:
        return dict(programs=0, loaded=0, trace=0.0, lower=0.0, compile=0.0, run=0.0, calls=0,
                    fusions=0, custom_calls=0)

    def key(self, name: str) -> str:
        """``f`` for ``jit(f)``; every eagerly run primitive is :data:`EAGER`."""
        if getattr(self._eager, "depth", 0):
            return EAGER
        return name.removeprefix("jit(").removesuffix(")")

    def on_event(self, event: str, duration: float, **kwargs) -> None:
        """A ``jax.monitoring`` duration: one stage of one program."""
        stage = EVENTS.get(event)
        if stage is None:
            return
        row = self.rows[self.key(str(kwargs.get("fun_name", "?")))]
        row[stage] += duration
        row["programs"] += stage == "compile"

    def timed_run(self, name: str, call, program: bool = False):
        """Run ``call()``, wait for its outputs, add its seconds to program ``name``
        (executions inside a jaxmice :class:`~jaxmice._src.runtime.programs.Program` count as
        its own)."""
        import jax

        inside = getattr(self._eager, "program", False)
        if inside:
            return call()
        self._eager.program = program
        try:
            start = time.perf_counter()
            out = call()
            jax.block_until_ready(out)
        finally:
            self._eager.program = False
        row = self.rows[self.key(name)]
        row["run"] += time.perf_counter() - start
        row["calls"] += 1
        return out

    def loading(self, name: str, call, loaded: bool):
        """Run ``call()`` (a Program's load, ``loaded``, or its compilation); count its
        kernels. Its seconds are not running time; a load's are the row's compile seconds (a
        compilation's come from JAX's events)."""
        from jaxmice._src.runtime.programs import kernel_counts

        start = time.perf_counter()
        out = call()
        elapsed = time.perf_counter() - start
        row = self.rows[name]
        row["run"] -= elapsed  # inside the Program's call, which timed_run counts as running
        if out is None:  # nothing stored for these shapes: the program is compiled next
            return out
        if loaded:
            row["loaded"] += 1
            row["compile"] += elapsed
        # a Program's load and compile give (executable, its size or estimated memory)
        kernels = kernel_counts(out[0] if isinstance(out, tuple) else out)
        row["fusions"] += kernels["fusions"]
        row["custom_calls"] += kernels["custom_calls"]
        return out

    def eager(self, call):
        """Run ``call()`` (an eager primitive) with its programs counted as eager ops."""
        self._eager.depth = getattr(self._eager, "depth", 0) + 1
        try:
            return call()
        finally:
            self._eager.depth -= 1

    def table(self) -> dict[str, dict[str, float]]:
        return {name: dict(row) for name, row in self.rows.items()}


def instrument(log: ProgramLog) -> None:
    """Listen to JAX's compile events and time every execution (the C++ fast path off)."""
    import jax
    from jax._src import dispatch, pjit
    from jax._src.interpreters import pxla

    jax.monitoring.register_event_duration_secs_listener(log.on_event)
    pjit._get_fastpath_data = lambda *args, **kwargs: None
    execute = pxla.ExecuteReplicated.__call__
    pxla.ExecuteReplicated.__call__ = (
        lambda self, *args: log.timed_run(self.name, lambda: execute(self, *args)))
    from jaxmice._src.runtime import programs

    call = programs.Program.__call__
    load, compile_ = programs.Program._load, programs.Program._compile
    programs.Program.__call__ = lambda self, *args, **kwargs: log.timed_run(
        self.fn.__name__, lambda: call(self, *args, **kwargs), program=True)
    programs.Program._load = lambda self, *args: log.loading(
        self.fn.__name__, lambda: load(self, *args), loaded=True)
    programs.Program._compile = lambda self, *args: log.loading(
        self.fn.__name__, lambda: compile_(self, *args), loaded=False)
    apply_primitive = dispatch.apply_primitive
    dispatch.apply_primitive = (
        lambda prim, *args, **params: log.eager(lambda: apply_primitive(prim, *args, **params)))


def job_popmis(quick: bool) -> None:
    """The README's main job (figures into a temporary folder)."""
    from jaxmice.case_studies import popmis

    with tempfile.TemporaryDirectory() as out:
        popmis.run(Path(out), m=3 if quick else 20, maxit=10, seed=1, progress=False,
                   quiet=True)


def job_2lpan2(quick: bool) -> None:
    """Issue 12's two-variable 2l.pan design, m = 5, maxit = 10 (``--quick``: 20 clusters)."""
    from generate import make_multilevel_two_missing

    import jaxmice as jm

    clusters = 20 if quick else 100
    df = make_multilevel_two_missing(200 * clusters, clusters, seed=1)
    pred = jm.make_predictor_matrix(df, cluster="cluster")
    pred.loc[:, "cluster"] = 0
    pred.loc[["y", "x1"], "cluster"] = -2
    imp = jm.mice(df, m=5, maxit=10, method={"y": "2l.pan", "x1": "2l.pan"},
                  predictor_matrix=pred, seed=1, progress=False)
    imp.complete("long")


def method_job(name: str):
    """A small data set for method ``name``: a column per kind it takes, about 30% missing
    (whole clusters for a cluster-level method); its predictor matrix and methods."""
    import numpy as np
    import pandas as pd

    import jaxmice as jm

    info = jm.available_methods()[name]
    rng = np.random.default_rng(1)
    clusters, size = 30, 20
    cluster = np.repeat(np.arange(clusters), size)
    x = rng.normal(size=cluster.size)
    df = pd.DataFrame(dict(g=cluster, x=x))
    targets = []
    for kind in sorted(info.kinds):
        signal = 0.5 * x + rng.normal(size=clusters)[cluster] + rng.normal(size=cluster.size)
        missing = rng.random(cluster.size) < 0.3
        if info.level == "cluster":
            signal = rng.normal(size=clusters)[cluster]
            missing = (rng.random(clusters) < 0.3)[cluster]
        if kind == "binary":
            values = pd.Series(pd.array((signal > 0).astype(int), dtype="Int64"))
        elif kind == "count":
            counts = rng.poisson(np.exp(0.3 * signal))
            if info.level == "cluster":  # one count per cluster
                counts = counts[np.unique(cluster, return_index=True)[1]][cluster]
            values = pd.Series(pd.array(counts, dtype="Int64"))
        elif kind in ("nominal", "ordinal"):
            codes = np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3]))
            values = pd.Series(pd.Categorical.from_codes(codes, ["a", "b", "c"],
                                                         ordered=kind == "ordinal"))
        else:
            values = pd.Series(signal)
        df[f"t_{kind}"] = values.mask(missing)
        targets.append(f"t_{kind}")
    pred = pd.DataFrame(0, index=df.columns, columns=df.columns)
    pred.loc[targets, "x"] = 1
    if info.needs_cluster:
        pred.loc[targets, "g"] = -2
    return df, pred, {"x": "", "g": ""} | {target: name for target in targets}


def job_methods(quick: bool, log: ProgramLog) -> dict[str, dict]:
    """Per method, its one-method job's program table (the log is cleared between methods)."""
    import jaxmice as jm

    tables = {}
    only = os.environ.get("JAXMICE_BENCH_METHODS")
    for name in sorted(jm.available_methods()):
        if only and name not in only.split(","):
            continue
        df, pred, method = method_job(name)
        log.rows.clear()
        try:
            counts = {t: "count" for t in df.columns if t == "t_count"}
            jm.mice(df, m=5, maxit=2, method=method, predictor_matrix=pred, seed=1,
                    progress=False, kinds=counts or None).complete(0)
        except Exception as exc:  # a method this generic job cannot feed is reported, not fatal
            print(f"{name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        tables[name] = log.table()
    return tables


def child(job: str, quick: bool) -> None:
    """Run one job instrumented; print its program tables as one line of JSON."""
    start = time.perf_counter()
    sys.path.insert(0, str(HERE))
    import jaxmice  # noqa: F401  (the import is part of the job's cost)

    imported = time.perf_counter()
    log = ProgramLog()
    instrument(log)
    if job == "methods":
        tables = job_methods(quick, log)
    else:
        {"popmis": job_popmis, "2lpan2": job_2lpan2}[job](quick)
        tables = {job: log.table()}
    import jax

    report(dict(import_s=imported - start, job_s=time.perf_counter() - imported,
                backend=jax.default_backend(), tables=tables))


# ----- the parent: three cold processes, tables, budgets --------------------------------------
def totals(table: dict[str, dict]) -> dict[str, float]:
    """Sum of every column over the programs of a table."""
    return {col: sum(row.get(col, 0) for row in table.values())
            for col in ("programs", "loaded", *STAGES, "calls", *KERNELS)}


def format_table(table: dict[str, dict], limit: int = 25) -> str:
    """The programs by trace + lower + compile + run seconds, largest first, and a total."""
    cost = {name: row["trace"] + row["lower"] + row["compile"] + row["run"]
            for name, row in table.items()}
    names = sorted(table, key=lambda n: -cost[n])
    lines = [f"{'program':<34}{'programs':>9}{'loaded':>7}{'trace':>8}{'lower':>8}"
             f"{'compile':>9}{'run':>8}{'calls':>7}{'fusions':>8}{'ccalls':>7}"]
    shown = names[:limit]
    rows = [(n, table[n]) for n in shown]
    if len(names) > limit:
        rest = {n: table[n] for n in names[limit:]}
        rows.append((f"({len(rest)} more)", totals(rest)))
    rows.append(("total", totals(table)))
    for name, row in rows:
        lines.append(f"{name[:33]:<34}{int(row['programs']):>9}{int(row['loaded']):>7}"
                     f"{row['trace']:>8.2f}"
                     f"{row['lower']:>8.2f}{row['compile']:>9.2f}{row['run']:>8.2f}"
                     f"{int(row['calls']):>7}{int(row.get('fusions', 0)):>8}"
                     f"{int(row.get('custom_calls', 0)):>7}")
    return "\n".join(lines)


def kernel_note(table: dict[str, dict]) -> str:
    """`` (name fusions/custom calls, ...)`` for the table's programs with kernels."""
    parts = [f"{name} {int(row['fusions'])}/{int(row['custom_calls'])}"
             for name, row in sorted(table.items()) if row.get("fusions") or
             row.get("custom_calls")]
    return f" ({', '.join(parts)})" if parts else ""


def over_budget(tables: dict[str, dict]) -> list[str]:
    """Methods whose job's trace + lower + compile seconds exceed their budget."""
    over = []
    for name, table in sorted(tables.items()):
        total = totals(table)
        spent = total["trace"] + total["lower"] + total["compile"]
        budget = BUDGETS.get(name, DEFAULT_BUDGET)
        flag = "OVER" if spent > budget else "ok"
        print(f"  {name:<16} {spent:6.2f} s of {budget:4.1f} s  ({int(total['programs'])} "
              f"programs)  {flag}")
        if spent > budget:
            over.append(name)
    return over


def main(argv: list[str] | None = None) -> int:
    """Run the job as fresh processes, print the program tables, check the budgets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", choices=("popmis", "2lpan2", "methods"), default="popmis")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", nargs="+", choices=RUN_KEYS, default=list(RUN_KEYS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-cache", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.job, args.quick)
        return 0

    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--job", args.job]
    cmd += ["--quick"] if args.quick else []
    env = child_env(own_cache_only=True)
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        for label, key, run_cmd, run_env in cold_run_plan(cmd, ["--no-cache"], env,
                                                          Path(tmp)):
            if key not in args.runs:
                continue
            wall, result = run_json(run_cmd, label, run_env)
            print(f"\n{label}: wall {wall:.1f} s, import {result['import_s']:.2f} s, job "
                  f"{result['job_s']:.1f} s")
            for name, table in result["tables"].items():
                if args.job != "methods" or os.environ.get("JAXMICE_BENCH_METHODS"):
                    print(format_table(table))
                total = totals(table)
                append_result(dict(
                    date=timestamp(), benchmark=f"compile_{args.job}_{key}_{name}",
                    rows="", cols="", m="", maxit="", r_seconds="",
                    jaxmice_seconds=f"{wall:.2f}", ratio="", platform=platform_name(),
                    jax_backend=result.get("backend", "unknown"),
                    note=(f"programs {int(total['programs'])} trace {total['trace']:.2f} "
                          f"lower {total['lower']:.2f} compile {total['compile']:.2f} run "
                          f"{total['run']:.2f} fusions {int(total['fusions'])} custom_calls "
                          f"{int(total['custom_calls'])}{kernel_note(table)}; load "
                          f"{os.getloadavg()[0]:.2f}"
                          + (" quick" if args.quick else ""))), args.results)
            if args.job == "methods" and key == "nocache":
                print("compile budgets (trace + lower + compile, no cache):")
                status = 1 if over_budget(result["tables"]) else status
    return status


if __name__ == "__main__":
    raise SystemExit(main())
