"""The benchmark harness shared by every job of ``benchmarks/bench.py`` and its children.

The one child protocol. A child is a fresh process the parent times from outside: a
``jm_*.py`` script, an ``r/*.R`` script, or a job module run with ``--child``. It prints
whatever it likes to stderr (progress, phase times; the parent echoes it indented) and its
result as **one JSON object on the last line of stdout** (:func:`report` in Python,
``cat(toJSON(...))`` or ``cat(sprintf("{...}"))`` in R). The parent runs it with
:func:`run_json` (or :func:`run_json_repeats`), which returns the wall seconds and that object,
and raises :class:`RuntimeError` when the child fails or prints no JSON. The one command timed
from outside that is not a child is the product itself, ``python -m jaxmice.cli demo``
(:func:`time_process`).

- Cold and warm: :func:`time_cold_and_warm` runs a jaxmice child three times, cold without
  the compilation cache, filling an empty cache, and cold from that cache; each child also
  times a second, warm call itself (:func:`timed_calls` on the child's side).
- The compilation cache is switched off in one way only: ``JAXMICE_COMPILATION_CACHE=0``
  (:data:`NO_CACHE`, :func:`switch_off_compilation_cache`).
- The imputation jobs ``2lpan`` and ``2lbin`` share :func:`time_jaxmice`, :func:`means_note`,
  :func:`print_imputation_table` and :func:`record_imputation_results`.
- R: :func:`r_skip_reason` says why ``Rscript`` with the given packages cannot run.
- Results: :func:`append_result` appends a row with the columns :data:`FIELDS` to
  ``benchmarks/results/results.csv``, each with the checkout's ``commit`` and the ``versions``
  it ran under; :func:`fmt`, :func:`ratio`, :func:`platform_name`, :func:`timestamp` and
  :func:`jax_backend` fill it.

Only the standard library is imported here, so that a child's import time is jaxmice's own.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "results.csv"
FIELDS = [
    "date",
    "benchmark",
    "rows",
    "cols",
    "m",
    "maxit",
    "r_seconds",
    "jaxmice_seconds",
    "ratio",
    "platform",
    "jax_backend",
    "note",
    "commit",
    "versions",
]
# the one switch that keeps jaxmice from reading or writing JAX's persistent cache
NO_CACHE = {"JAXMICE_COMPILATION_CACHE": "0"}


# ----- the compilation cache -----------------------------------------------------------------
def switch_off_compilation_cache() -> None:
    """In a child, before jaxmice's first call: no persistent compilation cache."""
    os.environ.update(NO_CACHE)


def child_env(own_cache_only: bool = False) -> dict[str, str]:
    """Environment for a child process: this checkout first on ``PYTHONPATH``.

    Args:
        own_cache_only: drop a user's ``JAX_COMPILATION_CACHE_DIR`` and ``JAXMICE_CACHE_DIR``,
            so that jaxmice picks its own folder under ``XDG_CACHE_HOME`` (set per run by
            :func:`time_cold_and_warm`).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if own_cache_only:
        for name in ("JAX_COMPILATION_CACHE_DIR", "JAXMICE_CACHE_DIR",
                     "JAXMICE_COMPILATION_CACHE"):
            env.pop(name, None)
    return env


# ----- the child protocol --------------------------------------------------------------------
def report(result: dict) -> None:
    """In a child: print its result, one JSON object on the last line of stdout."""
    sys.stdout.flush()
    print(json.dumps(result, default=str), flush=True)


def _run(cmd: list[str], env: dict[str, str] | None) -> tuple[float, int, str]:
    """Run ``cmd`` from the repository root, echoing its stderr indented as it comes; return
    its wall seconds, exit status and stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=REPO)

    def echo() -> None:
        for line in proc.stderr:
            print(f"    {line.rstrip()}", file=sys.stderr, flush=True)

    echoing = threading.Thread(target=echo, daemon=True)
    echoing.start()
    stdout = proc.stdout.read()
    status = proc.wait()
    elapsed = time.perf_counter() - start
    echoing.join()
    return elapsed, status, stdout


def run_json(cmd: list[str], label: str, env: dict[str, str] | None = None) -> tuple[float, dict]:
    """Run a child as a fresh process; return its wall time and the JSON it printed last.

    The child's stderr is echoed indented as it comes.

    Raises:
        RuntimeError: the child failed or its last stdout line is not a JSON object.
    """
    print(f"  {label}: {' '.join(Path(c).name for c in cmd)}", file=sys.stderr, flush=True)
    elapsed, status, stdout = _run(cmd, env)
    lines = stdout.strip().splitlines()
    if status != 0 or not lines:
        raise RuntimeError(f"{label} exited with status {status}")
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"{label}: the last line of stdout is not JSON: {lines[-1][:200]}"
                           ) from exc
    if not isinstance(result, dict):
        raise RuntimeError(f"{label}: the last line of stdout is not a JSON object")
    return elapsed, result


def run_json_repeats(
    cmd: list[str], repeats: int, label: str, env: dict[str, str] | None = None
) -> tuple[float, list[dict]]:
    """Run a child ``repeats`` times; return the median wall time and every run's JSON."""
    walls, results = [], []
    for i in range(repeats):
        wall, result = run_json(cmd, f"{label} run {i + 1}/{repeats}", env)
        walls.append(wall)
        results.append(result)
    return statistics.median(walls), results


def time_process(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Run a command that is not a child (the jaxmice CLI) and return its wall seconds.

    Its stderr is echoed indented as it comes; its stdout is dropped.

    Raises:
        RuntimeError: the command failed.
    """
    elapsed, status, _ = _run(cmd, env)
    if status != 0:
        raise RuntimeError(f"{cmd[0]} exited with status {status}")
    return elapsed


# ----- cold and warm -------------------------------------------------------------------------
@dataclass(frozen=True)
class ColdRun:
    """One jaxmice child process: ``key`` is ``nocache``, ``fill`` or ``cached``."""

    label: str
    key: str
    wall: float
    report: dict


def cold_run_plan(
    cmd: list[str], no_cache_flag: Sequence[str], env: dict[str, str], cache_home: Path
) -> list[tuple[str, str, list[str], dict[str, str]]]:
    """The three cold runs: no cache; filling an empty cache; cold from that cache.

    Args:
        cmd: the jaxmice child's command (a ``jm_*.py`` script and its arguments).
        no_cache_flag: the child's option that switches the cache off (``["--no-cache"]``).
        env: the child environment (see :func:`child_env` with ``own_cache_only``).
        cache_home: a fresh folder for ``XDG_CACHE_HOME``: jaxmice's cache goes under it.

    Returns:
        ``(label, key, command, environment)`` per run, in the order they must run.
    """
    cache_env = dict(env, XDG_CACHE_HOME=str(cache_home))
    return [
        ("jaxmice cold, no cache", "nocache", [*cmd, *no_cache_flag], dict(env, **NO_CACHE)),
        ("jaxmice filling an empty cache", "fill", cmd, cache_env),
        ("jaxmice cold, cached", "cached", cmd, cache_env),
    ]


def time_cold_and_warm(
    cmd: list[str], env: dict[str, str], cache_home: Path,
    no_cache_flag: Sequence[str] = ("--no-cache",),
) -> tuple[list[ColdRun], list[str]]:
    """Run the jaxmice child cold without cache, filling a cache and cold from it.

    Each child reports its own warm (second) call in its JSON. A failed child is reported and
    skipped.

    Returns:
        The runs that succeeded, and a note per failed run.
    """
    runs, failures = [], []
    for label, key, run_cmd, run_env in cold_run_plan(cmd, no_cache_flag, env, cache_home):
        try:
            wall, result = run_json(run_cmd, label, run_env)
        except RuntimeError as exc:
            print(f"warning: {exc}", file=sys.stderr)
            failures.append(f"{label} failed")
            continue
        runs.append(ColdRun(label, key, wall, result))
    return runs, failures


def timed_calls(impute: Callable, seed: int, maxit: int, phases: bool,
                targets: Sequence[str]) -> dict:
    """In an imputation child (``jm_2lpan.py``, ``jm_2lbin.py``): time its ``jm.mice`` calls.

    Args:
        impute: ``(seed, maxit) -> (call seconds, complete seconds, {target: mean imputed})``.
        seed: the first call's seed (the next calls take ``seed + 1``, ``seed + 2``).
        maxit: iterations of the full calls.
        phases: split a cold one-iteration call into compilation, set-up and seconds per
            iteration; else time a first and a warm call of ``maxit`` iterations.
        targets: the imputed columns.
    """
    out: dict = {}
    if phases:
        cold1, _, mean = impute(seed, 1)
        warm1, _, _ = impute(seed + 1, 1)
        warm_full, _, _ = impute(seed + 2, maxit)
        per_iteration = (warm_full - warm1) / (maxit - 1)
        out |= {
            "cold_maxit1": round(cold1, 3),
            "warm_maxit1": round(warm1, 3),
            "warm_maxit": round(warm_full, 3),
            "compile": round(cold1 - warm1, 3),
            "per_iteration": round(per_iteration, 4),
            "setup": round(warm1 - per_iteration, 3),
        }
        out |= {f"mean_imputed_{t}": value for t, value in mean.items()}
    else:
        first, first_complete, mean = impute(seed, maxit)
        warm, warm_complete, warm_mean = impute(seed + 1, maxit)
        out |= {
            "first_call": round(first, 3),
            "first_complete": round(first_complete, 3),
            "warm_call": round(warm, 3),
            "warm_complete": round(warm_complete, 3),
        }
        for target in targets:
            out[f"mean_imputed_{target}"] = mean[target]
            out[f"mean_imputed_{target}_warm"] = warm_mean[target]
    return out


def jax_backend(env: dict[str, str]) -> str:
    """Return the default JAX backend a fresh child process would use."""
    proc = subprocess.run(
        [sys.executable, "-c", "import jax; print(jax.default_backend())"],
        capture_output=True,
        text=True,
        env=env,
    )
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


# ----- the imputation jobs 2lpan and 2lbin: cold, cached, warm and phases --------------------
def whole_cold(wall: float, jj: dict) -> float:
    """Whole-process seconds of a jaxmice run less its second (warm) call."""
    return wall - jj["warm_call"] - jj["warm_complete"]


def jm_note(label: str, wall: float, jj: dict) -> str:
    """Phase times of one jaxmice process for the results note."""
    return (
        f"{label}: import {jj['import']:.2f} read {jj['read']:.2f} "
        f"first call {jj['first_call']:.2f} complete {jj['first_complete']:.2f} "
        f"warm call {jj['warm_call']:.3f} complete {jj['warm_complete']:.3f} (wall {wall:.2f})"
    )


def means_note(res: dict) -> str:
    """The imputed means on every side and the mean of the deleted values, per target."""
    parts = []
    for target, truth in res["truth"].items():
        means = ", ".join(f"{k} {v:.4g}" for k, v in res["means"][target].items())
        parts.append(f"mean imputed {target}: {means}; deleted values {truth:.3f}")
    return "; ".join(parts)


def time_jaxmice(jm_cmd: list[str], env: dict, cache: Path, res: dict, targets: Sequence[str],
                 args: argparse.Namespace) -> None:
    """Time the jaxmice side of one size into ``res``: cold without cache, cold from a filled
    cache, warm (median of their second calls) and, unless ``args.no_phases``, a ``--phases``
    process."""
    runs, failures = time_cold_and_warm(jm_cmd, env, cache)
    res["notes"].extend(failures)
    warm = []
    for run in runs:
        jj = run.report
        res[f"jm_{run.key}"] = whole_cold(run.wall, jj)
        res["backend"] = jj["backend"]
        res["notes"].append(jm_note(run.label, run.wall, jj))
        warm.append(jj["warm_call"])
    if warm:
        res["jm_warm"] = statistics.median(warm)
        res["notes"].append(f"warm: median of {[round(w, 3) for w in warm]}")
        for target in targets:
            add_jm_means(res["means"][target], [run.report for run in runs], target, args.seed)

    if not args.no_phases:
        try:
            _, pj = run_json(jm_cmd + ["--no-cache", "--phases"], "jaxmice --phases", env)
            res["phases"] = pj
            res["notes"].append(
                f"phases (no cache): compile {pj['compile']:.2f} setup {pj['setup']:.2f} "
                f"per iteration {pj['per_iteration']:.4f} (maxit=1 cold {pj['cold_maxit1']:.2f} "
                f"warm {pj['warm_maxit1']:.3f}; maxit={args.maxit} warm {pj['warm_maxit']:.3f})"
            )
        except RuntimeError as exc:
            print(f"warning: {exc}", file=sys.stderr)
            res["notes"].append("--phases failed")


def add_jm_means(means: dict[str, float], reports: list[dict], target: str, seed: int) -> None:
    """Add jaxmice's imputed means of ``target`` (first and warm call) to ``means``.

    Every process uses the same seeds, so the means should agree to rounding; a spread
    between the processes above 1e-9 is added too.
    """
    firsts = [jj[f"mean_imputed_{target}"] for jj in reports]
    warm_means = [jj[f"mean_imputed_{target}_warm"] for jj in reports]
    means[f"jm (seed {seed})"] = firsts[0]
    means[f"jm warm (seed {seed + 1})"] = warm_means[0]
    spread = max(max(v) - min(v) for v in (firsts, warm_means))
    if spread > 1e-9:
        means["jm spread between processes"] = spread


def print_imputation_table(results: list[dict]) -> None:
    """Print the seconds of every side and the R / jaxmice ratios, then the details."""
    head = [
        "rows",
        "clusters",
        "R_s",
        "R_mice_s",
        "jm_cold_nocache_s",
        "R/jm",
        "jm_cold_cached_s",
        "R/jm",
        "jm_warm_s",
        "R_mice/jm",
        "jm_warm_s_per_1k_rows",
    ]
    body = []
    for res in results:
        r_whole, r_mice = res.get("r_whole"), res.get("r_mice")
        nocache, cached, warm = res.get("jm_nocache"), res.get("jm_cached"), res.get("jm_warm")
        per_k = warm / res["rows"] * 1000 if warm is not None else None
        cells = [
            str(res["rows"]),
            str(res["clusters"]),
            fmt(r_whole),
            fmt(r_mice),
            fmt(nocache),
            fmt(ratio(r_whole, nocache)),
            fmt(cached),
            fmt(ratio(r_whole, cached)),
            fmt(warm, 3),
            fmt(ratio(r_mice, warm)),
            fmt(per_k, 4),
        ]
        body.append([c or "-" for c in cells])
    widths = [max(len(row[k]) for row in [head, *body]) for k in range(len(head))]
    for row in [head, *body]:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print()
    for res in results:
        if "phases" in res:
            pj = res["phases"]
            print(
                f"{res['rows']} rows, jaxmice phases (no cache): compile {pj['compile']:.2f}s, "
                f"setup {pj['setup']:.3f}s, {pj['per_iteration']:.4f}s per iteration"
            )
        for target, truth in res["truth"].items():
            means = ", ".join(f"{k} {v:.4g}" for k, v in res["means"][target].items())
            print(f"{res['rows']} rows, mean imputed {target}: {means}; deleted values {truth:.3f}")


def record_imputation_results(results: list[dict], args: argparse.Namespace, prefix: str,
                              cols: int, standin: str | None = None) -> None:
    """Append three rows per size to ``args.results``: ``<prefix>_cold_nocache``,
    ``_cold_cached`` (R's whole process against jaxmice's) and ``_warm`` (R's ``mice()``
    against the warm ``jm.mice`` call), with the size's notes (``standin`` first, if given)."""
    stamp, where = timestamp(), platform_name()
    for res in results:
        notes = ([standin] if standin else []) + list(res["notes"])
        for name, r_s, jm_s in [
            ("cold_nocache", res.get("r_whole"), res.get("jm_nocache")),
            ("cold_cached", res.get("r_whole"), res.get("jm_cached")),
            ("warm", res.get("r_mice"), res.get("jm_warm")),
        ]:
            digits = 3 if name == "warm" else 2
            append_result({
                "date": stamp,
                "benchmark": f"{prefix}_{name}",
                "rows": res["rows"],
                "cols": cols,
                "m": args.m,
                "maxit": args.maxit,
                "r_seconds": fmt(r_s, digits),
                "jaxmice_seconds": fmt(jm_s, digits),
                "ratio": fmt(ratio(r_s, jm_s)),
                "platform": where,
                "jax_backend": res.get("backend", "unknown"),
                "note": "; ".join(notes),
            }, args.results)
    print(f"appended {3 * len(results)} rows to {args.results}", file=sys.stderr)


# ----- R ---------------------------------------------------------------------------------------
def r_missing_reason(packages: Sequence[str]) -> str | None:
    """Say why ``Rscript`` with ``packages`` cannot be run, or return None when it can."""
    if shutil.which("Rscript") is None:
        return "Rscript not found"
    loads = "; ".join(f"library({p})" for p in packages)
    probe = subprocess.run(
        ["Rscript", "-e", f"suppressPackageStartupMessages({{{loads}}})"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"R package {' or '.join(packages)} not installed"
    return None


def r_skip_reason(no_r: bool, packages: Sequence[str]) -> str | None:
    """``--no-r`` or why R cannot run (printed as a note), or None to run R."""
    skip = "--no-r" if no_r else r_missing_reason(packages)
    if skip:
        print(f"note: skipping R {', '.join(packages)} ({skip})", file=sys.stderr)
    return skip


# ----- the results CSV -------------------------------------------------------------------------
def append_result(row: dict[str, object], path: Path = RESULTS) -> None:
    """Append one row to the results CSV, with the checkout's commit and the versions it ran
    under (and the date and platform, unless given); a file with an older header is rewritten
    with the current one first (its rows' new fields left empty). Every job writes its rows
    here."""
    row = dict(row)
    row.setdefault("date", timestamp())
    row.setdefault("platform", platform_name())
    row.setdefault("commit", commit())
    row.setdefault("versions", versions())
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames != FIELDS:
                old = list(reader)
                with path.open("w", newline="") as out:
                    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n",
                                            restval="", extrasaction="ignore")
                    writer.writeheader()
                    writer.writerows(old)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow(row)


def commit() -> str:
    """The checkout's commit (``-dirty`` with uncommitted changes), or empty outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("-dirty" if dirty else "")


def versions() -> str:
    """The versions a result ran under: Python, jax, jaxlib, numpyro, numpy, pandas."""
    from importlib import metadata

    found = [f"python {platform.python_version()}"]
    for package in ("jax", "jaxlib", "numpyro", "numpy", "pandas"):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    return "; ".join(found)


def fmt(value: float | None, digits: int = 2) -> str:
    """Format a number for the table and CSV; None becomes an empty string."""
    return "" if value is None else f"{value:.{digits}f}"


def ratio(r: float | None, jm: float | None) -> float | None:
    """``r / jm`` when both are known (above 1: jaxmice faster)."""
    return r / jm if r is not None and jm else None


def platform_name() -> str:
    """The ``platform`` column: system, machine and CPU count."""
    return f"{platform.system()} {platform.machine()} {os.cpu_count()} cpus"


def timestamp() -> str:
    """The ``date`` column: now, to the second."""
    return dt.datetime.now().isoformat(timespec="seconds")
